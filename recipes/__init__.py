"""Recipes: Python functions that return a full `patchflow.config.Config`.

`get_recipe("debug")` looks the name up in this package: a module `recipes/<name>.py`
that defines a function of the same name.
"""

from __future__ import annotations

import importlib
import pkgutil

from patchflow.config import Config, ConfigError


def available() -> list[str]:
    import recipes

    return sorted(m.name for m in pkgutil.iter_modules(recipes.__path__) if not m.name.startswith("_"))


def get_recipe(name: str) -> Config:
    if name not in available():
        raise ConfigError(f"unknown recipe {name!r}; available recipes: {', '.join(available())}")
    module = importlib.import_module(f"recipes.{name}")
    return getattr(module, name)()
