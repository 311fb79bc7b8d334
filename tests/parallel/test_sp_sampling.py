"""Sampling with the DiT's tokens split over 2 gloo processes makes the one-process video: text-to-video and
image-to-video (per-frame times), with classifier-free guidance; the helper process does not decode."""

import numpy as np
import pytest
from random_model import random_model_dir
from spawn_util import spawn

from patchflow.parallel.sampling import SamplingGroup
from patchflow.pipeline import Pipeline

PROMPT = "a red ball bounces around on navy"


def _first_frame() -> np.ndarray:
    g = np.random.default_rng(0)
    return (g.random((32, 32, 3)) * 255).astype(np.uint8)  # (H, W, 3)


def _generate(pipe: Pipeline) -> dict[str, np.ndarray]:
    common = dict(height=32, width=32, num_frames=9, num_inference_steps=3, guidance_scale=3.0, generator=0)
    return {"t2v": pipe(PROMPT, **common).frames,  # (1, 9, 32, 32, 3) float in [0, 1]
            "i2v": pipe(PROMPT, image=_first_frame(), **common).frames}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return random_model_dir(tmp_path_factory.mktemp("sp_model"))


def _worker(rank, model_dir, out_dir):
    pipe = Pipeline.from_pretrained(model_dir)
    pipe.progress = False
    SamplingGroup(2, rank, "cpu").apply(pipe)
    attention = pipe.transformer.blocks[0].attn.attn_fn
    assert attention.ulysses_inner is not None  # self-attention swaps heads for tokens over the 2 processes
    np.savez(f"{out_dir}/rank{rank}.npz", **_generate(pipe))


def test_split_sampling_matches_one_process(model_dir, tmp_path):
    spawn(_worker, 2, str(model_dir), str(tmp_path))
    pipe = Pipeline.from_pretrained(model_dir)
    pipe.progress = False
    want = _generate(pipe)
    got, helper = np.load(tmp_path / "rank0.npz"), np.load(tmp_path / "rank1.npz")
    for mode, frames in want.items():
        assert frames.std() > 0.01, mode  # a real video: the comparison is not between two blanks
        np.testing.assert_allclose(got[mode], frames, atol=2e-4, err_msg=mode)
    assert np.abs(want["i2v"] - want["t2v"]).mean() > 0.01  # the first frame conditions the video
    assert not helper["t2v"].any()  # rank 1 sampled but left the decoding to rank 0
