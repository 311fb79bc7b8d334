import dataclasses

import pytest

from patchflow.config import Config, ConfigError, apply_override, from_json, to_json
from patchflow.recipes import available, get_recipe, resolve


def test_every_recipe_round_trips_through_json():
    for name in available():
        cfg = get_recipe(name)
        assert isinstance(cfg, Config)
        assert from_json(to_json(cfg)) == cfg


def test_override_sets_typed_values():
    cfg = resolve("debug", ["dit.depth=8", "flow.logit_std=2", "vae.mid_attention=true", "world.sizes=[\"64x64\"]"])
    assert cfg.dit.depth == 8
    assert cfg.flow.logit_std == 2.0 and isinstance(cfg.flow.logit_std, float)
    assert cfg.vae.mid_attention is True
    assert cfg.world.sizes == ["64x64"]


@pytest.mark.parametrize(
    "override, words",
    [
        ("dit.depht=8", "dit.depht"),
        ("nope.depth=8", "nope"),
        ("dit.depth=eight", "dit.depth"),
        ("dit.depth=1.5", "dit.depth"),
        ("vae.mid_attention=3", "vae.mid_attention"),
        ("dit.depth", "key.sub=value"),
        ("dit.depth.x=1", "dit.depth"),
    ],
)
def test_bad_override_names_the_key(override, words):
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        apply_override(get_recipe("debug"), override)


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ConfigError, match="debug"):
        get_recipe("no_such_recipe")


def test_unknown_key_in_json_is_an_error():
    d = dataclasses.asdict(get_recipe("debug"))
    d["train"]["stepz"] = 3
    import json

    with pytest.raises(ConfigError, match="train.stepz"):
        from_json(json.dumps(d))


@pytest.mark.parametrize(("overrides", "keys"), [
    (["vae.latent_channels=8"], ("dit.in_channels=4", "vae.latent_channels=8")),
    (["dit.text_dim=32"], ("dit.text_dim=32", "text.encoder")),
])
def test_sections_that_must_agree_are_checked_when_the_config_is_built(overrides, keys):
    with pytest.raises(ConfigError) as e:
        resolve("debug", overrides)
    assert all(key in str(e.value) for key in keys), str(e.value)
    resolve("debug", [*overrides, "dit.in_channels=8"] if "vae" in overrides[0] else ["dit.text_dim=384"])


def test_recipes_take_the_dit_sizes_from_their_preset():
    from patchflow.models.dit import PRESETS

    for name in available():
        dit = get_recipe(name).dit
        assert {k: getattr(dit, k) for k in PRESETS[dit.preset]} == PRESETS[dit.preset]
