"""Bucket grids, assignment (never across orientation, never upscaled) and batch sizes."""

import itertools

import pytest

from patchflow.config import BucketConfig
from patchflow.data.buckets import (
    Bucket,
    assign_bucket,
    assign_buckets,
    available_frames,
    check_frames,
    grids,
)

ALL_ASPECTS = ["16:9", "9:16", "4:3", "3:4", "1:1", "2:1", "1:2"]


def test_grids_are_multiples_and_near_the_resolution_class():
    cfg = BucketConfig(resolutions=[256, 512], aspect_ratios=ALL_ASPECTS)
    found = grids(cfg, spatial_multiple=16)
    assert {(g.resolution, g.aspect) for g in found} == set(itertools.product([256, 512], ALL_ASPECTS))
    for g in found:
        assert g.height % 16 == 0 and g.width % 16 == 0
        assert abs((g.height * g.width) ** 0.5 / g.resolution - 1) < 0.1
    by_key = {(g.resolution, g.aspect): (g.height, g.width) for g in found}
    assert by_key[(512, "1:1")] == (512, 512)
    assert by_key[(256, "16:9")] == (192, 336)  # 192 x 341.3 -> 336: landscape
    assert by_key[(256, "9:16")] == (336, 192)


def test_sample_goes_to_largest_fitting_class_and_nearest_aspect():
    cfg = BucketConfig(resolutions=[256, 512], aspect_ratios=ALL_ASPECTS, frames=[1, 17, 33])
    all_grids = grids(cfg, 16)
    video = {"height": 1080, "width": 1920, "num_frames": 300, "fps": 30.0}
    assert assign_bucket(video, all_grids, cfg.frames, fps=8.0) == Bucket(33, 384, 688)
    small = {"height": 300, "width": 300, "num_frames": 20, "fps": 30.0}  # 20 frames at 30 fps = 5 at 8 fps
    assert assign_bucket(small, all_grids, cfg.frames, fps=8.0) == Bucket(1, 256, 256)
    image = {"height": 720, "width": 540, "num_frames": 1, "fps": 0.0}
    assert assign_bucket(image, all_grids, cfg.frames, fps=8.0) == Bucket(1, 592, 448)  # 3:4 at 512
    assert assign_bucket({"height": 100, "width": 100, "num_frames": 1}, all_grids, cfg.frames, 8.0) == (
        "smaller than every bucket")


def test_a_portrait_sample_never_lands_in_a_landscape_bucket():
    cfg = BucketConfig(resolutions=[32, 64], aspect_ratios=ALL_ASPECTS, frames=[1, 9])
    all_grids = grids(cfg, 8)
    for height, width in itertools.product(range(24, 140, 5), repeat=2):
        bucket = assign_bucket({"height": height, "width": width, "num_frames": 1}, all_grids, [1, 9], 8.0)
        if isinstance(bucket, str):
            continue
        assert bucket.height <= height and bucket.width <= width  # never upscaled
        if height > width:
            assert bucket.height >= bucket.width, (height, width, bucket)
        if width > height:
            assert bucket.width >= bucket.height, (height, width, bucket)


def test_frames_available_at_the_decode_rate():
    assert available_frames({"num_frames": 17, "fps": 16.0}, 8.0) == 9
    assert available_frames({"num_frames": 16, "fps": 16.0}, 8.0) == 8
    assert available_frames({"num_frames": 1, "fps": 0.0}, 8.0) == 1
    assert available_frames({"num_frames": 9, "fps": 8.0}, 16.0) == 17  # slower source: frames repeat


def test_frame_counts_must_suit_the_causal_vae():
    assert check_frames([17, 1, 9], 4) == [1, 9, 17]
    with pytest.raises(ValueError, match="1 \\+ 4 \\* k"):
        check_frames([1, 8], 4)


def test_batch_size_follows_the_token_budget():
    cfg = BucketConfig(token_budget=4096, max_batch=32)
    # 17 frames, r_t 4 -> T' = 5; 64x64 / 16 -> 4x4: 80 tokens -> 51 by budget, capped at 32.
    assert Bucket(17, 64, 64).latent_tokens(4, 16) == 80
    assert Bucket(17, 64, 64).batch_size(cfg, 4, 16) == 32
    assert Bucket(33, 256, 256).batch_size(cfg, 4, 16) == 1  # 9 * 256 tokens > budget: still 1
    assert Bucket(1, 256, 256).batch_size(cfg, 4, 16) == 16


def test_unfit_samples_are_dropped_and_counted():
    cfg = BucketConfig(resolutions=[32], frames=[9])
    rows = [{"height": 32, "width": 32, "num_frames": 17, "fps": 16.0},
            {"height": 16, "width": 16, "num_frames": 17, "fps": 16.0},
            {"height": 32, "width": 32, "num_frames": 1, "fps": 0.0}]
    members, dropped = assign_buckets(rows, cfg, fps=8.0, temporal_factor=4, spatial_multiple=8)
    assert members == {Bucket(9, 32, 32): [0]}
    assert dropped == {"smaller than every bucket": 1, "shorter than every frame count": 1}


@pytest.mark.parametrize("recipe", ["debug", "world_tiny"])
def test_recipes_bucket_every_world_size(recipe):
    from patchflow.recipes import get_recipe

    cfg = get_recipe(recipe)
    spatial_multiple = cfg.vae.spatial_factor * cfg.dit.patch_size[1]
    rows = []
    for size in cfg.world.sizes:
        width, height = (int(v) for v in size.split("x"))
        rows += [{"height": height, "width": width, "num_frames": f, "fps": float(cfg.world.fps)} for f in cfg.world.frames]
    members, dropped = assign_buckets(rows, cfg.data.buckets, cfg.data.fps, cfg.vae.temporal_factor, spatial_multiple)
    assert not dropped
    for bucket, indices in members.items():
        for i in indices:
            assert bucket.frames == rows[i]["num_frames"]
            # At most 1/8 of a side is cropped away.
            assert bucket.height / bucket.width == pytest.approx(rows[i]["height"] / rows[i]["width"], rel=0.125)
