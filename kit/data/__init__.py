"""Files to checked ``uint8`` image sets: pixel layouts (``_layouts``), checked CSV loading (``_load``), the embedded
demo digits (``_demo``) and ``kit init``'s inference of a competition spec from its files (``_infer``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_split": ["holdout_split"],
        "_rows": ["LazyRows", "RowReader", "join_rows", "memory_budget", "reader_of", "streams", "take_rows"],
        "_demo": ["write_demo_data"],
        "_demoimages": ["LAYOUTS", "DemoImages", "demo_images"],
        "_infer": ["infer_competition"],
        "_sets": ["has_test", "load_test", "load_train"],
        "_filelists": ["FileList", "is_image"],
        "_imageset": ["load_image_set", "test_files", "train_files"],
        "_load": [
            "DemoDataWarning",
            "ImageSet",
            "id_values",
            "label_indices",
            "load_extra",
            "read_images",
            "resolve_data_dir",
        ],
    },
)
