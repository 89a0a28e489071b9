"""``kit auto``: the best submission within a time budget — a portfolio of members trained on the same folds as
far as the time allows (``_portfolio``, ``_guard``), the combination re-chosen by honest score after each
(``_choose``), pseudo-label (threshold calibrated out of fold: ``_pseudo``) and TTA rounds where they pay (``_tta``),
all of it resumable (``_plan``: ``auto.json``)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_auto": ["auto"],
        "_budget": ["format_duration", "parse_duration"],
        "_choose": ["Choice", "WayScore", "choose_way", "paired_margin"],
        "_plan": ["AutoPlan", "AutoState", "MemberRow", "read_state"],
        "_portfolio": ["Candidate", "photo_portfolio", "pixel_portfolio", "portfolio_for"],
        "_pseudo": ["PseudoPlan", "plan_pseudo"],
        "_result": ["AutoResult"],
    },
)
