"""Losses of VAE training: L1 + KL, a 3D patch discriminator (hinge), an optional perceptual loss."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)), summed over latent channels, averaged over positions and batch."""
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, C, T', H', W')
    return kl.sum(dim=1).mean()


def edge_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between finite differences along W, H and T (gradient-difference loss, Mathieu et al. 2016).

    Plain L1 is satisfied by a blurred edge that is right on average; matching the differences asks for
    the edge's position and contrast, so small shapes keep their corners.
    """
    loss = recon.new_zeros(())
    for dim in (4, 3, 2):  # W, H, T of (B, C, T, H, W)
        if recon.shape[dim] > 1:
            loss = loss + (recon.diff(dim=dim) - target.diff(dim=dim)).abs().mean()
    return loss


class PatchDiscriminator3D(nn.Module):
    """Scores overlapping spacetime patches real (> 0) or fake (< 0). Not causal: it only trains."""

    def __init__(self, in_channels: int = 3, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv3d(in_channels, width, (3, 4, 4), (1, 2, 2), (1, 1, 1)), nn.LeakyReLU(0.2)]
        ch = width
        for i in range(1, layers):
            out = width * min(2**i, 8)
            blocks += [nn.Conv3d(ch, out, (3, 4, 4), (1, 2, 2), (1, 1, 1)), nn.GroupNorm(min(32, out // 4), out),
                       nn.LeakyReLU(0.2)]
            ch = out
        blocks.append(nn.Conv3d(ch, 1, 3, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.net(video)  # (B, 1, T, H / 2^layers, W / 2^layers) logits


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def adaptive_weight(rec_loss: torch.Tensor, gen_loss: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
    """Scale the adversarial term so its gradient at the decoder's last layer matches reconstruction's (VQGAN)."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    gen_grad = torch.autograd.grad(gen_loss, last_layer, retain_graph=True)[0]
    weight = rec_grad.norm() / (gen_grad.norm() + 1e-4)
    return weight.clamp(0.0, 1e4).detach()


class PerceptualLoss(nn.Module):
    """Feature distance under a local Hugging Face vision model folder (e.g. a ViT, DINOv2, CLIP vision).

    Frames are resized to the model's input size and compared on every hidden state
    (unit-normalised per token, LPIPS-style). Nothing is downloaded: the folder must exist.
    """

    def __init__(self, folder: str) -> None:
        super().__init__()
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"vae_train.perceptual_model: {folder} is not a local model folder")
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        vision = getattr(config, "vision_config", config)  # CLIP keeps its vision part in a sub-config
        self.image_size = int(vision.image_size)
        model = AutoModel.from_pretrained(folder, local_files_only=True)
        self.model = model.vision_model if hasattr(model, "vision_model") else model
        self.model.eval().requires_grad_(False)

    def forward(self, recon: torch.Tensor, target: torch.Tensor, max_frames: int = 4) -> torch.Tensor:
        b, c, t, h, w = recon.shape
        idx = torch.linspace(0, t - 1, min(t, max_frames)).round().long()
        frames = torch.cat([recon[:, :, idx], target[:, :, idx]], 0)  # (2B, C, t', H, W)
        frames = frames.permute(0, 2, 1, 3, 4).reshape(-1, c, h, w)  # (2B t', C, H, W)
        frames = F.interpolate(frames, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        hidden = self.model(pixel_values=frames, output_hidden_states=True).hidden_states
        loss = recon.new_zeros(())
        for feats in hidden[1:]:
            if feats.ndim == 4:  # a CNN stage (N, C, H, W) -> (N, HW, C): tokens like a ViT's
                feats = feats.flatten(2).transpose(1, 2)
            feats = F.normalize(feats, dim=-1)  # unit length per token, as LPIPS
            fake, real = feats.chunk(2, dim=0)
            loss = loss + (fake - real).pow(2).sum(-1).mean()
        return loss / max(len(hidden) - 1, 1)
