"""Scanning a real folder: good files kept with the right metadata, bad ones rejected with reasons."""

import os
import shutil
from pathlib import Path

from data_media import EXPECTED_BAD, EXPECTED_GOOD, indexed_frames

from patchflow.data.manifest import read_manifest, rejected_path, write_manifest
from patchflow.data.probe import probe
from patchflow.data.scan import scan
from patchflow.media import write_video


def by_name(rows):
    return {Path(r["path"]).name: r for r in rows}


def test_scan_keeps_good_files_with_metadata_and_rejects_bad_ones(media_dir, tmp_path):
    result = scan(media_dir, tmp_path / "manifest.jsonl")
    rows = by_name(read_manifest(tmp_path / "manifest.jsonl"))
    assert set(rows) == set(EXPECTED_GOOD)
    for name, (width, height, num_frames, fps, codec, rotation) in EXPECTED_GOOD.items():
        row = rows[name]
        assert (row["width"], row["height"], row["num_frames"], row["codec"], row["rotation"]) == (
            width, height, num_frames, codec, rotation), name
        assert abs(row["fps"] - fps) < 1e-6, name
        assert abs(row["aspect_ratio"] - height / width) < 1e-9
        if num_frames > 1:
            assert abs(row["duration"] - num_frames / fps) < 0.01, name
    assert rows["land_64x32.mp4"]["text"] == "a landscape clip"  # from the sidecar .txt
    assert rows["tall_32x64.mp4"]["text"] == ""
    rejected = by_name(read_manifest(rejected_path(tmp_path / "manifest.jsonl")))
    assert set(rejected) == set(EXPECTED_BAD)
    for name, reason in EXPECTED_BAD.items():
        assert reason in rejected[name]["reason"], rejected[name]
    assert result.probed == len(EXPECTED_GOOD) + len(EXPECTED_BAD)



def test_rescan_probes_only_new_or_changed_files(media_dir, tmp_path):
    folder = tmp_path / "grow"
    shutil.copytree(media_dir, folder)
    out = tmp_path / "m.csv"
    first = scan(folder, out)
    assert first.reused == 0
    # A score column added by a filtering tool survives re-scans of unchanged files.
    write_manifest([{**row, "aesthetic": 5.5} for row in read_manifest(out)], out)
    again = scan(folder, out)
    assert again.probed == 0 and again.reused == first.probed
    write_video(folder / "new.mp4", indexed_frames(5, 32, 32), fps=8)
    changed = folder / "square_48x48.mp4"
    write_video(changed, indexed_frames(13, 48, 48), fps=8)
    os.utime(changed, (1e9, 1e9))  # a new mtime even on a coarse clock
    grown = scan(folder, out)
    assert sorted(Path(p).name for p in grown.probed_paths) == ["new.mp4", "square_48x48.mp4"]
    rows = by_name(grown.rows)
    assert rows["new.mp4"]["num_frames"] == 5 and rows["square_48x48.mp4"]["num_frames"] == 13
    assert rows["land_64x32.mp4"]["aesthetic"] == 5.5 and rows["new.mp4"].get("aesthetic") is None
    assert len(grown.rejected) == len(EXPECTED_BAD)  # rejections are remembered, not re-probed


def test_captions_from_a_mapping_file_win_over_sidecars(media_dir, tmp_path):
    write_manifest(
        [{"path": "land_64x32.mp4", "text": "from the csv"}, {"path": "sq_40.png", "text": "a square"},
         {"path": str(media_dir / "sub" / "land_vp9.webm"), "text": "absolute"}],
        tmp_path / "captions.csv",
    )
    # Paths in the mapping: relative to the scanned folder, a bare unique file name, absolute.
    rows = by_name(scan(media_dir, tmp_path / "m.parquet", captions=tmp_path / "captions.csv").rows)
    assert rows["land_64x32.mp4"]["text"] == "from the csv"
    assert rows["sq_40.png"]["text"] == "a square"
    assert rows["land_vp9.webm"]["text"] == "absolute"
    assert rows["tall_32x64.mp4"]["text"] == ""


def test_probe_reads_rotation_back(media_dir):
    info = probe(media_dir / "rotated.mp4")
    assert (info["rotation"], info["width"], info["height"]) == (90, 32, 64)
