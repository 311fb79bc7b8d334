"""A latent cache mixes images and videos at data.image_ratio, as the on-the-fly sampler does, and resumes exactly.

Before the mix, a cache's shards came in one shuffled stream: a world_tiny cache of 43 image shards and 1450
clip shards trained on 2.9 % image batches while data.image_ratio said 30 %.
"""

import json

import numpy as np
import pytest
import torch

from patchflow.data.latent_cache import EMPTY_TEXT, INDEX, CachedLatents, _atomic_save


def fake_cache(folder, images: int, videos: int):
    """A cache of `images` one-image shards and `videos` one-clip shards; shard k's latents are all k."""
    folder.mkdir()
    _atomic_save({"text": torch.zeros(1, 4, 8), "text_mask": torch.ones(1, 4)}, folder / EMPTY_TEXT)
    shards = []
    for k in range(images + videos):
        frames = 1 if k < images else 3
        name = f"shard_{k:06d}.safetensors"
        meta = {"bucket": f"{frames * 2 - 1 if frames > 1 else 1}x8x8", "prompts": json.dumps([f"p{k}"]),
                "paths": json.dumps([f"{k}.mp4"])}
        _atomic_save({"latents": torch.full((1, 2, frames, 2, 2), float(k)), "text": torch.zeros(1, 4, 8),
                      "text_mask": torch.ones(1, 4)}, folder / name, meta)
        shards.append({"file": name, "bucket": meta["bucket"], "size": 1, "latent_shape": [2, frames, 2, 2],
                       "prompts": [f"p{k}"], "paths": [f"{k}.mp4"]})
    index = {"version": 1, "complete": True, "seed": 0, "vae": {"path": "", "latent_channels": 2},
             "text": {"encoder": ""}, "shards": shards}
    (folder / INDEX).write_text(json.dumps(index))
    return folder


def shard_ids(cache, n: int) -> list[int]:
    return [int(next(cache)["latents"].flatten()[0]) for _ in range(n)]


def test_image_batches_follow_image_ratio_not_the_shard_count(tmp_path):
    folder = fake_cache(tmp_path / "c", images=3, videos=60)
    for ratio in (0.0, 0.3, 1.0):
        ids = shard_ids(CachedLatents(folder, torch.device("cpu"), image_ratio=ratio), 1000)
        share = sum(i < 3 for i in ids) / len(ids)
        assert abs(share - ratio) < 0.05, (ratio, share)
    ids = shard_ids(CachedLatents(folder, torch.device("cpu"), image_ratio=0.3), 600)
    assert set(i for i in ids if i >= 3) == set(range(3, 63))  # every clip shard in an epoch of clips


def test_two_ranks_split_the_batches_one_process_takes(tmp_path):
    # 2 processes take what 1 process with grad_accum 2 takes: global batch g on rank g % 2 (exactly so when
    # each kind's shard count is a multiple of the world size; otherwise an epoch pads with a repeat or two)
    folder = fake_cache(tmp_path / "c", images=4, videos=10)
    one = shard_ids(CachedLatents(folder, torch.device("cpu"), seed=1, image_ratio=0.5), 60)
    ranks = [shard_ids(CachedLatents(folder, torch.device("cpu"), r, 2, seed=1, image_ratio=0.5), 30)
             for r in range(2)]
    assert [ranks[g % 2][g // 2] for g in range(60)] == one
    assert 15 < sum(i < 4 for i in one) < 45  # both kinds, about half and half
    videos = [i for i in one if i >= 4][:10]  # one epoch of the clip stream
    assert sorted(videos) == list(range(4, 14))


def test_resume_continues_with_the_batches_a_straight_run_gives(tmp_path):
    folder = fake_cache(tmp_path / "c", images=3, videos=7)
    straight = CachedLatents(folder, torch.device("cpu"), seed=5, image_ratio=0.4)
    expected = shard_ids(straight, 50)
    first = CachedLatents(folder, torch.device("cpu"), seed=5, image_ratio=0.4)
    head = shard_ids(first, 23)
    resumed = CachedLatents(folder, torch.device("cpu"), seed=5, image_ratio=0.4)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a checkpoint stores it
    assert head + shard_ids(resumed, 27) == expected


def old_single_stream(n_files: int, seed: int, steps: int) -> list[int]:
    """The order every cache gave before the mix: all shards in one stream, shuffled with key (seed, 3, epoch)."""
    out, epoch = [], 0
    while len(out) < steps:
        out += list(np.random.default_rng([seed, 3, epoch]).permutation(n_files))
        epoch += 1
    return out[:steps]


def test_a_cache_of_one_kind_gives_the_batches_it_always_gave(tmp_path):
    folder = fake_cache(tmp_path / "c", images=0, videos=9)
    assert shard_ids(CachedLatents(folder, torch.device("cpu"), seed=2, image_ratio=0.3), 30) == \
        old_single_stream(9, 2, 30)


def test_a_checkpoint_from_before_the_mix_resumes_its_single_stream(tmp_path):
    folder = fake_cache(tmp_path / "c", images=2, videos=5)
    cache = CachedLatents(folder, torch.device("cpu"), seed=0, image_ratio=0.3)
    cache.load_state_dict({"epoch": 1, "position": 3, "rank": 0, "world": 1})  # the old format
    assert shard_ids(cache, 11) == old_single_stream(7, 0, 21)[10:]  # epoch 1 position 3 = shard 10 of the stream
    assert cache.state_dict()["legacy"]  # and it saves so, to resume the same way again
    again = CachedLatents(folder, torch.device("cpu"), seed=0, image_ratio=0.3)
    again.load_state_dict(cache.state_dict())
    assert shard_ids(again, 5) == old_single_stream(7, 0, 26)[21:]


def test_image_ratio_outside_zero_to_one_is_refused(tmp_path):
    folder = fake_cache(tmp_path / "c", images=1, videos=1)
    with pytest.raises(ValueError, match="data.image_ratio"):
        CachedLatents(folder, torch.device("cpu"), image_ratio=1.5)
