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
    "load_run": ("kit.crossval._results", "load_run"),
    "runs": ("kit.crossval._results", "list_runs"),
    "CVResult": ("kit.crossval._results", "CVResult"),
    "FoldScore": ("kit.crossval._results", "FoldScore"),
    "RunInfo": ("kit.crossval._results", "RunInfo"),
    "load_recipe": ("kit.recipes._files", "load_recipe"),
    "Recipe": ("kit.recipes._load", "Recipe"),
    "predict": ("kit.ensemble._predict", "predict"),
    "infer": ("kit.crossval._infer", "infer"),
    "Inference": ("kit.crossval._infer", "Inference"),
    "compile_predictor": ("kit.engine._inference", "compile_predictor"),
    "tune": ("kit.tuning._search", "run_tune"),
    "TuneResult": ("kit.tuning._search", "TuneResult"),
    "TrialScore": ("kit.tuning._trials", "TrialScore"),
    "TuneRole": ("kit.tuning._role", "TuneRole"),
    "BenchResult": ("kit.benchmark._result", "BenchResult"),
    "bench": ("kit.benchmark._bench", "run_bench"),
    "fetch": ("kit.kaggle", "fetch"),
    "submit": ("kit.kaggle", "submit"),
    "submissions": ("kit.kaggle", "submissions"),
    "distill": ("kit.ensemble._distill", "distill"),
    "pseudo_rows": ("kit.ensemble._pseudo", "pseudo_rows"),
    "score": ("kit.submission._scoring", "score_submission"),
    "init": ("kit.data._infer", "infer_competition"),
    "demo_data": ("kit.data._load", "write_demo_data"),
    "Callback": ("kit.utils._callbacks", "Callback"),
    "CallbackList": ("kit.utils._callbacks", "CallbackList"),
    "ProgressBar": ("kit.utils._callbacks", "ProgressBar"),
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
