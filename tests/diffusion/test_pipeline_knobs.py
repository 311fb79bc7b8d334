"""The pipeline's sampling knobs end to end: x- and v-prediction of a perfect model give the same video, with
frames held by an image too; autoguidance by the model's own folder and an interval no step falls in are the
conditional model; the defaults are plain guidance."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from patchflow.models.dit import DiT
from patchflow.models.vae import CausalVAE
from patchflow.pipeline import Pipeline
from patchflow.recipes import get_recipe
from patchflow.text import TextEncoder

MU, SIGMA = 0.3, 0.8  # latents ~ N(MU, SIGMA^2) per element: the perfect denoiser has a closed form
ARGS = dict(height=32, width=32, num_frames=9, num_inference_steps=6, generator=0, output_type="latent")


class GaussianOracle(DiT):
    """A DiT that outputs the exact posterior mean of Gaussian latents: x_0 ("x") or eps - x_0 ("v")."""

    def __init__(self, cfg, prediction: str):
        super().__init__(cfg)
        self.prediction = prediction

    def forward(self, x, t, text, text_mask):
        b, _, frames = x.shape[:3]
        t = t.view(b, frames, -1)[..., 0].view(b, 1, frames, 1, 1).double()  # (B, N) -> (B, 1, T, 1, 1), p_t = 1
        var = (1 - t) ** 2 * SIGMA**2 + t**2
        centred = x.double() - (1 - t) * MU
        x0, eps = MU + (1 - t) * SIGMA**2 / var * centred, t / var * centred
        return (x0 if self.prediction == "x" else eps - x0).float()


@pytest.fixture(scope="module")
def parts():
    cfg = get_recipe("debug")
    torch.manual_seed(0)
    return cfg, CausalVAE(cfg.vae).eval(), TextEncoder(cfg.text)


def pipeline(parts, transformer, **flow_or_sample):
    cfg, vae, text = parts
    cfg = dataclasses.replace(cfg, flow=dataclasses.replace(cfg.flow, **flow_or_sample.get("flow", {})),
                              sample=dataclasses.replace(cfg.sample, **flow_or_sample.get("sample", {})))
    pipe = Pipeline(vae, transformer, text, cfg)
    pipe.progress = False
    return pipe


def test_x_and_v_prediction_of_a_perfect_model_make_the_same_video(parts):
    cfg = parts[0]
    image = np.full((32, 32, 3), 90, np.uint8)  # holds latent frame 0 clean: its tokens carry t = 0
    outs = {}
    for prediction in ("v", "x"):
        pipe = pipeline(parts, GaussianOracle(cfg.dit, prediction).eval(), flow={"prediction": prediction})
        outs[prediction] = [pipe("a red ball", **ARGS).frames, pipe("a red ball", image=image, **ARGS).frames]
    for v, x in zip(outs["v"], outs["x"], strict=True):
        assert torch.isfinite(x).all() and torch.allclose(v, x, atol=1e-4)
    assert not torch.allclose(outs["x"][0], outs["x"][1])  # the image did condition the output


def test_autoguidance_by_its_own_folder_and_an_empty_interval_are_the_conditional_model(parts, tmp_path):
    cfg = parts[0]
    torch.manual_seed(1)
    dit = DiT(cfg.dit).eval()
    for block in dit.blocks:  # a fresh DiT outputs exactly zero: wake the paths that read the text and x
        torch.nn.init.normal_(block.cross.out.weight, std=0.2)
    torch.nn.init.normal_(dit.proj_out.weight, std=0.2)
    dit.save_pretrained(tmp_path / "same")
    conditional = pipeline(parts, dit)("a red ball", guidance_scale=1.0, **ARGS).frames
    guided = pipeline(parts, dit)("a red ball", guidance_scale=4.0, **ARGS).frames
    plain = pipeline(parts, dit, sample={"guidance_interval": [0.0, 1.0]})("a red ball", guidance_scale=4.0, **ARGS)
    self_guided = pipeline(parts, dit, sample={"guidance_model": str(tmp_path / "same")})
    empty = pipeline(parts, dit, sample={"guidance_interval": [0.0, 0.0]})
    assert not torch.allclose(guided, conditional, atol=1e-3)
    assert torch.equal(plain.frames, guided)
    assert torch.allclose(self_guided("a red ball", guidance_scale=4.0, **ARGS).frames, conditional, atol=1e-6)
    assert torch.equal(empty("a red ball", guidance_scale=4.0, **ARGS).frames, conditional)
    missing = pipeline(parts, dit, sample={"guidance_model": str(tmp_path / "missing")})
    with pytest.raises(FileNotFoundError, match="guidance model"):
        missing("a red ball", guidance_scale=4.0, **ARGS)


def test_generate_takes_a_guidance_interval_and_a_guide_and_refuses_bad_ones(parts, tmp_path):
    from typer.testing import CliRunner

    from patchflow.cli import app

    cfg, vae, text = parts
    torch.manual_seed(2)
    dit = DiT(cfg.dit).eval()
    for block in dit.blocks:
        torch.nn.init.normal_(block.cross.out.weight, std=0.2)
    torch.nn.init.normal_(dit.proj_out.weight, std=0.2)
    model = Pipeline(vae, dit, text, cfg).save_pretrained(tmp_path / "model")

    def generate(name, *extra):
        args = ["generate", "--model", str(model), "--prompt", "a red ball", "--frames", "1", "--size", "32x32",
                "--steps", "3", "--device", "cpu", "--out", str(tmp_path / f"{name}.png"), *extra]
        result = CliRunner().invoke(app, args)
        return result, tmp_path / f"{name}.png"

    outputs = {}
    for name, extra in {"conditional": ["--guidance", "1"], "guided": ["--guidance", "4"],
                        "self_guided": ["--guidance", "4", "--guidance-model", str(model)],
                        "empty_interval": ["--guidance", "4", "--guidance-interval", "0,0"]}.items():
        result, path = generate(name, *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = np.asarray(Image.open(path))
    assert not np.array_equal(outputs["guided"], outputs["conditional"])
    assert np.array_equal(outputs["self_guided"], outputs["conditional"])
    assert np.array_equal(outputs["empty_interval"], outputs["conditional"])
    for extra, words in ((["--guidance-interval", "0.8,0.2"], "--guidance-interval"),
                         (["--guidance-interval", "half"], "--guidance-interval"),
                         (["--guidance-model", str(tmp_path / "missing")], "--guidance-model")):
        result, _ = generate("bad", *extra)
        assert result.exit_code != 0 and words in result.output, result.output
