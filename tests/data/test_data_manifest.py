"""Manifests round-trip through JSONL, CSV and Parquet; HF metadata.jsonl and Open-Sora CSVs load as they are."""

import json

import pytest

from patchflow.data.manifest import ManifestError, read_manifest, rejected_path, write_manifest

ROWS = [
    {"path": "clips/a.mp4", "text": "a red ball, bouncing", "num_frames": 17, "height": 32, "width": 64,
     "aspect_ratio": 0.5, "fps": 16.0, "codec": "h264", "aesthetic_score": 5.25, "tags": ["ball", "red"]},
    {"path": "clips/b.png", "text": "", "num_frames": 1, "height": 40, "width": 40,
     "aspect_ratio": 1.0, "fps": 0.0, "codec": "png", "aesthetic_score": 4.0, "tags": []},
]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_round_trip_keeps_columns_types_and_relative_paths(tmp_path, ext):
    rows = [{**r, "path": str(tmp_path / r["path"])} for r in ROWS]
    out = write_manifest(rows, tmp_path / f"m.{ext}")
    back = read_manifest(out)
    assert back == rows
    assert list(back[0])[:7] == ["path", "text", "num_frames", "height", "width", "aspect_ratio", "fps"]
    # Stored relative to the manifest's folder, so the folder can move.
    if ext == "jsonl":
        assert json.loads(out.read_text().splitlines()[0])["path"] == "clips/a.mp4"
    # A second round trip changes nothing.
    assert read_manifest(write_manifest(back, tmp_path / f"again.{ext}")) == rows


def test_paths_outside_the_folder_stay_absolute(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "x.mp4"
    out = write_manifest([{"path": str(elsewhere), "text": "t"}], tmp_path / "sub" / "m.jsonl")
    assert json.loads(out.read_text())["path"] == str(elsewhere)
    assert read_manifest(out)[0]["path"] == str(elsewhere)


def test_hugging_face_metadata_jsonl_loads(tmp_path):
    (tmp_path / "metadata.jsonl").write_text(
        '{"file_name": "0001.mp4", "text": "a cat"}\n{"file_name": "images/0002.png"}\n'
    )
    rows = read_manifest(tmp_path / "metadata.jsonl")
    assert [r["path"] for r in rows] == [str(tmp_path / "0001.mp4"), str(tmp_path / "images" / "0002.png")]
    assert [r["text"] for r in rows] == ["a cat", ""]


def test_open_sora_csv_loads_with_types(tmp_path):
    (tmp_path / "meta.csv").write_text(
        "path,text,num_frames,height,width,aspect_ratio,fps,resolution,aes\n"
        "/data/v1.mp4,\"a dog, running\",51,720,1280,0.5625,24.0,921600,5.1\n"
    )
    (row,) = read_manifest(tmp_path / "meta.csv")
    assert row == {"path": "/data/v1.mp4", "text": "a dog, running", "num_frames": 51, "height": 720,
                   "width": 1280, "aspect_ratio": 0.5625, "fps": 24.0, "resolution": 921600, "aes": 5.1}


def test_bad_manifests_say_what_is_wrong(tmp_path):
    with pytest.raises(ManifestError, match="unknown manifest extension '.txt'"):
        write_manifest(ROWS, tmp_path / "m.txt")
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "missing.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"path": "a.mp4"}\nnot json\n')
    with pytest.raises(ManifestError, match="line 2 is not JSON"):
        read_manifest(tmp_path / "broken.jsonl")
    (tmp_path / "nopath.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(ManifestError, match="no `path`"):
        read_manifest(tmp_path / "nopath.jsonl")


def test_rejected_list_sits_beside_the_manifest(tmp_path):
    assert rejected_path(tmp_path / "m.csv") == tmp_path / "m.rejected.jsonl"
