"""kit.submission._format."""

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
    },
)
