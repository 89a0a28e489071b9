"""The competition as data: the spec (``_spec``: files, columns, pixel layout, image shape, classes, submission,
metric), its TOML files checked with pydantic (``_specfile``) and finding a spec by name, path or data folder
(``_registry``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_metrics": ["CLIP", "METRICS", "METRIC_NAMES", "Metric", "get_metric", "is_metric_name", "softmax_scores"],
        "_thresholds": ["crossfit_qwk_thresholds", "expected_grade", "fit_qwk_thresholds", "grades_from_thresholds"],
        "_registry": [
            "COMPETITIONS",
            "as_competition",
            "find_competition_for",
            "get_competition",
            "known_competitions",
        ],
        "_spec": ["BESIDE_DATA", "Competition", "DEFAULT_COMPETITION", "ImageFiles", "PixelLayout", "class_values_of"],
        "_specfile": ["load_spec", "parse_spec", "spec_content", "spec_toml"],
    },
)
