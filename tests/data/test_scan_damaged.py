"""Damaged entries in a scanned folder: rejected rows with their reasons, never a crash without a manifest."""

import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from patchflow.data.manifest import read_manifest, rejected_path
from patchflow.data.probe import probe
from patchflow.data.scan import scan
from patchflow.media import MediaError


def write_faststart_mp4(path: Path, num_frames: int = 24, fps: int = 8, keyframe_every: int = 4) -> Path:
    """An H.264 mp4 with its index (moov) at the front, as web players want, of noise frames (so the
    data is large next to the index)."""
    frames = np.random.default_rng(0).integers(0, 256, (num_frames, 32, 48, 3), dtype=np.uint8)
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"crf": "18", "g": str(keyframe_every)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture
def damaged_dir(tmp_path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    whole = write_faststart_mp4(folder / "whole.mp4")
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index really is at the front
    (folder / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    os.symlink(folder / "gone.mp4", folder / "dangling.mp4")
    os.symlink(folder / "loop.mp4", folder / "loop.mp4")
    os.symlink(whole, folder / "alias.mp4")  # a symlink to a good file is a good sample
    return folder


@pytest.mark.parametrize("manifest_name", ["manifest.jsonl", "manifest.csv"])
def test_symlinks_to_nothing_and_cut_videos_are_rejected_rows(damaged_dir, tmp_path, manifest_name):
    out = tmp_path / manifest_name
    result = scan(damaged_dir, out)
    assert result.probed == 5  # whole, alias, cut, dangling, loop
    assert sorted(Path(r["path"]).name for r in read_manifest(out)) == ["alias.mp4", "whole.mp4"]
    reasons = {Path(r["path"]).name: r["reason"] for r in read_manifest(rejected_path(out))}
    assert set(reasons) == {"cut.mp4", "dangling.mp4", "loop.mp4"}
    assert reasons["dangling.mp4"].startswith("dangling symlink") and "gone.mp4" in reasons["dangling.mp4"]
    assert reasons["loop.mp4"].startswith("symlink loop")
    assert reasons["cut.mp4"].startswith("cut short") and "24 frames" in reasons["cut.mp4"]
    again = scan(damaged_dir, out)  # the rejected rows read back and a re-scan runs over them
    assert len(again.rows) == 2 and len(again.rejected) == 3 and again.reused == 3


def cut_copy(path: Path, share: float = 0.6) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[: int(len(data) * share)])
    return cut


def test_probe_decodes_the_last_promised_frame_of_a_faststart_mp4(tmp_path):
    # Keyframes every 4 frames: the seek near the end lands on one whose data is gone.
    short_gop = write_faststart_mp4(tmp_path / "short_gop.mp4")
    assert probe(short_gop)["num_frames"] == 24
    with pytest.raises(MediaError, match=r"cut short: the container promises 24 frames \(to 2.88 s\) but nothing"):
        probe(cut_copy(short_gop))
    # One keyframe: the seek lands on frame 0 and decoding runs until the data stops.
    one_gop = write_faststart_mp4(tmp_path / "one_gop.mp4", keyframe_every=250)
    assert probe(one_gop)["num_frames"] == 24
    with pytest.raises(MediaError, match=r"cut short: .* but decoding stops at [0-2]\.\d\d s"):
        probe(cut_copy(one_gop))


def test_data_scan_command_lists_the_dangling_symlink(damaged_dir, tmp_path):
    from typer.testing import CliRunner

    from patchflow.cli import app

    shutil.copy(damaged_dir / "whole.mp4", tmp_path / "copy.mp4")
    result = CliRunner().invoke(app, ["data", "scan", str(damaged_dir), "--out", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "dangling symlink" in " ".join(result.output.split())
