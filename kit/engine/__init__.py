"""The only package that imports Keras and TensorFlow at module level: models, optimisers and callbacks (``_models``),
the epoch-addressable ``tf.data`` pipeline (``_pipeline``), per-epoch checkpoints (``_checkpoint``), snapshot
ensembles (``_snapshots``), the traced-model cache (``_modelcache``) and compiled inference (``_inference``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_checkpoint": ["EpochCheckpoint", "STATE_FILE", "clean_temporary", "resume_state"],
        "_inference": ["PRECISIONS", "PROBE_ROWS", "Predictor", "compile_predictor"],
        "_modelcache": ["fold_model"],
        "_models": ["build_callbacks", "build_layers", "build_model", "learning_rate", "make_optimizer"],
        "_pipeline": [
            "affine_transforms",
            "apply_transforms",
            "augment_batch",
            "augmented_copy",
            "draw_parameters",
            "evaluation_dataset",
            "fit_on_pipeline",
            "make_augmenter",
            "stream_seed",
            "training_dataset",
            "validation_dataset",
            "without_autotune",
        ],
        "_snapshots": [
            "Snapshot",
            "SnapshotKeeper",
            "averaged_weights",
            "cycle_ends",
            "finished_snapshots",
            "load_snapshot",
            "save_snapshot",
            "snapshot_path",
            "vote",
        ],
    },
)
