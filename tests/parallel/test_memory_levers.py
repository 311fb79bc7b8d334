"""Offloading the text encoder and the VAE while the DiT samples changes no pixel; on a GPU they rest in RAM."""

import numpy as np
import pytest
import torch
from random_model import random_model_dir

from patchflow.pipeline import Pipeline
from patchflow.pipeline.memory import OffloadedTextEncoder, offload_idle

SETTINGS = dict(height=32, width=32, num_frames=9, num_inference_steps=2, guidance_scale=3.0, generator=0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return random_model_dir(tmp_path_factory.mktemp("levers"))


def _devices_while_sampling(pipe: Pipeline) -> tuple[np.ndarray, set]:
    """The video, and the devices the VAE and the text encoder were on at each denoising step."""
    seen = set()

    def on_step(p, i, t, state):
        seen.add((next(p.vae.parameters()).device.type, next(p.text_encoder.model.parameters()).device.type))
        return state

    frames = pipe("a red ball bounces", image=np.full((32, 32, 3), 200, np.uint8), callback_on_step_end=on_step,
                  **SETTINGS).frames
    return frames, seen


def test_offloaded_pipeline_makes_the_same_video(model_dir):
    plain = Pipeline.from_pretrained(model_dir)
    plain.progress = False
    offloaded = Pipeline.from_pretrained(model_dir)
    offloaded.progress = False
    offload_idle(offloaded, "cpu")
    assert isinstance(offloaded.text_encoder, OffloadedTextEncoder)
    assert offloaded.text_encoder.dim == plain.text_encoder.dim  # the proxy answers for the encoder
    want, _ = _devices_while_sampling(plain)
    got, _ = _devices_while_sampling(offloaded)
    np.testing.assert_array_equal(got, want)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_offloaded_weights_rest_in_ram_while_the_dit_runs(model_dir):
    pipe = Pipeline.from_pretrained(model_dir).to("cuda")
    pipe.progress = False
    offload_idle(pipe, "cuda")
    frames, seen = _devices_while_sampling(pipe)
    assert seen == {("cpu", "cpu")}  # at every step of the DiT: VAE and text encoder in RAM
    assert next(pipe.transformer.parameters()).is_cuda and frames.std() > 0.01
