"""How far apart a VAE puts the world's backgrounds in its normalised latent space.

    python bench/background_latents.py models/world-tiny $HOME/runs/world_tiny_v3/model

Each of the palette's five backgrounds is encoded as a flat 9-frame 64x64 clip; its latent is averaged over
the inner latent pixels (away from the borders' padding) to one vector of C channels, and each pair is
printed as the RMS of their difference per channel: the size of the per-token error (in the units the DiT's
loss sees) of drawing one background for another. A VAE that put backgrounds close together would hide them
from the loss; about 1 means they are as far apart as the latent's own spread.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.world.palette import BACKGROUND_COLORS  # noqa: E402


@torch.no_grad()
def background_distances(vae) -> dict[str, float]:
    """{"a-b": RMS per channel of the difference of the two backgrounds' mean latents} for every pair."""
    means = {}
    for name, rgb in BACKGROUND_COLORS.items():
        pixel = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1, 1) / 127.5 - 1.0  # [0, 255] -> [-1, 1]
        clip = pixel.expand(1, 3, 9, 64, 64).contiguous()  # (1, 3, T, H, W), one colour everywhere
        z = vae.encode(clip)  # (1, C, T', H', W')
        means[name] = z[0, :, :, 2:-2, 2:-2].mean(dim=(1, 2, 3))  # (C,)
    channels = vae.latent_channels
    return {f"{a}-{b}": float((means[a] - means[b]).pow(2).sum().sqrt()) / channels**0.5
            for a, b in itertools.combinations(means, 2)}


def main(argv=None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model folders (model_index.json) or VAE folders")
    args = ap.parse_args(argv)
    from patchflow.models.vae import load_vae

    out = {}
    for folder in args.models:
        distances = background_distances(load_vae(folder).eval())
        out[folder] = distances
        print(f"{folder}: " + ", ".join(f"{k} {v:.2f}" for k, v in distances.items())
              + f" (min {min(distances.values()):.2f}, max {max(distances.values()):.2f})")
    return out


if __name__ == "__main__":
    main()
