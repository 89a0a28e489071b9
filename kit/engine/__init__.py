"""The only package that imports Keras and TensorFlow at module level: models, optimisers and callbacks (``_models``),
the epoch-addressable ``tf.data`` pipeline (``_pipeline``), its photo augmentations (``_photo``) and elastic
distortions (``_elastic``), per-epoch checkpoints (``_checkpoint``), snapshot ensembles (``_snapshots``), the
traced-model cache (``_modelcache``) and compiled inference (``_inference``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_backbones": [
            "ImageNetPreprocessing",
            "ToRGB",
            "backbone_stack",
            "build_backbone",
            "copy_backbone",
            "fetch_backbone",
            "find_backbone",
            "load_weights_file",
        ],
        "_checkpoint": ["EpochCheckpoint", "STATE_FILE", "clean_temporary", "resume_state"],
        "_finetune": [
            "BackbonePhases",
            "DiscriminativeRate",
            "discriminative",
            "fine_tuning_callbacks",
            "first_unfrozen",
            "phase_at",
            "prepare_fine_tuning",
            "set_phase",
        ],
        "_inference": ["PRECISIONS", "PROBE_ROWS", "Predictor", "compile_predictor"],
        "_modelcache": ["fold_model"],
        "_models": ["build_callbacks", "build_layers", "build_model", "learning_rate", "make_optimizer"],
        "_photo": [
            "check_images",
            "compose_transforms",
            "crop_transforms",
            "draw_photo_parameters",
            "flip_and_turn",
            "jitter_colours",
        ],
        "_pipeline": [
            "PhotoAugment",
            "affine_transforms",
            "apply_transforms",
            "augment_batch",
            "augmented_copy",
            "draw_parameters",
            "evaluation_dataset",
            "fit_on_pipeline",
            "make_augmenter",
            "photo_batch",
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
