"""`patchflow data scan` and `patchflow data stats` through the real CLI app."""

import re
import shutil

from data_media import EXPECTED_BAD, EXPECTED_GOOD
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.manifest import read_manifest

runner = CliRunner()


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_scan_then_stats(media_dir, tmp_path):
    out = tmp_path / "manifest.csv"
    result = runner.invoke(app, ["data", "scan", str(media_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read_manifest(out)) == len(EXPECTED_GOOD)
    assert f"{len(EXPECTED_BAD)} rejected" in plain(result.output)
    assert (tmp_path / "manifest.rejected.jsonl").exists()

    result = runner.invoke(app, ["data", "stats", str(out)])
    assert result.exit_code == 0, result.output
    text = plain(result.output)
    assert f"{len(EXPECTED_GOOD)} samples" in text and "64x32" in text and "2:1" in text and "16" in text
    png = tmp_path / "manifest.stats.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"


def test_a_manifest_inside_the_folder_does_not_scan_its_own_histogram(media_dir, tmp_path):
    folder = tmp_path / "media"
    shutil.copytree(media_dir, folder)
    out = folder / "manifest.jsonl"
    assert runner.invoke(app, ["data", "scan", str(folder), "--out", str(out)]).exit_code == 0
    assert runner.invoke(app, ["data", "stats", str(out)]).exit_code == 0
    assert (folder / "manifest.stats.png").exists()
    assert runner.invoke(app, ["data", "scan", str(folder), "--out", str(out)]).exit_code == 0
    assert len(read_manifest(out)) == len(EXPECTED_GOOD)


def test_errors_are_clear(media_dir, tmp_path):
    result = runner.invoke(app, ["data", "scan", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 2 and "no such folder" in plain(result.output)
    result = runner.invoke(app, ["data", "scan", str(media_dir), "--out", str(tmp_path / "m.txt")])
    assert result.exit_code == 2 and "unknown manifest extension" in plain(result.output)
    result = runner.invoke(app, ["data", "stats", str(tmp_path / "m.yaml")])
    assert result.exit_code == 2 and "unknown manifest extension" in plain(result.output)
    result = runner.invoke(app, ["data", "stats", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "no such manifest" in plain(result.output)
