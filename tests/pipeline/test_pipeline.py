"""The Pipeline API on a model trained a few steps: round trip, determinism, conditions, SDEdit, windows."""

import copy

import numpy as np
import pytest
import torch

from patchflow import media as video_io
from patchflow.pipeline import Pipeline, modes, to_uint8

KW = dict(height=32, width=32, num_inference_steps=3, guidance_scale=2.0)


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def reconstruct(pipe, frames_uint8):
    """What the VAE makes of some frames: the best any conditioned output can match."""
    with torch.no_grad():
        z = pipe.vae.encode(video_io.to_tensor(frames_uint8)[None])
        return video_io.to_frames(pipe.vae.decode(z)[0])


def test_folder_round_trip_keeps_weights_and_config(model_dir, pipe):
    assert (model_dir / "model_index.json").is_file() and (model_dir / "transformer").is_dir()
    again = Pipeline.from_pretrained(model_dir)
    for a, b in zip(pipe.transformer.state_dict().values(), again.transformer.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert again.config == pipe.config
    assert any(bool(p.abs().sum() > 0) for p in pipe.transformer.proj_out.parameters())  # it was trained


def test_same_seed_same_video_other_seed_other_video(pipe):
    a = pipe("a red ball moves right", num_frames=9, generator=5, **KW)
    b = pipe("a red ball moves right", num_frames=9, generator=5, **KW)
    c = pipe("a red ball moves right", num_frames=9, generator=6, **KW)
    assert a.frames.shape == (1, 9, 32, 32, 3) and a.frames.dtype == np.float32
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    assert (a.seed, a.steps, a.fps, a.prompt) == (5, 3, 8.0, ["a red ball moves right"])


def test_output_types_agree(pipe):
    args = dict(num_frames=5, generator=1, **KW)
    as_np = pipe("x", output_type="np", **args).frames
    as_pt = pipe("x", output_type="pt", **args).frames
    as_pil = pipe("x", output_type="pil", **args).frames
    assert isinstance(as_pt, torch.Tensor) and np.array_equal(as_pt.numpy(), as_np)
    assert len(as_pil) == 1 and len(as_pil[0]) == 5 and np.array_equal(np.asarray(as_pil[0][2]), to_uint8(as_np[0, 2]))


def test_image_to_video_first_frame_is_the_image(pipe, image_file):
    _, image = image_file
    out = pipe("a ball", num_frames=9, image=image, generator=0, **KW)
    first = to_uint8(out.frames[0, 0])
    assert psnr(first, reconstruct(pipe, image[None])[0]) >= 30.0
    unconditioned = to_uint8(pipe("a ball", num_frames=9, generator=0, **KW).frames[0, 0])
    assert psnr(unconditioned, reconstruct(pipe, image[None])[0]) < 30.0  # the match is the condition's doing


def test_last_image_becomes_the_last_latent_frame_as_a_still_group(pipe, image_file):
    _, image = image_file
    out = pipe("a ball", num_frames=9, last_image=image, generator=0, output_type="latent", **KW).frames
    free = pipe("a ball", num_frames=9, generator=0, output_type="latent", **KW).frames
    r = pipe.temporal_factor
    with torch.no_grad():  # a still group: the image repeated over r frames, after a lead-in frame
        still = pipe.vae.encode(video_io.to_tensor(np.repeat(image[None], 1 + r, axis=0))[None])
    assert torch.allclose(out[:, :, -1], still[:, :, 1], atol=1e-5)
    assert not torch.allclose(free[:, :, -1], still[:, :, 1], atol=1e-2)


def test_sdedit_strength_zero_returns_the_input_reconstruction(pipe, world_video_file):
    _, frames = world_video_file
    out = pipe("x", num_frames=17, video=frames, strength=0.0, generator=0, **KW)
    assert psnr(to_uint8(out.frames[0]), reconstruct(pipe, frames)) >= 40.0
    changed = pipe("x", num_frames=17, video=frames, strength=0.9, generator=0, **KW)
    assert psnr(to_uint8(changed.frames[0]), reconstruct(pipe, frames)) < 40.0


def test_extension_context_is_reproduced(pipe, world_video_file):
    _, frames = world_video_file
    plan = modes.extend_forward(frames, 8, pipe.temporal_factor)
    out = pipe("x", num_frames=plan.num_frames, conditions=plan.conditions, generator=0, **KW)
    generated = to_uint8(out.frames[0])
    context = frames[-5:]
    assert psnr(generated[:5], reconstruct(pipe, context)) >= 30.0
    video = plan.assemble(generated)
    assert len(video) == 17 + 8 and np.array_equal(video[:17], frames)


def test_callback_on_step_end_sees_each_step_and_can_edit_latents(pipe):
    seen = []

    def callback(p, i, t, kwargs):
        seen.append((i, t))
        return {"latents": torch.zeros_like(kwargs["latents"])}

    out = pipe("x", num_frames=5, generator=0, callback_on_step_end=callback, output_type="latent", **KW)
    assert [i for i, _ in seen] == [0, 1, 2] and seen[0][1] == 1.0
    assert torch.count_nonzero(out.frames) == 0


def test_sliding_windows_make_long_videos_with_bounded_model_input(pipe, monkeypatch):
    frames_seen = []
    forward = pipe.transformer.forward

    def spy(x, *args):
        frames_seen.append(x.shape[2])
        return forward(x, *args)

    monkeypatch.setattr(pipe.transformer, "forward", spy)
    monkeypatch.setattr(pipe.config.sample, "window_latent_frames", 4)
    out = pipe("x", num_frames=41, generator=0, **{**KW, "num_inference_steps": 2})
    assert out.frames.shape[1] == 41
    assert max(frames_seen) <= 4 and len(frames_seen) > 2 * 2


def test_bad_sizes_and_frame_counts_name_the_nearest_valid(pipe):
    with pytest.raises(ValueError, match="nearest valid size: 32x32"):
        pipe("x", height=30, width=33, num_frames=9)
    with pytest.raises(ValueError, match="nearest valid: 9 or 13"):
        pipe("x", height=32, width=32, num_frames=10)


def test_components_can_live_on_different_devices_and_dtypes(pipe):
    pipe.to(transformer="cpu", vae="cpu", text_encoder="cpu")
    assert next(pipe.transformer.parameters()).device.type == "cpu"
    half = Pipeline(copy.deepcopy(pipe.vae), copy.deepcopy(pipe.transformer), pipe.text_encoder, pipe.config)
    half.progress = False
    half.to(dtype=torch.bfloat16)
    assert next(half.transformer.parameters()).dtype == torch.bfloat16
    out = half("x", num_frames=5, generator=0, **KW)
    full = pipe("x", num_frames=5, generator=0, **KW)
    assert np.isfinite(out.frames).all() and psnr(to_uint8(out.frames), to_uint8(full.frames)) > 20.0
