"""Loss pieces: KL, hinge, adaptive weight, and the perceptual loss from a local model folder."""

import pytest
import torch

from patchflow.models.vae.losses import PatchDiscriminator3D, PerceptualLoss, hinge_d_loss, kl_loss


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 4, 3, 5, 5)
    assert kl_loss(zeros, zeros).item() == 0.0
    assert kl_loss(zeros + 1, zeros).item() == pytest.approx(4 * 0.5)  # 0.5 mu^2 per channel, summed


def test_discriminator_and_hinge():
    disc = PatchDiscriminator3D(3, width=8, layers=2)
    logits = disc(torch.zeros(1, 3, 5, 16, 16))
    assert logits.shape == (1, 1, 5, 4, 4)
    assert hinge_d_loss(torch.full((4,), 2.0), torch.full((4,), -2.0)).item() == 0.0


def test_perceptual_loss_from_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64)
    transformers.ViTModel(config).save_pretrained(tmp_path / "vit")
    loss_fn = PerceptualLoss(str(tmp_path / "vit"))
    target = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    recon = (target + 0.3 * torch.randn_like(target)).requires_grad_(True)
    assert loss_fn(target, target).item() == pytest.approx(0.0, abs=1e-6)
    loss = loss_fn(recon, target)
    loss.backward()
    assert loss.item() > 0 and recon.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss_fn.parameters())
    with pytest.raises(FileNotFoundError, match="not a local model folder"):
        PerceptualLoss(str(tmp_path / "missing"))
