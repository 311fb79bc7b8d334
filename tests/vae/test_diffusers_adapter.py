"""A diffusers VAE folder stands in for ours: same contract, same numbers as calling diffusers."""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from patchflow.models.vae import load_vae  # noqa: E402
from patchflow.models.vae.diffusers_adapter import DiffusersVAE  # noqa: E402


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory):
    torch.manual_seed(0)
    z_dim = 4
    model = diffusers.AutoencoderKLWan(
        base_dim=8, z_dim=z_dim, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.5, 0.5, 2.0, 1.0],
    ).eval()
    folder = tmp_path_factory.mktemp("wan") / "vae"
    model.save_pretrained(str(folder))
    return folder, model


def test_wan_round_trip(wan_folder, tmp_path):
    folder, reference = wan_folder
    vae = load_vae(folder)
    assert isinstance(vae, DiffusersVAE)
    assert (vae.temporal_factor, vae.spatial_factor, vae.latent_channels) == (4, 8, 4)
    x = torch.rand(1, 3, 5, 16, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x)
        assert z.shape == (1, 4, 2, 2, 3)
        raw = reference.encode(x).latent_dist.mean
        mean = torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1, 1)
        std = torch.tensor([1.5, 0.5, 2.0, 1.0]).view(1, 4, 1, 1, 1)
        torch.testing.assert_close(z, (raw - mean) / std)
        video = vae.decode(z)
        assert video.shape == x.shape
        torch.testing.assert_close(video, reference.decode(raw).sample.clamp(-1, 1), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="nearest valid: 5 or 9"):
        vae.encode(torch.zeros(1, 3, 6, 16, 16))
    # a whole model folder (vae/ inside) loads the same way
    assert isinstance(load_vae(folder.parent), DiffusersVAE)
