"""Prompt expansion at generation time: a user's short prompt -> the detailed caption style a model was trained on.

One entry point for `patchflow generate --expand-prompt`, `Pipeline(..., expand_prompt=...)` and the server's
`expand_prompt` field. Which expander: a name ("world", "openai", "hf", built by `text/backends.get_expander`
with its options) or any object with `expand(prompt, seed)` (text/interfaces.py). `True` means the model's own
expander: "world" for a model trained on the built-in world (its captions are the world's caption style); a model
trained on a manifest of real footage has no built-in expander, so it must be told which one to use.
"""

from __future__ import annotations

from patchflow.text.interfaces import Expander

EXPANDER_NAMES = ("world", "openai", "hf")


def default_expander_name(trained_on_world: bool) -> str:
    if not trained_on_world:
        raise ValueError(
            "this model was trained on a manifest of real footage, so it has no built-in prompt expander; choose "
            "one: --expander openai --expander-url URL --expander-model NAME (a chat-completions server) or "
            "--expander hf --expander-model DIR (a local causal LM folder); in Python pass expand_prompt=<Expander>"
        )
    return "world"


def resolve_expander(expander: bool | str | Expander, *, trained_on_world: bool, **options) -> Expander:
    """True | a backend name | an Expander -> an Expander. `options` go to the named backend."""
    if isinstance(expander, Expander):
        return expander
    if expander is True:
        expander = default_expander_name(trained_on_world)
    if not isinstance(expander, str) or expander not in EXPANDER_NAMES:
        raise ValueError(f"unknown prompt expander {expander!r}: choose one of {', '.join(EXPANDER_NAMES)}, "
                         "or pass an object with expand(prompt, seed)")
    from patchflow.text.backends import get_expander

    return get_expander(expander, **options)


def expand_with(expander: Expander, prompt: str, seed: int) -> str:
    """`expander.expand`, checked: an empty expansion is an error, as sampling on it would silently ignore the
    user's prompt."""
    expanded = expander.expand(prompt, seed)
    if not expanded or not expanded.strip():
        raise ValueError(f"the prompt expander returned nothing for {prompt!r}; generate without --expand-prompt "
                         "or check the expander's model")
    return expanded.strip()


def expand_prompt(prompt: str, seed: int = 0, expander: bool | str | Expander = "world", *,
                  trained_on_world: bool = True, **options) -> str:
    """The detailed caption for `prompt`; the same (prompt, seed) gives the same text where the backend can
    promise it (world and local HF always)."""
    return expand_with(resolve_expander(expander, trained_on_world=trained_on_world, **options), prompt, seed)


__all__ = ["EXPANDER_NAMES", "default_expander_name", "expand_prompt", "expand_with", "resolve_expander"]
