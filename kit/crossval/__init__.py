"""Cross-validation: one fold (``_fold``), the folds of a run and their resume (``_run``), where folds train — here,
joblib processes or Dask (``_runners``, ``_cluster``), the run folder and its one writer (``_rundir``, schema in
``_summary``), the typed view of a finished run (``_results``), its fold models and ``kit.infer`` (``_infer``) and its
report (``_report``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_summary": ["DataShape", "FoldSummary", "RunIdentity", "Summary", "parse_summary"],
        "_cluster": [
            "connect",
            "dask_folds",
            "gpu_devices_present",
            "local_gpu_cluster",
            "prepare_workers",
            "visible_gpus",
        ],
        "_fold": ["FoldJob", "train_fold"],
        "_infer": ["Inference", "infer", "load_fold_models"],
        "_report": ["confident_errors", "confident_errors_figure", "png_bytes", "write_report"],
        "_results": ["CVResult", "FoldScore", "RunInfo", "list_runs", "load_run"],
        "_run": ["fold_splits", "run_cv"],
        "_rundir": ["FoldResult", "RUNS_DIR", "SUMMARY", "RunFolder", "RunLock", "prepare_out"],
        "_runnames": ["DEMO_LABEL", "default_run_dir", "resolve_run", "run_label"],
        "_runners": ["AUTO_MIN_IMAGE_EPOCHS", "auto_jobs"],
    },
)
