"""``kit tune``: the ``[tune]`` space (``_space``), the KerasTuner hypermodel and tuners, trials, the tuning role, the
tuned recipe file and the search itself (``_search``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_hypermodel": ["RecipeHyperModel"],
        "_role": ["CHIEF", "TuneRole", "WORKER_ID_PATTERN", "kerastuner_environment"],
        "_search": ["SEARCH_RECORD", "TuneResult", "holdout_split", "run_tune"],
        "_space": ["parse_space"],
        "_trials": ["TrialScore", "brief"],
        "_tunedfile": ["recipe_reference", "toml_text", "tuned_recipe_text", "write_tuned_recipe", "written_by_kit"],
        "_tuners": ["DEFAULT_TUNER_ID", "TRIAL_RECORD"],
    },
)
