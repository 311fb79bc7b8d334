"""bench/background_probe.py reads a frame's background as the nearest palette colour and scores text against noise."""

import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("background_probe",
                                              Path(__file__).parents[2] / "bench" / "background_probe.py")
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_nearest_background_reads_the_median_not_the_object():
    frames = np.zeros((3, 16, 16, 3), np.uint8) + np.array([96, 96, 100], np.uint8)  # gray
    frames[:, 4:8, 4:8] = (230, 40, 40)  # a red ball covering 1/16 of the frame
    assert probe.frame_background(frames) == "gray"
    assert probe.frame_background(frames.astype(np.float32) / 255.0) == "gray"  # [0, 1] floats too
    black = np.ones((2, 8, 8, 3), np.uint8)  # uint8 values near 0 are not mistaken for [0, 1] floats
    assert probe.frame_background(black) == "black"
    assert probe.nearest_background((20, 22, 66)) == "navy" and probe.nearest_background((70, 20, 20)) == "maroon"


def test_score_tells_a_text_follower_from_a_noise_follower():
    backgrounds, seeds = ["black", "navy", "gray"], range(2)
    follower = {(b, s): b for b in backgrounds for s in seeds}
    noise = {(b, s): ["navy", "gray"][s] for b in backgrounds for s in seeds}  # the seed decides
    assert probe.score(follower) == {"follows_text": 1.0, "set_by_noise": 0.0, "samples": 6}
    assert probe.score(noise) == {"follows_text": 2 / 6, "set_by_noise": 1.0, "samples": 6}


def test_probe_runs_a_model_at_the_guidance_and_shift_asked_and_records_them(tmp_path, monkeypatch):
    import json

    from tiny_models import tiny_model_folder

    from patchflow.pipeline import Pipeline

    folder = tiny_model_folder(tmp_path / "model", seed=0)
    calls = []
    real_call = Pipeline.__call__

    def spy(self, *args, **kwargs):  # what the sampler used: the output records its scale and time shift
        out = real_call(self, *args, **kwargs)
        calls.append((out.guidance_scale, out.shift))
        return out

    monkeypatch.setattr(Pipeline, "__call__", spy)
    out = tmp_path / "rows.jsonl"
    rows = probe.main(["--model", str(folder), "--seeds", "1", "--steps", "1", "--guidance", "1",
                       "--shift", "3", "--out", str(out)])
    assert len(calls) == 5 and all(c == (1.0, 3.0) for c in calls)  # one sample a background
    row = json.loads(out.read_text())
    assert row == rows[0] and row["guidance"] == 1.0 and row["shift"] == 3.0 and row["samples"] == 5
    assert set(row["seen"]) == {f"{b}/0" for b in probe.BACKGROUND_COLORS}
