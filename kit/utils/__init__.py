"""Small shared helpers below every package: checked atomic files (``_io``), threads, determinism, versions and scores
(``_runtime``), TensorFlow without its start-up lines (``_quiet``), progress callbacks (``_callbacks``) and MLflow
tracking as one of them (``_tracking``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_callbacks": ["Callback", "CallbackList", "ProgressBar", "as_callback_list"],
        "_io": ["load_array", "read_json", "save_array", "sha256_of", "write_bytes_atomic", "write_json"],
        "_renamed": ["renamed"],
        "_keys": [
            "MISSING",
            "dotted_key",
            "flatten_keys",
            "get_dotted",
            "join_key",
            "list_index",
            "merge_tables",
            "nest_keys",
            "set_dotted",
            "split_key",
            "table_child",
        ],
        "_quiet": ["native_stderr_silenced"],
        "_runtime": [
            "available_memory_mib",
            "cpu_has_bf16",
            "import_tensorflow",
            "prepare_tensorflow",
            "proc_mib",
            "resolve_precision",
            "software_versions",
            "usable_cores",
        ],
        "_toml": ["read_toml", "toml_comments", "toml_dumps", "toml_tidy", "toml_value"],
        "_tracking": [
            "MlflowTracker",
            "TrackingWarning",
            "run_tracked",
            "tracking_uri",
            "tracking_warnings_to",
            "warnings_to",
        ],
    },
)
