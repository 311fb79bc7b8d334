"""Recipes: Python functions that return a full `patchflow.config.Config`, and `resolve` (recipe + overrides).

`get_recipe("debug")` looks the name up in this package: a module `patchflow/recipes/<name>.py`
that defines a function of the same name. The recipes live here, above `patchflow.config`, so the
schema imports no recipe and the dependency runs one way.
"""

from __future__ import annotations

import importlib
import pkgutil

from patchflow.config import Config, ConfigError, apply_overrides, check_config

# modules that define several recipes, named in their RECIPES dict (ladder.py: world_rung1 .. world_rung4)
MULTI_RECIPE_MODULES = ("ladder",)


def _named_recipes() -> dict:
    found = {}
    for module in MULTI_RECIPE_MODULES:
        found.update(importlib.import_module(f"{__name__}.{module}").RECIPES)
    return found


def available() -> list[str]:
    modules = [m.name for m in pkgutil.iter_modules(__path__)
               if not m.name.startswith("_") and m.name not in MULTI_RECIPE_MODULES]
    return sorted(modules + list(_named_recipes()))


def get_recipe(name: str) -> Config:
    if name not in available():
        raise ConfigError(f"unknown recipe {name!r}; available recipes: {', '.join(available())}")
    named = _named_recipes()
    if name in named:
        return named[name]()
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, name)()


def resolve(recipe: str, overrides: list[str] | None = None) -> Config:
    """Recipe by name, then overrides, then the cross-section checks: the config a run uses."""
    cfg = apply_overrides(get_recipe(recipe), overrides)
    check_config(cfg)
    return cfg
