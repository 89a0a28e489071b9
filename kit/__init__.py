"""kit: fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions.

The public face a notebook uses; every call returns a typed, frozen result and never prints::

    import kit
    result = kit.cv("demo", data="data/demo", epochs=1, folds=2)      # -> kit.CVResult
    result.oof_accuracy, result.oof.shape, result.folds[0].val_accuracy
    run = kit.load_run("runs/demo")                                     # any finished run folder

Names are imported on first use (PEP 562), so ``import kit`` is instant and never imports TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kit.errors import KitError
from kit.utils import _quiet as quiet

quiet.install()

__version__ = "0.1.0"

_LAZY = {
    "cv": ("kit.api", "cv"),
    "auto": ("kit.autopilot", "auto"),
    "AutoResult": ("kit.autopilot", "AutoResult"),
    "load_run": ("kit.crossval", "load_run"),
    "runs": ("kit.crossval", "list_runs"),
    "CVResult": ("kit.crossval", "CVResult"),
    "FoldScore": ("kit.crossval", "FoldScore"),
    "RunInfo": ("kit.crossval", "RunInfo"),
    "load_recipe": ("kit.recipes", "load_recipe"),
    "Recipe": ("kit.recipes", "Recipe"),
    "predict": ("kit.ensemble", "predict"),
    "build_kernel": ("kit.kaggle", "build_kernel"),
    "push_kernel": ("kit.kaggle", "push_kernel"),
    "train_kernel": ("kit.kaggle", "train_kernel"),
    "infer": ("kit.crossval", "infer"),
    "Inference": ("kit.crossval", "Inference"),
    "compile_predictor": ("kit.engine", "compile_predictor"),
    "tune": ("kit.api", "tune"),
    "TuneResult": ("kit.tuning", "TuneResult"),
    "TrialScore": ("kit.tuning", "TrialScore"),
    "TuneRole": ("kit.tuning", "TuneRole"),
    "BenchResult": ("kit.benchmark", "BenchResult"),
    "bench": ("kit.benchmark", "run_bench"),
    "fetch": ("kit.kaggle", "fetch"),
    "submit": ("kit.kaggle", "submit"),
    "submissions": ("kit.kaggle", "submissions"),
    "distill": ("kit.api", "distill"),
    "pseudo_rows": ("kit.ensemble", "pseudo_rows"),
    "score": ("kit.submission", "score_submission"),
    "leaderboard": ("kit.submission", "leaderboard"),
    "init": ("kit.api", "init"),
    "demo_data": ("kit.data", "write_demo_data"),
    "Callback": ("kit.utils", "Callback"),
    "CallbackList": ("kit.utils", "CallbackList"),
    "ProgressBar": ("kit.utils", "ProgressBar"),
}

__all__ = ["KitError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'kit' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
