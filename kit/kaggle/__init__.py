"""Kaggle through the official ``kaggle`` client: fetch a competition's (or a dataset's) files, submit, list.

The public face of the package; each job lives in its own module:

- :mod:`kit.kaggle.credentials` — the client, authenticated by its own credential lookup;
- :mod:`kit.kaggle.transport` — the one door to the client: retries (tenacity) and one-line errors;
- :mod:`kit.kaggle.services` — the thin per-domain operations (files, submissions) above the transport;
- :mod:`kit.kaggle.files` — :func:`fetch`: download, unzip, check against a spec or infer one;
- :mod:`kit.kaggle.submitting` — :func:`submit` (checked, waited for) and :func:`submissions`.

Every call returns a frozen dataclass, reports progress only through ``callbacks`` (``on_phase``), never prints,
and fails with one :class:`kit.errors.KitError` line.
"""

from kit.kaggle.files import DATA_DIR, DataFile, FetchResult, check_data, fetch
from kit.kaggle.submitting import POLL, Poll, Submission, SubmissionList, SubmitResult, submissions, submit
from kit.kaggle.transport import RETRY, Retry

__all__ = [
    "DATA_DIR",
    "POLL",
    "RETRY",
    "DataFile",
    "FetchResult",
    "Poll",
    "Retry",
    "Submission",
    "SubmissionList",
    "SubmitResult",
    "check_data",
    "fetch",
    "submissions",
    "submit",
]
