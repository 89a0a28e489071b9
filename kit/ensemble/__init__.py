"""Combining runs: members (``_members``), combiners behind one interface and ``build_ensemble``, greedy selection,
stacking, test-time augmentation, pseudo-labels, distillation and ``kit predict`` (``_predict``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_combine": ["Ensemble", "build_ensemble"],
        "_combiners": [
            "Combiner",
            "EqualWeights",
            "FittedWeights",
            "GivenWeights",
            "GreedySelection",
            "Stacked",
            "check_one_way",
            "cross_fitted",
            "fit_weights",
        ],
        "_distill": ["Distillation", "distill", "holdout_split", "soft_targets", "soft_training_dataset"],
        "_members": [
            "AUTO",
            "CROSS_FITTED",
            "EQUAL",
            "GIVEN",
            "SELECTED",
            "SELECTED_HONEST",
            "STACKED",
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
