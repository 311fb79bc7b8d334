"""The commands under the real launcher, end to end on this CPU (gloo): `torchrun --nproc_per_node 2 -m patchflow
train --set train.sequence_parallel=2` trains and writes a model folder; `torchrun ... generate
--sequence-parallel 2` with it writes the one-process video; a split without torchrun names the fix."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow import media as video_io
from patchflow.cli import app

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
from tiny_world import tiny_overrides  # noqa: E402

TORCHRUN = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
GENERATE = ["-m", "patchflow", "generate", "--prompt", "a red ball bounces", "--frames", "9", "--size", "32x32",
            "--steps", "2", "--device", "cpu", "--seed", "3"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sp_cli")
    overrides = tiny_overrides(root) + ["train.steps=2", "train.sequence_parallel=2"]
    _run(TORCHRUN + ["-m", "patchflow", "train", "--recipe", "debug"] + [a for o in overrides for a in ("--set", o)])
    return root / "run"


def test_torchrun_trains_with_split_tokens(trained):
    assert (trained / "model" / "transformer" / "config.json").is_file()
    rows = (trained / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # one line per step (log_every=1), written once (by rank 0)


def test_torchrun_generates_the_one_process_video(trained, tmp_path):
    model = str(trained / "model")
    _run(TORCHRUN + GENERATE + ["--model", model, "--sequence-parallel", "2", "--out", str(tmp_path / "sp.mp4")])
    _run([sys.executable] + GENERATE + ["--model", model, "--out", str(tmp_path / "one.mp4")])
    split, one = (video_io.read_video(tmp_path / name)[0] for name in ("sp.mp4", "one.mp4"))
    assert split.shape == one.shape == (9, 32, 32, 3)
    assert np.abs(split.astype(int) - one.astype(int)).max() <= 2  # float rounding through the codec at most
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "sp.mp4"]  # rank 1 wrote nothing


def test_split_without_torchrun_names_the_launch():
    result = CliRunner().invoke(app, GENERATE[2:] + ["--sequence-parallel", "2", "--out", "unused.mp4"])
    assert result.exit_code != 0
    assert "torchrun --nproc_per_node 2" in result.output
