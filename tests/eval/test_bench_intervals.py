"""Every bench pass rate carries its Wilson 95 % interval: the function matches hand-computed values, and
summary.json, summary.md, the `patchflow eval world` table and bench/world_table.py all show it."""

import importlib.util
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from patchflow.commands.eval_world import world
from patchflow.eval.intervals import interval_text, rate_with_interval, wilson_interval
from patchflow.eval.world_bench import BenchResult, SampleResult

spec = importlib.util.spec_from_file_location("world_table", Path(__file__).parents[2] / "bench" / "world_table.py")
world_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(world_table)


# Hand-computed: center = (p + z²/2n) / (1 + z²/n), half = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²), z = 1.96.
# 8/10: center = (0.8 + 0.19208) / 1.38416 = 0.71674, half = 1.41602 · sqrt(0.016 + 0.009604) = 0.22658.
# 0/5: center = half = 0.38416 / 1.76832 = 0.21725, so [0, 0.43449]; 5/5 mirrors it: [0.56551, 1].
@pytest.mark.parametrize("passed, judged, low, high", [(8, 10, 0.49016, 0.94332), (0, 5, 0.0, 0.43449),
                                                       (5, 5, 0.56551, 1.0)])
def test_wilson_interval_matches_hand_computed_values(passed, judged, low, high):
    got = wilson_interval(passed, judged)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_properties():
    assert wilson_interval(0, 0) is None and rate_with_interval(0, 0) == "n/a"
    for passed, judged in [(1, 3), (27, 46), (99, 100), (0, 1), (7, 7)]:
        low, high = wilson_interval(passed, judged)
        assert 0.0 <= low <= passed / judged <= high <= 1.0
    narrow, wide = wilson_interval(80, 100), wilson_interval(8, 10)
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2  # 10x the facts: about a third the width
    with pytest.raises(ValueError, match="must lie in"):
        wilson_interval(6, 5)
    assert rate_with_interval(8, 10) == "80.0% [49.0, 94.3]" and interval_text(8, 10) == "[49.0, 94.3]"


def sample(category: str, passed: int, judged: int) -> SampleResult:
    return SampleResult(id=f"{category}-0", category=category, text="a red ball", width=64, height=64, num_frames=17,
                        fps=8.0, seed=0, passed=passed, judged=judged, appearances=0, disappearances=0, failed=[],
                        skipped=0, generate_s=0.0)


def test_summary_and_markdown_carry_intervals_per_category_and_overall():
    result = BenchResult("v", "m", 0, 1, "first 1 per category", [sample("color", 8, 10), sample("pong", 0, 5)])
    summary = result.summary()
    assert (summary["categories"]["color"]["ci_low"], summary["categories"]["color"]["ci_high"]) == pytest.approx(
        (0.49016, 0.94332), abs=1e-4)
    assert summary["categories"]["pong"]["ci_low"] == 0.0
    assert (summary["passed"], summary["judged"]) == (8, 15)
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx(wilson_interval(8, 15))
    md = result.markdown()
    assert "| color | 1 | 8/10 | 80.0% [49.0, 94.3] |" in md
    assert f"**{rate_with_interval(8, 15)}**" in md


def cli():
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_cli_table_prints_each_rate_with_its_interval(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--category", "color", "--category",
                                        "pong", "--n-per-category", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "summary.json").read_text())
    assert set(data["categories"]) == {"color", "pong"} and data["n_per_category"] == 2
    for c in data["categories"].values():
        assert rate_with_interval(c["passed"], c["judged"]) in result.stdout
    assert rate_with_interval(data["passed"], data["judged"]) in result.stdout
    assert "[95% interval]" in (tmp_path / "summary.md").read_text()


def test_world_table_prints_intervals_and_names_columns_by_their_model(tmp_path, monkeypatch, capsys):
    summary = {"model": "world-truth through models/world-tiny/vae", "subset": "quick", "overall": 0.95,
               "categories": {"color": {"passed": 19, "judged": 20, "pass_rate": 0.95, "samples": 6}},
               "appearances_per_min": 0.0, "disappearances_per_min": 0.0}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    monkeypatch.setattr("sys.argv", ["world_table.py", str(path)])
    world_table.main()
    lines = capsys.readouterr().out.splitlines()
    assert "world-truth through models/world-tiny/vae (quick)" in lines[0]  # the column's name
    single = next(line for line in lines if line.startswith("| single object"))
    assert f"95.0% (19/20) ✓ {interval_text(19, 20)}" in single
    overall = next(line for line in lines if line.startswith("| **overall**"))
    assert f"**95.0%** ✓ {interval_text(19, 20)}" in overall  # issue 13: overall >= 75 %
