"""Kaggle through the official ``kaggle`` client: fetch a competition's (or a dataset's) files, submit, list.

The public face of the package; each job lives in its own module:

- :mod:`kit.kaggle.credentials` — the client, authenticated by its own credential lookup;
- :mod:`kit.kaggle.transport` — the one door to the client: retries (tenacity) and one-line errors;
- :mod:`kit.kaggle.services` — the thin per-domain operations (files, submissions) above the transport;
- :mod:`kit.kaggle.files` — :func:`fetch`: download, unzip, check against a spec or infer one;
- :mod:`kit.kaggle.submitting` — :func:`submit` (checked, waited for) and :func:`submissions`;
- :mod:`kit.kaggle._kernels` — :func:`build_kernel`: a code-competition kernel (notebook, models and wheels
  datasets) for an ensemble of runs; :mod:`kit.kaggle._bundle` — :func:`predict_kernel`, what the kernel runs;
- :mod:`kit.kaggle._push` — :func:`push_kernel`: the datasets and kernel onto Kaggle, its output back, submitted;
- :mod:`kit.kaggle._train` — :func:`train_kernel`: ``kit cv`` of a recipe on Kaggle's GPU, the run folder back.

Every call returns a frozen dataclass, reports progress only through ``callbacks`` (``on_phase``), never prints,
and fails with one :class:`kit.errors.KitError` line.
"""

from kit.kaggle._bundle import KernelPrediction, predict_kernel
from kit.kaggle._datasets import DatasetSync
from kit.kaggle._fetchdir import DATA_DIR
from kit.kaggle._follow import KERNEL_POLL
from kit.kaggle._kernels import KernelBuild, build_kernel
from kit.kaggle._push import KernelPush, KernelRun, push_kernel
from kit.kaggle._train import KernelTraining, train_kernel
from kit.kaggle.files import DataFile, FetchResult, check_data, fetch
from kit.kaggle.submitting import POLL, Poll, Submission, SubmissionList, SubmitResult, submissions, submit
from kit.kaggle.transport import RETRY, Retry

__all__ = [
    "DATA_DIR",
    "KERNEL_POLL",
    "POLL",
    "RETRY",
    "DataFile",
    "DatasetSync",
    "FetchResult",
    "KernelBuild",
    "KernelPrediction",
    "KernelPush",
    "KernelRun",
    "KernelTraining",
    "Poll",
    "Retry",
    "Submission",
    "SubmissionList",
    "SubmitResult",
    "build_kernel",
    "check_data",
    "fetch",
    "predict_kernel",
    "push_kernel",
    "submissions",
    "submit",
    "train_kernel",
]
