"""The world bench: the simulator scores >= 99%, wrong generators score lower where they are wrong,
a debug model runs through it, the summary files and contact sheets are written, and the command runs
the first 8 prompts of every category unless told otherwise. (Intervals: test_bench_intervals.py; the
quick subset: test_bench_quick.py; the VAE ceiling: test_vae_ceiling.py.)"""

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from patchflow.commands.eval_world import world
from patchflow.eval.world_bench import run_world_bench, truth_generator
from patchflow.eval.world_prompts import BENCH_VERSION, CATEGORIES, LONG_CATEGORY, PROMPTS, select
from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS
from patchflow.world.parser import parse_caption
from patchflow.world.render import render_scene
from patchflow.world.scene import complete


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "truth"
    return run_world_bench(truth_generator(), 2, out, progress=False, model="world-truth"), out


# ----------------------------------------------------------------------------- the prompt set


def test_prompt_set_is_valid_for_models_and_parser():
    assert BENCH_VERSION == "world-bench-v1"
    assert len({p.id for p in PROMPTS}) == len(PROMPTS)
    for p in PROMPTS:
        parse_caption(p.text)  # raises on a word outside the world's vocabulary
        assert p.width % 16 == 0 and p.height % 16 == 0, p
        assert (p.num_frames - 1) % 4 == 0, p
    for c in CATEGORIES:
        assert sum(p.category == c for p in PROMPTS) >= 8, c
    required = {"color", "shape", "size", "motion", "two_objects", "three_objects", "background", "collisions",
                "fall_bounce", "pillar", "paint", "pan", "pong", "framing", "durations", "images"}
    assert required <= set(CATEGORIES) and LONG_CATEGORY not in CATEGORIES
    framing = {(p.width > p.height, p.width == p.height) for p in select(8, categories=("framing",))}
    assert framing == {(True, False), (False, False), (False, True)}  # horizontal, vertical, square
    seconds = {p.num_frames / p.fps for p in select(8, categories=("durations",))}
    assert min(seconds) <= 1.2 and max(seconds) >= 8
    assert {p.num_frames / p.fps for p in select(8, long=True, categories=(LONG_CATEGORY,))} == {481 / 8}
    assert all(p.num_frames == 1 for p in select(8, categories=("images",)))


def test_select_takes_a_stable_prefix_per_category():
    small, large = select(1), select(3)
    assert {p.category for p in small} == set(CATEGORIES) and len(small) == len(CATEGORIES)
    assert set(small) <= set(large) and len(large) == 3 * len(CATEGORIES)
    assert not any(p.category == LONG_CATEGORY for p in large)
    assert any(p.category == LONG_CATEGORY for p in select(1, long=True))
    with pytest.raises(ValueError, match="unknown bench categories"):
        select(1, categories=("colour",))


# ----------------------------------------------------------------------------- the simulator is the ceiling


def test_world_truth_scores_at_least_99_percent_in_every_category(truth_run):
    result, _ = truth_run
    cats = result.categories()
    assert set(cats) == set(CATEGORIES)
    assert all(c.judged > 0 and c.samples == 2 for c in cats.values())
    assert result.overall >= 0.99
    assert min(c.pass_rate for c in cats.values()) >= 0.9
    summary = result.summary()
    assert summary["appearances_per_min"] == 0 and summary["disappearances_per_min"] == 0


def test_summary_files_and_contact_sheets_are_written(truth_run):
    result, out = truth_run
    data = json.loads((out / "summary.json").read_text())
    assert data["version"] == BENCH_VERSION and data["model"] == "world-truth"
    assert data["overall"] == pytest.approx(result.overall)
    assert len(data["samples"]) == 2 * len(CATEGORIES)
    assert data["categories"]["pong"]["judged"] == result.categories()["pong"].judged
    md = (out / "summary.md").read_text()
    assert "| **overall** |" in md and all(f"| {c} |" in md for c in CATEGORIES)
    for c in CATEGORIES:
        heights = [p.height for p in select(2, categories=(c,))]
        with Image.open(out / "sheets" / f"{c}.png") as sheet:
            # both samples stacked (tiles are at least the video's size), and not blank paper
            assert sheet.height >= sum(heights) and np.asarray(sheet).std() > 10


# ----------------------------------------------------------------------------- wrong generators score lower


def misrendered(change):
    """A generator that renders the prompt's scene with one fact changed by `change(spec) -> spec`."""
    def generate(prompt, width, height, num_frames, fps, seed):
        spec = change(complete(parse_caption(prompt), seed))
        return render_scene(spec, width, height, num_frames, fps, seed)[0]
    return generate


def other_background(spec):
    names = list(BACKGROUND_COLORS)
    return replace(spec, background=names[(names.index(spec.background) + 1) % len(names)])


def other_colors(spec):
    names = list(OBJECT_COLORS)  # a shift by 3 keeps 1-3 objects' colours distinct and all different
    objects = tuple(replace(o, color=names[(names.index(o.color) + 3) % len(names)]) for o in spec.objects)
    return replace(spec, objects=objects, paint=None)


def square_cropped(prompt, width, height, num_frames, fps, seed):
    """A model trained on square crops: the square scene of the long side, cut to the asked size."""
    side = max(width, height)
    frames = render_scene(complete(parse_caption(prompt), seed), side, side, num_frames, fps, seed)[0]
    top, left = (side - height) // 2, (side - width) // 2
    return frames[:, top:top + height, left:left + width]


def test_wrong_background_fails_the_background_category_only(tmp_path, truth_run):
    truth = truth_run[0].categories()
    result = run_world_bench(misrendered(other_background), 2, tmp_path, progress=False,
                             categories=("background", "color"))
    cats = result.categories()
    assert cats["background"].pass_rate <= truth["background"].pass_rate - 0.2
    wrong = [s for s in result.samples if s.category == "background"]
    assert all(any(f["name"] == "background" for f in s.failed) for s in wrong)
    assert cats["color"].pass_rate == truth["color"].pass_rate  # colour prompts state no background


def test_wrong_colors_fail_the_color_category(tmp_path, truth_run):
    truth = truth_run[0].categories()
    result = run_world_bench(misrendered(other_colors), 2, tmp_path, progress=False, categories=("color",))
    assert result.categories()["color"].pass_rate <= truth["color"].pass_rate - 0.3
    assert all(any(f["name"].endswith(".color") for f in s.failed) for s in result.samples)


def test_square_crops_fail_the_framing_category(tmp_path, truth_run):
    truth = truth_run[0].categories()
    result = run_world_bench(square_cropped, 2, tmp_path, progress=False, categories=("framing",))
    failed = [f["name"] for s in result.samples for f in s.failed]
    assert any(name.startswith("framing[") for name in failed), failed
    assert result.categories()["framing"].pass_rate < truth["framing"].pass_rate


# ----------------------------------------------------------------------------- a real (untrained) model


def test_debug_model_runs_through_the_bench_and_scores_low(tmp_path):
    import torch

    from patchflow.eval.world_bench import pipeline_generator
    from patchflow.models.dit import DiT
    from patchflow.models.vae import CausalVAE
    from patchflow.pipeline import Pipeline
    from patchflow.recipes import get_recipe
    from patchflow.text import TextEncoder

    torch.manual_seed(0)
    cfg = get_recipe("debug")
    model_dir = Pipeline(CausalVAE(cfg.vae).eval(), DiT(cfg.dit).eval(), TextEncoder(cfg.text), cfg).save_pretrained(
        tmp_path / "debug-model")
    start = time.perf_counter()
    # A video, an image and pong: every output shape the bench asks of a model, in seconds on a CPU.
    result = run_world_bench(pipeline_generator(model_dir, steps=2, guidance=1.0), 1, tmp_path / "bench",
                             progress=False, categories=("color", "images", "pong"), model=str(model_dir))
    assert time.perf_counter() - start < 60
    assert result.overall < 0.5  # an untrained model draws no world objects
    assert [s.id for s in result.samples] == ["color-0", "images-0", "pong-0"]
    assert (tmp_path / "bench" / "summary.json").is_file()
    assert sorted(p.name for p in (tmp_path / "bench" / "sheets").iterdir()) == ["color.png", "images.png",
                                                                                   "pong.png"]


# ----------------------------------------------------------------------------- the command


def cli():
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_cli_world_truth_prints_json_numbers(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--n-per-category", "1", "--json",
                                        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"] >= 0.99 and set(data["categories"]) == set(CATEGORIES)
    assert (tmp_path / "summary.md").is_file()


def test_cli_defaults_to_eight_prompts_per_category(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--category", "framing", "--json",
                                        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_per_category"] == 8 and data["subset"] == "first 8 per category"
    assert data["categories"]["framing"]["samples"] == 8


def test_cli_missing_model_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "does not exist" in " ".join(result.output.split())
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli(), ["world", "--model", str(empty), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "model_index.json" in " ".join(result.output.split())
