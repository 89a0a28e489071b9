"""kit.recipes._load."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_jsonschema": ["recipe_json_schema"],
        "_keys": ["apply_overrides", "parse_set"],
        "_load": [
            "RECIPE_SUFFIX",
            "Recipe",
            "find_recipe",
            "list_recipes",
            "load_recipe",
            "parse_recipe",
            "recipe_toml",
            "shipped_recipes",
        ],
        "_schema": ["AugmentSpec", "BatchNorm", "ConvBlock", "ModelSpec", "TrainSpec"],
    },
)
