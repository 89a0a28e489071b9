"""Submissions: checked writing and reading of a submission CSV (``_format``), its sidecar — provenance, honest
scores, local score, Kaggle uploads — with one schema and one reader/writer (``_sidecar``), and ``kit score``
(``_scoring``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_format": [
            "check_submission",
            "expected_ids",
            "read_checked_submission",
            "read_submission",
            "refuse_overwrite",
            "spec_ids",
            "write_submission",
        ],
        "_scoring": ["has_answers", "score_submission"],
        "_sidecar": [
            "KaggleEntry",
            "LocalScore",
            "Sidecar",
            "note_sidecar",
            "read_sidecar",
            "sidecar_path",
            "write_sidecar",
        ],
    },
)
