"""Recipes: the checked :class:`Recipe` (``_load``), its types, pydantic schema, schedules, error wording, dotted keys
(``_keys``), JSON Schema and files (``_files``: search path, ``extends``, listing)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_backbone": ["BACKBONES", "Backbone", "BackboneSpec", "WeightsSource", "keras_cache", "weights_source"],
        "_files": ["find_recipe", "list_recipes", "load_recipe", "shipped_recipes"],
        "_jsonschema": ["recipe_json_schema"],
        "_keys": ["apply_overrides", "parse_set"],
        "_load": ["RECIPE_SUFFIX", "Recipe", "parse_recipe", "recipe_toml"],
        "_schema": ["AugmentSpec", "BatchNorm", "ConvBlock", "ModelSpec", "TrainSpec"],
    },
)
