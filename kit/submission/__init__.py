"""Submissions: checked writing and reading of a submission CSV (``_format``) of every kind — labels, the
probability of class 1, one probability per class, the top k labels — from probabilities (``_kinds``) and checked
cell by cell (``_cells``), its sidecar — provenance, honest
scores, local score, Kaggle uploads — with one schema and one reader/writer (``_sidecar``), and ``kit score``
(``_scoring``, reading answers and predictions with ``_answers``), and the leaderboard of a submissions folder with
the one to upload marked (``_leaderboard``)."""

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
            "write_predictions",
            "write_submission",
        ],
        "_cells": ["id_key"],
        "_kinds": ["chosen_labels", "class_counts"],
        "_leaderboard": [
            "UPLOAD_RULE",
            "CompetitionBoard",
            "Leaderboard",
            "LeaderboardRow",
            "Verdict",
            "leaderboard",
            "score_noise",
            "verdict",
        ],
        "_scoring": ["answers", "has_answers", "score_submission"],
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
