"""bench/ablate.py trains an arm to its budget (steps, FLOPs or minutes), scores it and appends one row;
bench/ablate_table.py prints the rows."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import ablate  # noqa: E402
import ablate_table  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The debug recipe on 8 world samples of one size, and where the arms go."""
    root = tmp_path_factory.mktemp("ablate")
    overrides = ["world.n=8", 'world.sizes=["32x32"]', "world.frames=[1,9]", "data.buckets.max_batch=2",
                 f"data.cache_dir={root}/data", "train.tensorboard=false", "train.log_every=1",
                 "train.warmup_steps=1", "train.ckpt_every=0", "train.val_samples=2"]
    return root, [arg for o in overrides for arg in ("--set", o)]


def arm(root, sets, name, *budget):
    return ablate.main(["--name", name, "--recipe", "debug", *sets, *budget, "--runs", str(root / "runs"),
                        "--out", str(root / "arms.jsonl"), "--probe-steps", "2"])


def test_an_arm_trains_its_steps_and_records_losses_tokens_flops_and_the_quick_bench(tiny):
    root, sets = tiny
    row = arm(root, [*sets, "--set", "flow.prediction=x", "--category", "color"], "xpred", "--steps", "3")
    assert row["steps"] == row["planned_steps"] == 3 and not row["stopped_early"]
    assert row["overrides"][-1] == "flow.prediction=x" and row["budget"] == {"kind": "steps", "value": 3}
    assert row["tokens"] > 0 and row["flops"] >= 6 * row["tokens"] * 1e4  # the DiT has > 1e4 weights a token
    bands = [row[f"val_loss_t{k}"] for k in range(4)]
    assert all(math.isfinite(b) for b in bands) and math.isclose(row["val_loss"], sum(bands) / 4, rel_tol=1e-6)
    bench = row["bench"]
    assert bench["subset"] == "quick" and set(bench["categories"]) == {"color"}
    assert 0 <= bench["overall"] <= 1 and bench["ci_low"] <= bench["overall"] <= bench["ci_high"]
    assert (Path(row["model"]) / "model_index.json").is_file()
    saved = json.loads((root / "arms.jsonl").read_text().splitlines()[-1])
    assert saved["name"] == "xpred" and saved["bench"] == bench
    with pytest.raises(SystemExit, match="exists"):  # an arm never trains on top of an old one
        arm(root, sets, "xpred", "--steps", "1")


@pytest.mark.parametrize("kind", ["flops", "minutes"])
def test_a_flop_or_time_budget_is_sized_by_a_probe_and_never_overrun_by_more_than_a_step(tiny, kind):
    root, sets = tiny
    budget = {"flops": 2.5e9, "minutes": 0.02}[kind]
    row = arm(root, [*sets, "--no-bench"], f"budget-{kind}", f"--{kind}", str(budget))
    assert row["budget"]["kind"] == kind and row["planned_steps"] >= 1 and "bench" not in row
    assert not (root / "runs" / f"budget-{kind}-probe").exists()  # the probe cleans up after itself
    spent = row["flops"] if kind == "flops" else row["train_minutes"]
    per_step = spent / row["steps"]
    assert spent - per_step < budget * 1.001  # it stopped at the step that reached the budget, or before
    assert row["stopped_early"] == (row["steps"] < row["planned_steps"])
    assert "val_loss" in row  # validation switched on for the last step


def test_the_table_shows_what_the_rows_have_and_sorts_best_first():
    def row(name, passed, val_loss, **extra):
        bench = {"passed": passed, "judged": 10, "overall": passed / 10, "appearances_per_min": 0.5,
                 "categories": {"color": {"passed": passed, "judged": 10}}}
        return {"name": name, "overrides": ["train.lr=1e-3", "train.vae_path=x"], "val_loss": val_loss,
                "bench": bench, **extra}

    rows = [row("a", 4, 0.2, steps=10, tokens=5e5, flops=1e14, budget={"kind": "flops", "value": 1e14}),
            row("b", 9, 0.3)]
    text = ablate_table.table(rows, categories=True)
    header = text.splitlines()[0]
    assert "PFLOP" in header and "color" in header and "| loss |" not in header  # no row has a training loss
    assert "train.vae_path" not in text and "`train.lr=1e-3`" in text
    assert "90.0% [59.6, 98.2]" in text and "| 0.1 |" in text
    rows.sort(key=ablate_table.SORTS["quick"])
    assert [r["name"] for r in rows] == ["b", "a"]


def test_a_curriculum_stage_starts_from_the_earlier_arm_and_counts_its_flops(tiny):
    from safetensors.torch import load_file

    root, sets = tiny
    first = arm(root, [*sets, "--no-bench"], "stage1", "--steps", "2")
    frozen = [*sets, "--set", "train.lr=1e-30", "--no-bench", "--init-from", first["model"]]  # nothing moves
    second = arm(root, frozen, "stage2", "--steps", "2")
    assert second["prior_flops"] == first["flops"] and second["init_from"] == first["model"]
    weights = "transformer/diffusion_pytorch_model.safetensors"
    before, after = load_file(Path(first["model"]) / weights), load_file(Path(second["model"]) / weights)
    assert all(torch.allclose(before[k], after[k], rtol=0, atol=1e-20) for k in before)
