"""`--quick` runs the fixed quick subset: exactly QUICK_IDS, every category, and the very samples (ids, seeds,
sizes, results) that the full run makes for those ids."""

import json

import typer
from typer.testing import CliRunner

from patchflow.commands.eval_world import world
from patchflow.eval.world_bench import run_world_bench, truth_generator
from patchflow.eval.world_prompts import CATEGORIES, PROMPTS, QUICK_IDS, select, select_quick


def test_quick_ids_are_a_fixed_spread_over_every_category():
    assert len(set(QUICK_IDS)) == len(QUICK_IDS)
    assert [p.id for p in select_quick()] == list(QUICK_IDS)  # set order, nothing added or dropped
    assert {p.category for p in select_quick()} == set(CATEGORIES)
    full = {p.id: p for p in select(8)}
    assert all(full[p.id] == p for p in select_quick())  # same text, size, frames and seed offset
    assert len(QUICK_IDS) < len(full)
    framing = {(p.width > p.height, p.width == p.height) for p in select_quick(("framing",))}
    assert len(framing) == 3  # vertical, horizontal and square
    assert [p.category for p in select_quick(("pong", "images"))] == ["pong"] * 5 + ["images"] * 8
    assert {p.id for p in PROMPTS} >= set(QUICK_IDS)


def test_quick_run_makes_the_full_runs_samples_for_its_ids(tmp_path):
    calls = []

    def recording(prompt, width, height, num_frames, fps, seed):
        calls.append((prompt, width, height, num_frames, fps, seed))
        return truth(prompt, width, height, num_frames, fps, seed)

    truth = truth_generator()
    quick = run_world_bench(recording, 8, tmp_path / "quick", seed=5, progress=False, quick=True)
    quick_calls, calls[:] = list(calls), []
    full = run_world_bench(recording, 8, tmp_path / "full", seed=5, progress=False)
    assert [s.id for s in quick.samples] == list(QUICK_IDS)
    full_calls = dict(zip([s.id for s in full.samples], calls, strict=True))
    assert quick_calls == [full_calls[i] for i in QUICK_IDS]  # what the generator was asked: identical
    by_id = {s.id: s for s in full.samples}
    for s in quick.samples:
        f = by_id[s.id]
        assert (s.seed, s.width, s.height, s.num_frames, s.text) == (f.seed, f.width, f.height, f.num_frames, f.text)
        assert (s.passed, s.judged, s.failed) == (f.passed, f.judged, f.failed)
    summary = quick.summary()
    assert summary["subset"] == "quick" and summary["n_per_category"] is None
    assert full.summary()["subset"] == "first 8 per category"


def cli():
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_cli_quick_writes_the_quick_subset_and_refuses_long(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--quick", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["subset"] == "quick"
    data = json.loads((tmp_path / "summary.json").read_text())
    assert [s["id"] for s in data["samples"]] == list(QUICK_IDS) and data["overall"] >= 0.99
    assert "quick" in (tmp_path / "summary.md").read_text()
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--quick", "--long", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no 60 s samples" in " ".join(result.output.split())
