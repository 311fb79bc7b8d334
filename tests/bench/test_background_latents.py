"""bench/background_latents.py measures how far apart a VAE puts the palette's backgrounds."""

import importlib.util
from pathlib import Path

import torch

spec = importlib.util.spec_from_file_location("background_latents",
                                              Path(__file__).parents[2] / "bench" / "background_latents.py")
background_latents = importlib.util.module_from_spec(spec)
spec.loader.exec_module(background_latents)


class MeanColourVAE:
    """A stand-in VAE whose latent is the pixel colour itself (3 channels, 4x smaller each way)."""

    latent_channels = 3

    def encode(self, video):  # (B, 3, T, H, W) -> (B, 3, T, H/4, W/4)
        return torch.nn.functional.avg_pool3d(video, (1, 4, 4))


def test_distances_are_the_colour_differences_for_a_vae_that_keeps_the_colour():
    d = background_latents.background_distances(MeanColourVAE())
    assert len(d) == 10  # every pair of five backgrounds
    # black (12, 12, 14) and gray (96, 96, 100) in [-1, 1] units: RMS over the 3 channels
    expected = (((torch.tensor([96.0, 96, 100]) - torch.tensor([12.0, 12, 14])) / 127.5) ** 2).mean().sqrt()
    assert abs(d["black-gray"] - float(expected)) < 1e-5
    assert min(d.values()) > 0 and d["black-gray"] > d["black-navy"]  # gray is the farthest from black


def test_a_vae_that_forgets_the_colour_puts_them_together():
    class Blind(MeanColourVAE):
        def encode(self, video):
            return torch.zeros_like(super().encode(video))

    assert max(background_latents.background_distances(Blind()).values()) == 0.0
