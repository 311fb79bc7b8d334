"""The data set writer and the `patchflow world` / `patchflow demo` commands."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.media import read_image, read_video
from patchflow.world.make import make_dataset, parse_size
from patchflow.world.palette import BACKGROUND_COLORS

COLUMNS = {"path", "text", "prompt", "num_frames", "height", "width", "aspect_ratio", "fps", "truth"}
runner = CliRunner()


def read_rows(manifest):
    return [json.loads(line) for line in manifest.read_text().splitlines()]


def test_make_dataset_writes_readable_media_truth_and_manifest(tmp_path):
    manifest = make_dataset(tmp_path / "a", 8, sizes=["32x32", "40x24"], frames=[1, 5], fps=8, seed=3, quiet=True)
    rows = read_rows(manifest)
    assert len(rows) == 8 and all(set(r) == COLUMNS for r in rows)
    assert {r["num_frames"] for r in rows} == {1, 5}
    for r in rows:
        media = manifest.parent / r["path"]
        assert media.suffix == (".png" if r["num_frames"] == 1 else ".mp4")
        frames, _ = read_video(media) if media.suffix == ".mp4" else (read_image(media)[None], 0)
        assert frames.shape == (r["num_frames"], r["height"], r["width"], 3)
        assert r["aspect_ratio"] == pytest.approx(r["height"] / r["width"])
        truth = json.loads((manifest.parent / r["truth"]).read_text())
        assert truth["num_frames"] == r["num_frames"] and truth["width"] == r["width"]
        assert truth["caption"] == r["text"] and truth["spec"]["background"] == truth["background"]
        # The background colour survives the file (yuv444p mp4 or png) to within codec noise.
        corner = frames[0].reshape(-1, 3).astype(int)
        bg = np.asarray(BACKGROUND_COLORS[truth["background"]])
        assert (np.abs(corner - bg).max(axis=1) <= 14).mean() > 0.3  # +-12 stripes when panning
        assert r["text"] != r["prompt"] and len(r["prompt"]) < len(r["text"])


def test_make_dataset_is_deterministic_for_a_seed(tmp_path):
    a = make_dataset(tmp_path / "a", 4, sizes=["24x16"], frames=[1, 3], seed=5, quiet=True)
    b = make_dataset(tmp_path / "b", 4, sizes=["24x16"], frames=[1, 3], seed=5, quiet=True)
    c = make_dataset(tmp_path / "c", 4, sizes=["24x16"], frames=[1, 3], seed=6, quiet=True)
    assert a.read_text() == b.read_text() != c.read_text()
    for row in read_rows(a):
        assert (a.parent / row["truth"]).read_text() == (b.parent / row["truth"]).read_text()


@pytest.mark.parametrize("text", ["64by64", "0x64", "64x", "15x64", "-4x64"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError, match=text):
        parse_size(text)


def test_cli_world_make(tmp_path):
    result = runner.invoke(app, ["world", "make", "--out", str(tmp_path), "--n", "3", "--sizes", "32x24",
                                 "--frames", "1,3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "manifest.jsonl")
    assert len(rows) == 3 and {(r["width"], r["height"]) for r in rows} == {(32, 24)}


@pytest.mark.parametrize("args,message", [
    (["--sizes", "64by64"], "64by64"),
    (["--sizes", "0x64"], "0x64"),
    (["--frames", "one,two"], "--frames"),
    (["--frames", "0"], "frame counts"),
])
def test_cli_world_make_bad_arguments(tmp_path, args, message):
    result = runner.invoke(app, ["world", "make", "--out", str(tmp_path), "--n", "2", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name,frames", [("scene.mp4", 9), ("scene.png", 1), ("scene.gif", 4)])
def test_cli_world_render(tmp_path, name, frames):
    out = tmp_path / name
    result = runner.invoke(app, ["world", "render", "--caption", "a large red box slides to the right on navy",
                                 "--size", "48x32", "--frames", str(frames), "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    if out.suffix == ".mp4":
        video, fps = read_video(out)
        assert video.shape == (frames, 32, 48, 3) and fps == pytest.approx(8)
        red = np.abs(video.astype(int) - np.array([230, 40, 40])).max(axis=-1) <= 12
        assert red.sum(axis=(1, 2)).min() > 0.5 * (0.3 * 32) ** 2  # the large red box is in every frame
    elif out.suffix == ".png":
        assert read_image(out).shape == (32, 48, 3)
    else:
        assert out.stat().st_size > 0


@pytest.mark.parametrize("args,message", [
    (["--caption", "a purple ball"], "'purple'"),
    (["--caption", "a red ball", "--size", "0x64"], "0x64"),
    (["--caption", "a red ball", "--size", "64by64"], "64by64"),
    (["--caption", "a red ball", "--frames", "5", "--out-name", "x.png"], "one frame"),
    (["--caption", "a red ball", "--out-name", "x.avi"], ".mp4"),
    (["--caption", "five balls"], "1 to 3 objects"),
])
def test_cli_world_render_errors(tmp_path, args, message):
    if "--out-name" in args:
        i = args.index("--out-name")
        args = [*args[:i], "--out", str(tmp_path / args[i + 1]), *args[i + 2:]]
    else:
        args = [*args, "--out", str(tmp_path / "x.mp4")]
    result = runner.invoke(app, ["world", "render", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_world_score(tmp_path):
    video = tmp_path / "v.mp4"
    caption = "a large blue ball bounces around quickly on black"
    assert runner.invoke(app, ["world", "render", "--caption", caption, "--size", "64x64", "--frames", "17",
                               "--out", str(video)]).exit_code == 0
    result = runner.invoke(app, ["world", "score", str(video), "--caption", caption, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report  # the oracle's report, as JSON
    table = runner.invoke(app, ["world", "score", str(video), "--caption", caption])
    assert table.exit_code == 0 and "facts hold" in table.output


@pytest.mark.parametrize("make_file,message", [
    (lambda p: None, "no such video"),
    (lambda p: p.write_text("not a video"), "cannot decode"),
])
def test_cli_world_score_errors(tmp_path, make_file, message):
    video = tmp_path / "v.mp4"
    make_file(video)
    result = runner.invoke(app, ["world", "score", str(video), "--caption", "a red ball"])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
