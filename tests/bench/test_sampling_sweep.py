"""bench/sampling_sweep.py: settings one knob at a time or as a grid, post-hoc EMA from raw snapshots, and a
sweep whose self-guided setting scores what the conditional model scores."""

import json
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_model_folder

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import sampling_sweep as sweep  # noqa: E402


def test_one_knob_at_a_time_around_the_base_or_every_combination():
    values = {"steps": [20, 10, 40], "sampler": ["euler", "heun"], "guidance": [4.0]}
    axes = sweep.settings(values, grid=False)
    assert axes[0] == {"steps": 20, "sampler": "euler", "guidance": 4.0} and len(axes) == 1 + 2 + 1
    assert all(sum(s[k] != axes[0][k] for k in values) == 1 for s in axes[1:])
    grid = sweep.settings(values, grid=True)
    assert len(grid) == 3 * 2 and len({tuple(s.values()) for s in grid}) == 6


def test_posthoc_ema_from_a_snapshot_at_every_step_is_the_exact_ema():
    decay, steps = 0.8, list(range(0, 13))
    shares = sweep.posthoc_weights(steps, decay)
    assert abs(sum(shares) - 1) < 1e-12 and all(s >= 0 for s in shares)
    thetas = [float(s) ** 1.5 for s in steps]  # any trajectory; snapshot 0 is the initial weights
    ema = thetas[0]
    for theta in thetas[1:]:
        ema = decay * ema + (1 - decay) * theta
    assert abs(sum(w * t for w, t in zip(shares, thetas, strict=True)) - ema) < 1e-9
    assert sweep.posthoc_weights([100, 200, 300], 0.0) == [0.0, 0.0, 1.0]  # decay 0: the newest raw weights
    # the first snapshot stands for every step before it and the initial weights: with a half-life longer than
    # the run (0.999: 693 steps) that is most of the average
    assert sweep.posthoc_weights([100, 200, 300], 0.999)[0] == pytest.approx(0.999**200)


def fake_run(root: Path, state: dict, steps: list[int], offsets: list[float]) -> Path:
    from patchflow.train.checkpoint import save_checkpoint

    for step, offset in zip(steps, offsets, strict=True):
        raw = {k: v + offset for k, v in state.items()}
        save_checkpoint(root, step, {"model": raw, "ema": raw}, {"step": step}, keep=0)
    return root


def test_posthoc_ema_reads_every_checkpoint_of_a_run(tmp_path):
    state = {"w": torch.zeros(3, 2), "b": torch.ones(2)}
    run = fake_run(tmp_path / "run", state, [10, 20, 30], [0.0, 1.0, 2.0])
    ema = sweep.posthoc_ema(run, 0.5)
    shares = sweep.posthoc_weights([10, 20, 30], 0.5)
    assert torch.allclose(ema["w"], torch.full((3, 2), shares[1] * 1.0 + shares[2] * 2.0))
    with pytest.raises(FileNotFoundError, match="--run"):
        sweep.posthoc_ema(tmp_path / "nothing", 0.5)


def test_a_sweep_writes_a_row_per_setting_and_self_guidance_scores_as_the_conditional_model(tmp_path):
    from safetensors.torch import load_file

    model = tiny_model_folder(tmp_path / "model", 0)
    state = load_file(model / "transformer" / "diffusion_pytorch_model.safetensors")
    run = fake_run(tmp_path / "run", state, [5, 10], [0.01, 0.02])
    out = tmp_path / "sweep.jsonl"
    rows = sweep.main(["--model", str(model), "--run", str(run), "--out", str(out), "--bench-dir",
                       str(tmp_path / "bench"), "--steps", "2", "--guidance", "3,1", "--interval", "0:1,0.5:1",
                       "--guide", f"none,{model}", "--weights", "ema,raw,posthoc:0.5", "--category", "images"])
    assert len(rows) == 1 + 1 + 1 + 1 + 2 and len(out.read_text().splitlines()) == len(rows)
    changed = [[k for k in sweep.KNOBS if r["knobs"][k] != rows[0]["knobs"][k]] for r in rows[1:]]
    assert changed == [["guidance"], ["interval"], ["guide"], ["weights"], ["weights"]]
    conditional = next(r for r in rows if r["knobs"]["guidance"] == 1.0)
    self_guided = next(r for r in rows if r["knobs"]["guide"] != "none")
    assert self_guided["bench"]["categories"] == conditional["bench"]["categories"]
    assert "sample.guidance_model=" + str(model) in self_guided["overrides"]
    saved = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in saved] == [r["name"] for r in rows]
    assert all(set(r["bench"]["categories"]) == {"images"} for r in saved)


def test_the_shift_knob_sets_the_samplers_time_grid(tmp_path, monkeypatch):
    import patchflow.pipeline.pipeline as pipeline_module

    model = tiny_model_folder(tmp_path / "model", 0)
    shifts = []
    real = pipeline_module.timesteps

    def recording(steps, shift=1.0, start=1.0):
        shifts.append(shift)
        return real(steps, shift, start=start)

    monkeypatch.setattr(pipeline_module, "timesteps", recording)
    rows = sweep.main(["--model", str(model), "--out", str(tmp_path / "sweep.jsonl"), "--bench-dir",
                       str(tmp_path / "bench"), "--steps", "2", "--shift", "0,3", "--category", "images"])
    assert [r["knobs"]["shift"] for r in rows] == [0.0, 3.0]
    assert "sample.shift=3" in rows[1]["overrides"] and not any("shift" in o for o in rows[0]["overrides"])
    first, second = shifts[: len(shifts) // 2], shifts[len(shifts) // 2:]
    assert second and set(second) == {3.0} and 3.0 not in first  # 0: the flow's token shift, as in training
