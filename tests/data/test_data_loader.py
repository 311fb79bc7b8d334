"""The loader on real files: one-bucket batches, failing files replaced and counted, exact resume."""

import itertools
import threading
from pathlib import Path

import pytest
import torch

from patchflow.config import BucketConfig, DataConfig
from patchflow.data.decode import decode_clip
from patchflow.data.loader import TooManyDecodeFailures, build_loader
from patchflow.data.manifest import read_manifest, write_manifest
from patchflow.data.scan import scan
from patchflow.media import MediaError

TEMPORAL, SPATIAL = 4, 8  # debug VAE (r_t 4, 4x4) with 2x2 patches


def data_cfg(**overrides) -> DataConfig:
    cfg = DataConfig(fps=8.0, image_ratio=0.3, skip_check_after=4,
                     buckets=BucketConfig(resolutions=[32], frames=[1, 9], token_budget=200, max_batch=2))
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def rows(media_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("loader") / "manifest.jsonl"
    return scan(media_dir, out).rows


def signature(batch):
    return batch["bucket"], tuple(batch["path"]), round(float(batch["video"].sum()), 3)


def test_batches_hold_one_bucket_of_real_clips(rows):
    loader = build_loader(data_cfg(), rows, TEMPORAL, SPATIAL, epochs=1)
    # {bucket: (samples, batch size)}; 9x24x48 = the landscape mp4, webm and mkv (2:1 at class 32).
    assert loader.buckets() == {"1x24x40": (1, 2), "1x32x32": (1, 2), "1x40x24": (1, 2),
                                "9x24x48": (3, 2), "9x32x32": (1, 2), "9x48x24": (2, 2)}
    seen = []
    for batch in loader:
        frames, height, width = (int(v) for v in batch["bucket"].split("x"))
        video = batch["video"]
        assert video.dtype == torch.float32 and video.shape[1:] == (3, frames, height, width)
        assert video.shape[0] == len(batch["text"]) == len(batch["path"]) == 2  # last batches filled up
        assert -1.0 <= video.min() and video.max() <= 1.0
        seen += batch["path"]
    videos = [r["path"] for r in rows if r["num_frames"] > 1]
    assert sorted(set(videos)) == sorted(p for p in set(seen) if p in videos)
    # Each video once in its epoch, plus one repeat per bucket with an odd count (filling its last batch).
    assert sorted(seen.count(p) for p in videos) == [1] * (len(videos) - 2) + [2, 2]


def test_resume_gives_the_batches_a_straight_run_gives(rows):
    cfg = data_cfg()
    straight = [signature(b) for b in itertools.islice(build_loader(cfg, rows, TEMPORAL, SPATIAL, seed=5), 12)]
    first = build_loader(cfg, rows, TEMPORAL, SPATIAL, seed=5)
    head = [signature(b) for b in itertools.islice(first, 5)]
    resumed = build_loader(cfg, rows, TEMPORAL, SPATIAL, seed=5)
    resumed.load_state_dict(first.state_dict())
    tail = [signature(b) for b in itertools.islice(resumed, 7)]
    assert head + tail == straight


def test_workers_give_the_same_batches(rows):
    plain = [signature(b) for b in itertools.islice(build_loader(data_cfg(), rows, TEMPORAL, SPATIAL), 6)]
    loader = build_loader(data_cfg(num_workers=1), rows, TEMPORAL, SPATIAL)
    with_workers = [signature(b) for b in itertools.islice(loader, 6)]
    assert with_workers == plain
    assert loader.state_dict()["sampler"]["step"] == 6  # the consumed batches, not the prefetched ones


def broken_rows(rows, media_dir, copies):
    """Rows claiming to be 64x32 videos whose files are bad."""
    template = next(r for r in rows if Path(r["path"]).name == "land_64x32.mp4")
    bad = [media_dir / "bad" / name for name in ("text.mp4", "truncated.mp4", "empty.mp4")]
    return [{**template, "path": str(bad[i % 3])} for i in range(copies)]


def test_failing_files_are_replaced_from_the_same_bucket(rows, media_dir):
    mixed = rows + broken_rows(rows, media_dir, 2)
    loader = build_loader(data_cfg(max_skip_fraction=1.0), mixed, TEMPORAL, SPATIAL, epochs=2)
    batches = list(loader)
    assert loader.skipped >= 2
    for batch in batches:
        assert "/bad/" not in " ".join(batch["path"])
        if batch["bucket"] == "9x24x48":
            assert len(batch["path"]) == batch["video"].shape[0] == 2  # never a shrunken batch


def test_run_stops_past_the_skip_threshold(rows, media_dir):
    mixed = rows + broken_rows(rows, media_dir, 30)
    loader = build_loader(data_cfg(max_skip_fraction=0.2), mixed, TEMPORAL, SPATIAL)
    with pytest.raises(TooManyDecodeFailures, match=r"failed to decode, more than data.max_skip_fraction=0.2"):
        for _ in itertools.islice(loader, 50):
            pass


def test_slow_decodes_time_out_and_are_replaced(rows):
    slow = next(r["path"] for r in rows if Path(r["path"]).name == "tall_32x64.mp4")
    release = threading.Event()

    def decode(path, *args):
        if path == slow:
            release.wait(10.0)  # a decoder stuck in FFmpeg, until the test lets it go
            raise MediaError("released")
        return decode_clip(path, *args)

    cfg = data_cfg(decode_timeout_s=0.3, max_skip_fraction=1.0, image_ratio=0.0)
    loader = build_loader(cfg, rows, TEMPORAL, SPATIAL, epochs=1, decode_fn=decode)
    paths = [p for batch in loader for p in batch["path"]]
    assert slow not in paths and loader.skipped >= 1
    release.set()  # let the abandoned decode threads end before the interpreter does
    for thread in threading.enumerate():
        if thread.name == "patchflow-decode":
            thread.join()


def test_rows_without_sizes_are_probed(media_dir, tmp_path):
    (tmp_path / "metadata.jsonl").write_text(
        f'{{"file_name": "{media_dir / "land_64x32.mp4"}", "text": "hf"}}\n'
        f'{{"file_name": "{media_dir / "bad" / "text.mp4"}"}}\n'
    )
    loader = build_loader(data_cfg(), read_manifest(tmp_path / "metadata.jsonl"), TEMPORAL, SPATIAL, epochs=1)
    (batch,) = list(loader)
    assert batch["text"] == ["hf", "hf"] and batch["bucket"] == "9x24x48"  # one sample, batch filled up
    assert loader.dropped == {"cannot probe": 1}


def test_manifest_round_trip_feeds_the_loader(rows, tmp_path):
    back = read_manifest(write_manifest(rows, tmp_path / "m.parquet"))
    a = [signature(b) for b in itertools.islice(build_loader(data_cfg(), rows, TEMPORAL, SPATIAL), 4)]
    b = [signature(b) for b in itertools.islice(build_loader(data_cfg(), back, TEMPORAL, SPATIAL), 4)]
    assert a == b


def test_prompt_ratio_mixes_short_prompts_into_the_texts(rows):
    # every row gets a caption and a short prompt; the share of prompts in the batches follows the ratio
    texted = [{**row, "text": f"caption {i}", "prompt": f"prompt {i}"} for i, row in enumerate(rows)]

    def texts(ratio):
        loader = build_loader(data_cfg(prompt_ratio=ratio), texted, TEMPORAL, SPATIAL, epochs=20)
        return [t for batch in loader for t in batch["text"]]

    assert all(t.startswith("caption") for t in texts(0.0))
    assert all(t.startswith("prompt") for t in texts(1.0))
    half = texts(0.5)
    share = sum(t.startswith("prompt") for t in half) / len(half)
    assert 0.3 < share < 0.7, share
    assert texts(0.5) == half  # drawn from the seed: a rerun gives the same texts
    with pytest.raises(ValueError, match="prompt_ratio"):
        build_loader(data_cfg(prompt_ratio=1.5), texted, TEMPORAL, SPATIAL)
