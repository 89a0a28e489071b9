"""kit: fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions."""

from kit.errors import KitError

__version__ = "0.1.0"
__all__ = ["KitError", "__version__"]
