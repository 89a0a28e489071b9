"""kit.ensemble._members."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_combine": ["build_ensemble"],
        "_distill": ["Distillation", "distill", "holdout_split", "soft_targets", "soft_training_dataset"],
        "_members": [
            "CROSS_FITTED",
            "EQUAL",
            "SELECTED",
            "SELECTED_HONEST",
            "STACKED",
            "cross_fitted",
            "fit_weights",
            "load_member",
            "parse_weights",
            "soft_vote",
        ],
        "_predict": ["Prediction", "predict"],
        "_pseudo": ["confident_rows", "pseudo_rows"],
        "_selection": ["greedy_counts", "select_runs"],
        "_tta": ["with_tta"],
    },
)
