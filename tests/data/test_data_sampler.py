"""The batch plan: every sample once per epoch across ranks, same-length ranks, exact resume."""

import itertools
from collections import Counter

import pytest

from patchflow.data.buckets import Bucket
from patchflow.data.sampler import IMAGE_STREAM, VIDEO_STREAM, BucketBatchSampler, MixedSampler

SMALL, LARGE, IMAGE = Bucket(9, 32, 32), Bucket(17, 32, 64), Bucket(1, 32, 32)


def video_sampler(members, rank=0, world_size=1, seed=0, sizes=None):
    sizes = sizes or {b: 4 for b in members}
    return BucketBatchSampler(members, sizes, VIDEO_STREAM, rank, world_size, seed)


def take(sampler, n):
    return [sampler.next_batch() for _ in range(n)]


def test_two_ranks_see_every_sample_once_per_epoch():
    members = {SMALL: list(range(0, 16)), LARGE: list(range(16, 40))}  # 4 + 6 batches of 4: even
    ranks = [video_sampler(members, rank, 2, seed=3) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 5
    for epoch in range(2):
        seen = Counter()
        for sampler in ranks:
            for bucket, indices, got_epoch in take(sampler, 5):
                assert got_epoch == epoch
                assert set(indices) <= set(members[bucket])  # a batch holds one bucket
                seen.update(indices)
        assert seen == Counter(range(40))


def test_uneven_batch_counts_are_padded_so_ranks_stay_in_step():
    members = {SMALL: list(range(0, 10)), LARGE: list(range(10, 13))}  # 3 + 1 batches of 4
    ranks = [video_sampler(members, rank, 3) for rank in range(3)]
    assert [len(s) for s in ranks] == [2, 2, 2]  # 4 batches padded to 6
    batches = [b for s in ranks for b in take(s, 2)]
    assert all(len(indices) == 4 for _, indices, _ in batches)  # last batches filled up from the bucket
    assert set(i for _, indices, _ in batches for i in indices) == set(range(13))


def test_epochs_are_reshuffled_and_seeds_differ():
    members = {SMALL: list(range(32))}
    sampler = video_sampler(members)
    first, second = take(sampler, 8), take(sampler, 8)
    assert [b[1] for b in first] != [b[1] for b in second]
    assert [b[1] for b in take(video_sampler(members, seed=1), 8)] != [b[1] for b in first]


@pytest.mark.parametrize("stop_at", [1, 5, 9])
def test_resume_mid_epoch_continues_with_the_exact_next_batch(stop_at):
    members = {SMALL: list(range(0, 12)), LARGE: list(range(12, 30)), IMAGE: list(range(30, 50))}
    videos = {b: m for b, m in members.items() if not b.is_image}

    def mixed(rank):
        images = BucketBatchSampler({IMAGE: members[IMAGE]}, {IMAGE: 5}, IMAGE_STREAM, rank, 2, seed=7)
        return MixedSampler(images, video_sampler(videos, rank, 2, seed=7), image_ratio=0.3, seed=7)

    for rank in range(2):
        straight = [(p.bucket, p.indices, p.epoch) for p in itertools.islice(mixed(rank), 20)]
        first = mixed(rank)
        plans = list(itertools.islice(first, stop_at))
        resumed = mixed(rank)
        resumed.load_state_dict(plans[-1].state)
        rest = [(p.bucket, p.indices, p.epoch) for p in itertools.islice(resumed, 20 - stop_at)]
        assert [(p.bucket, p.indices, p.epoch) for p in plans] + rest == straight


def test_image_ratio_sets_the_share_of_image_batches():
    images = BucketBatchSampler({IMAGE: list(range(100))}, {IMAGE: 4}, IMAGE_STREAM, seed=0)
    videos = video_sampler({SMALL: list(range(100, 200))})
    plans = list(itertools.islice(MixedSampler(images, videos, image_ratio=0.25), 400))
    share = sum(p.bucket.is_image for p in plans) / len(plans)
    assert 0.18 < share < 0.32


def test_epochs_option_ends_after_the_main_streams_epochs():
    videos = video_sampler({SMALL: list(range(10))})  # 3 batches per epoch
    images = BucketBatchSampler({}, {}, IMAGE_STREAM)
    plans = list(MixedSampler(images, videos, image_ratio=0.5, epochs=2))
    assert len(plans) == 6 and [p.epoch for p in plans] == [0, 0, 0, 1, 1, 1]


def test_a_state_from_another_rank_is_refused():
    members = {SMALL: list(range(8))}
    with pytest.raises(ValueError, match="rank 1 of 2"):
        video_sampler(members, 0, 2).load_state_dict(video_sampler(members, 1, 2).state_dict())
