"""The `patchflow` command: world, data, vae, train, generate, eval, demo.

Each group lives in patchflow/commands/<group>.py; this file only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="patchflow",
    help="Video generation as world simulation: causal 3D VAE, spacetime-patch DiT, rectified flow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (module, name): a module exposes `app` (a group) or `command` (a single command).
GROUPS = [("world", "world"), ("data", "data"), ("vae", "vae"), ("eval", "eval"), ("caption", "caption")]
COMMANDS = [("train", "train"), ("generate", "generate"), ("demo", "demo"), ("serve", "serve")]
# Commands that join a group from a module of their own: (group module, command name, module, function).
GROUP_COMMANDS = [("data", "encode", "data_encode", "encode"), ("data", "caption", "data_caption", "caption_command"),
                  ("eval", "world", "eval_world", "world")]

for module_name, name in GROUPS:
    module = importlib.import_module(f"patchflow.commands.{module_name}")
    app.add_typer(module.app, name=name)
for group, name, module_name, function in GROUP_COMMANDS:
    group_app = importlib.import_module(f"patchflow.commands.{group}").app
    group_app.command(name=name)(getattr(importlib.import_module(f"patchflow.commands.{module_name}"), function))
for module_name, name in COMMANDS:
    module = importlib.import_module(f"patchflow.commands.{module_name}")
    app.command(name=name)(module.command)


def main() -> None:
    app()
