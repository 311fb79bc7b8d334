"""The difficulty ladder: each rung's world draws only what the rung holds, its texts stay true, its cache and
held-out set are its own, and the bench asks a rung's model only for what the rung shows."""

import dataclasses
import hashlib
import json
import random
import sys
import types

import pytest
from typer.testing import CliRunner

from patchflow.config import Config, DataConfig, WorldConfig, to_dict
from patchflow.eval.world_prompts import CATEGORIES, for_rung, rung_categories, select, select_quick
from patchflow.recipes import available, get_recipe, resolve
from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.ladder import RUNGS, get_rung, scene_limits, unshowable
from patchflow.world.make import make_dataset
from patchflow.world.parser import parse_caption
from patchflow.world.scene import FULL_WORLD, SceneSpec, sample_scene
from patchflow.world.source import RENDER_VERSION, ensure_world_manifest, world_hash

STRAIGHT = {"left", "right", "up", "down"}


def within(spec: SceneSpec, number: int) -> bool:
    """The spec holds only what rung `number` allows."""
    limits = get_rung(number).limits
    features = {"pong": spec.pong, "pillar": spec.pillar, "paint": spec.paint is not None, "pan": spec.pan is not None}
    return (all(f in limits.features for f, on in features.items() if on)
            and len(spec.objects) <= limits.max_objects and spec.background in limits.backgrounds
            and all(o.color in limits.colors and o.shape in limits.shapes and o.size in limits.sizes
                    and o.motion in limits.motions for o in spec.objects))


def test_a_rung_1_scene_is_one_object_moving_straight_on_navy():
    rng = random.Random(0)
    scenes = [sample_scene(rng, feature_prob=1.0, limits=scene_limits(1)) for _ in range(400)]
    assert all(len(s.objects) == 1 and s.objects[0].motion in STRAIGHT for s in scenes)
    assert all(s.background == "navy" and not (s.pong or s.pillar or s.paint or s.pan) for s in scenes)
    # every colour, shape, size and straight motion still occurs
    assert {s.objects[0].motion for s in scenes} == STRAIGHT
    assert len({(s.objects[0].color, s.objects[0].shape, s.objects[0].size) for s in scenes}) == 8 * 3 * 2


@pytest.mark.parametrize("number", sorted(RUNGS))
def test_each_rung_draws_only_what_it_holds_and_holds_the_rung_below(number):
    rng = random.Random(number)
    assert all(within(sample_scene(rng, 0.5, scene_limits(number)), number) for _ in range(300))
    if number > 1:
        below, here = get_rung(number - 1), get_rung(number)
        for field in dataclasses.fields(below.limits):
            low, high = getattr(below.limits, field.name), getattr(here.limits, field.name)
            assert low <= high if isinstance(low, int) else set(low) <= set(high), field.name
        assert set(below.sizes) <= set(here.sizes) and set(below.frames) <= set(here.frames)
        assert set(below.categories) < set(here.categories)
    assert get_rung(4).limits == FULL_WORLD  # the top rung is the whole world


def test_unknown_rungs_are_refused_with_the_choices():
    for bad in (-1, 5):
        with pytest.raises(ValueError, match="world.rung must be 0"):
            get_rung(bad)
    assert scene_limits(0) is None


def test_a_rung_dataset_keeps_its_limits_and_its_texts_stay_true(tmp_path):
    manifest = make_dataset(tmp_path / "w", 12, sizes=["32x32"], frames=[9], seed=3, quiet=True, rung=2)
    for line in manifest.read_text().splitlines():
        row = json.loads(line)
        truth = json.loads((manifest.parent / row["truth"]).read_text())
        spec = SceneSpec.from_dict(truth["spec"])
        assert within(spec, 2), spec
        caption, prompt = parse_caption(row["text"]), parse_caption(row["prompt"])
        (obj,) = spec.objects
        assert caption.background == spec.background and len(caption.objects) == 1
        said = caption.objects[0]
        assert (said.color, said.shape, said.size, said.motion) == (obj.color, obj.shape, obj.size, obj.motion)
        assert prompt.background in (None, spec.background) and prompt.count in (None, 1)
        for stated in prompt.objects:  # a prompt says part of the scene, and only true parts
            for name in ("color", "shape", "size", "motion"):
                assert getattr(stated, name) in (None, getattr(obj, name)), row["prompt"]
    with pytest.raises(ValueError, match="world.rung"):
        make_dataset(tmp_path / "bad", 1, sizes=["32x32"], frames=[1], quiet=True, rung=7)


def test_rung_texts_parse_inside_the_rung():
    rng = random.Random(5)
    for number in sorted(RUNGS):
        for _ in range(100):
            spec = sample_scene(rng, 0.5, scene_limits(number))
            rung = get_rung(number)
            width, height = (int(v) for v in rung.sizes[0].split("x"))
            for text in (make_caption(spec, rng), make_prompt(spec, rng)):
                assert unshowable(number, parse_caption(text), width, height, rung.frames[0]) is None, text


def test_the_cache_hash_changes_with_the_rung_and_not_for_the_full_world():
    hashes = {world_hash(WorldConfig(rung=k)) for k in (0, *RUNGS)}
    assert len(hashes) == 1 + len(RUNGS)
    # rung 0 is hashed as before the field existed: the caches already rendered keep their folders
    settings = {k: v for k, v in to_dict(WorldConfig()).items() if k != "rung"}
    before = hashlib.sha256(json.dumps({**settings, "render_version": RENDER_VERSION}, sort_keys=True)
                            .encode()).hexdigest()[:16]
    assert world_hash(WorldConfig()) == before


def test_the_world_source_renders_a_rung_into_a_folder_of_its_own(tmp_path, monkeypatch):
    calls = []

    def make_dataset(out_dir, n, sizes, frames, fps, seed, feature_prob=0.15, **rung):
        calls.append(rung)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "manifest.jsonl").write_text(json.dumps({"path": "v.mp4", "text": "a red ball"}) + "\n")
        return out_dir / "manifest.jsonl"

    module = types.ModuleType("patchflow.world.make")
    module.make_dataset = make_dataset
    monkeypatch.setitem(sys.modules, "patchflow.world.make", module)
    cfg = Config(world=WorldConfig(n=2, sizes=["32x32"], frames=[9]), data=DataConfig(cache_dir=str(tmp_path)))
    full = ensure_world_manifest(cfg)
    cfg.world.rung = 1
    rung_1 = ensure_world_manifest(cfg)
    assert full.parent != rung_1.parent and calls == [{}, {"rung": 1}]


def test_the_held_out_set_of_a_rung_is_drawn_from_the_rung():
    from patchflow.train.validation import heldout_world_captioned

    cfg = resolve("debug", ["world.rung=1", 'world.sizes=["32x32"]', "world.frames=[9]"])
    for _, caption in heldout_world_captioned(cfg, 4):
        facts = parse_caption(caption)
        assert facts.background == "navy" and len(facts.objects) == 1 and facts.objects[0].motion in STRAIGHT


def test_rung_recipes_are_world_tiny_on_the_rung_world():
    tiny = get_recipe("world_tiny")
    for number, rung in RUNGS.items():
        name = f"world_rung{number}"
        assert name in available()
        cfg = resolve(name)
        assert cfg.world.rung == number and cfg.world.sizes == list(rung.sizes)
        assert cfg.world.frames == list(rung.frames) == cfg.data.buckets.frames
        assert (cfg.vae, cfg.dit, cfg.flow, cfg.sample, cfg.text) == (tiny.vae, tiny.dit, tiny.flow, tiny.sample,
                                                                       tiny.text)
        assert cfg.train.lr == tiny.train.lr and cfg.train.out_dir != tiny.train.out_dir


def test_each_rung_scores_its_categories_on_what_its_world_shows():
    for number, rung in RUNGS.items():
        assert set(rung.categories) <= set(CATEGORIES) and rung_categories(number) == rung.categories
        quick = select_quick(rung=number)
        assert {p.category for p in quick} == set(rung.categories)  # every category keeps a prompt
        for p in select(8, rung=number):
            facts = parse_caption(p.text)
            assert f"{p.width}x{p.height}" in rung.sizes and p.num_frames in rung.frames, p.id
            assert len(facts.objects) <= rung.limits.max_objects and not (number < 4 and facts.pong), p.id
        if number > 1:  # a rung is asked for everything the rung below is asked for
            assert {p.id for p in select(8, rung=number - 1)} <= {p.id for p in select(8, rung=number)}
    resting = [p for p in select(8, categories=("motion",)) if "resting" in p.text]
    assert resting and for_rung(resting, 1) == [] and for_rung(resting, 2) == resting
    assert for_rung(select(8), 0) == select(8)


def eval_world_app():
    import typer

    from patchflow.commands.eval_world import world

    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_eval_world_rung_scores_the_rungs_prompts_and_the_truth_passes(tmp_path):
    args = ["world", "--model", "world-truth", "--quick", "--rung", "1", "--json", "--out", str(tmp_path)]
    result = CliRunner().invoke(eval_world_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rung"] == 1 and set(summary["categories"]) == set(get_rung(1).categories)
    assert sum(c["samples"] for c in summary["categories"].values()) == len(select_quick(rung=1))
    assert summary["overall"] >= 0.99  # the simulator itself passes what it shows
    bad = CliRunner().invoke(eval_world_app(), ["world", "--model", "world-truth", "--quick", "--rung", "9"])
    assert bad.exit_code != 0 and "world.rung must be 0" in bad.output
    empty = CliRunner().invoke(eval_world_app(), ["world", "--model", "world-truth", "--quick", "--rung", "1",
                                                  "--category", "pong"])
    assert empty.exit_code != 0 and "shows none" in empty.output
