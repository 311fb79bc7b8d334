"""Properties of the causal VAE: causality, streaming = whole, tiling, shapes, errors, folders."""

import pytest
import torch

from patchflow.models.vae import CausalVAE, StreamCache, load_vae
from patchflow.models.vae.causal_conv import CausalConv3d
from patchflow.recipes import get_recipe


@pytest.fixture(scope="module", params=["zeros", "first_frame"])
def vae(request):
    """The debug VAE with each past padding: causality, streaming and tiling must hold for both."""
    torch.manual_seed(0)
    cfg = get_recipe("debug").vae
    cfg.base_width = 8  # the debug VAE, narrower: properties do not depend on width
    cfg.causal_padding = request.param
    model = CausalVAE(cfg).eval()
    # non-trivial normalisation so encode/decode exercise it
    model.latent_mean.copy_(torch.linspace(-0.3, 0.3, cfg.latent_channels))
    model.latent_std.copy_(torch.linspace(0.5, 2.0, cfg.latent_channels))
    return model


def video(t, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("t", [1, 5, 17])
def test_shapes(vae, t):
    with torch.no_grad():
        z = vae.encode(video(t, 32, 48))
        assert z.shape == (1, 4, 1 + (t - 1) // 4, 8, 12)
        assert vae.decode(z).shape == (1, 3, t, 32, 48)
        recon, mean, logvar = vae(video(t))
    assert recon.shape == (1, 3, t, 32, 32) and mean.shape == logvar.shape == (1, 4, 1 + (t - 1) // 4, 8, 8)


def test_encoder_is_causal(vae):
    x = video(17)
    with torch.no_grad():
        z = vae.encode(x)
        for k in (1, 4, 5, 9, 16):  # latent frame j sees frames up to 4j: it changes iff j >= ceil(k / 4)
            y = x.clone()
            y[:, :, k] = -y[:, :, k]
            z2 = vae.encode(y)
            first = (k + 3) // 4
            assert torch.equal(z2[:, :, :first], z[:, :, :first]), k
            assert not torch.allclose(z2[:, :, first], z[:, :, first]), k


def test_decoder_is_causal(vae):
    z = torch.randn(1, 4, 5, 8, 8)
    with torch.no_grad():
        x = vae.decode(z)
        z2 = z.clone()
        z2[:, :, 3] += 1.0  # latent frame 3 makes frames 9..12
        x2 = vae.decode(z2)
    assert torch.equal(x2[:, :, :9], x[:, :, :9])
    assert not torch.allclose(x2[:, :, 9], x[:, :, 9])


def test_first_frame_alone_equals_first_latent(vae):
    x = video(17)
    with torch.no_grad():
        assert torch.allclose(vae.encode(x[:, :, :1]), vae.encode(x)[:, :, :1], atol=1e-6)


@pytest.mark.parametrize("chunk", [4, 12])
def test_chunked_equals_whole(vae, chunk):
    x = video(21)
    with torch.no_grad():
        z = vae.encode(x)
        torch.testing.assert_close(vae.encode(x, chunk_frames=chunk), z, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vae.decode(z, chunk_frames=chunk), vae.decode(z), atol=1e-5, rtol=1e-5)


def test_stream_cache_stays_small(vae):
    """The cache holds a few frames per conv, whatever the video's length."""
    sizes = []
    for t in (9, 33):
        x, cache = video(t), StreamCache()
        with torch.no_grad():
            vae.encoder(x[:, :, :1], cache)
            for t0 in range(1, t, 4):
                vae.encoder(x[:, :, t0: t0 + 4], cache)
        sizes.append(cache.nbytes())
    assert sizes[0] == sizes[1] > 0


def test_strided_causal_conv_streams_exactly():
    torch.manual_seed(0)
    conv = CausalConv3d(2, 3, (3, 1, 1), (2, 1, 1))
    conv.cache_key = "c"
    x = torch.randn(1, 2, 13, 4, 4)
    whole = conv(x)
    cache = StreamCache()
    parts = [conv(x[:, :, :5], cache), conv(x[:, :, 5:9], cache), conv(x[:, :, 9:], cache)]
    assert whole.shape[2] == 7
    torch.testing.assert_close(torch.cat(parts, 2), whole)


def test_tiled_decode_matches_away_from_seams(vae):
    z = torch.randn(1, 4, 1, 40, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = vae.decode(z, tile=0)
        tiled = vae.decode(z, tile=96)  # tiles [0, 96) and [64, 160) px in each direction
    assert tiled.shape == whole.shape
    # farther than the decoder's receptive field (about 13 latent px) from any tile edge: equal
    torch.testing.assert_close(tiled[..., :40, :40], whole[..., :40, :40], atol=1e-5, rtol=1e-5)
    assert (tiled - whole).abs().mean() < 0.01


def test_tiled_encode_matches_away_from_seams(vae):
    x = video(5, 160, 160, seed=3)
    with torch.no_grad():
        whole = vae.encode(x, tile=0)
        tiled = vae.encode(x, tile=96)
    torch.testing.assert_close(tiled[..., :8, :8], whole[..., :8, :8], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "shape, words",
    [((1, 3, 6, 32, 32), "nearest valid: 5 or 9"), ((1, 3, 5, 30, 32), "H = 30"), ((1, 3, 5, 32, 34), "32 or 36"),
     ((1, 1, 5, 32, 32), "channels"), ((3, 5, 32, 32), "(B, C, T, H, W)")],
)
def test_bad_shapes_raise_clear_errors(vae, shape, words):
    with pytest.raises(ValueError) as info:
        vae.encode(torch.zeros(shape))
    assert words in str(info.value)


def test_bad_chunk_raises(vae):
    with pytest.raises(ValueError, match="multiple of temporal_factor 4; nearest valid: 4 or 8"):
        vae.encode(video(17), chunk_frames=6)


def test_bad_factors_raise():
    cfg = get_recipe("debug").vae
    cfg.spatial_factor = 16
    with pytest.raises(ValueError, match="need at least 5"):
        CausalVAE(cfg)
    cfg.spatial_factor, cfg.temporal_factor = 4, 3
    with pytest.raises(ValueError, match="temporal_factor must be one of"):
        CausalVAE(cfg)


@pytest.mark.parametrize("rt, sf, mults", [(1, 4, [1, 2, 2]), (2, 8, [1, 1, 2, 2]), (8, 4, [1, 1, 2, 2])])
def test_other_factors(rt, sf, mults):
    cfg = get_recipe("debug").vae
    cfg.temporal_factor, cfg.spatial_factor, cfg.width_mults, cfg.base_width = rt, sf, mults, 8
    cfg.mid_attention = True
    model = CausalVAE(cfg).eval()
    t = 1 + 2 * rt
    x = video(t, 16, 16)
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (1, 4, 3, 16 // sf, 16 // sf)
        assert model.decode(z).shape == x.shape
        torch.testing.assert_close(model.encode(x, chunk_frames=rt), z, atol=1e-5, rtol=1e-5)


def test_save_and_load(vae, tmp_path):
    vae.save_pretrained(tmp_path / "vae")
    assert (tmp_path / "vae" / "config.json").exists()
    assert (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").exists()
    for folder in (tmp_path / "vae", tmp_path):  # a VAE folder or a whole model folder with vae/
        loaded = load_vae(folder)
        assert isinstance(loaded, CausalVAE)
        x = video(5)
        with torch.no_grad():
            torch.testing.assert_close(loaded.encode(x), vae.encode(x))
        torch.testing.assert_close(loaded.latent_std, vae.latent_std)


def test_still_clip_encodes_to_one_latent_with_first_frame_padding():
    """A still clip's latent frames are all the same code with first-frame padding (zeros differ).

    With zeros before frame 0, every layer's output changes until its temporal receptive field is full of
    real frames, so one picture got a different code at each temporal position, and the DiT had to learn
    a position-dependent code for "the same thing again".
    """
    torch.manual_seed(0)
    still = video(1).expand(-1, -1, 17, -1, -1)  # (1, 3, 17, 32, 32): one frame, 17 times
    spread = {}
    for padding in ("zeros", "first_frame"):
        cfg = get_recipe("debug").vae
        cfg.causal_padding = padding
        torch.manual_seed(0)
        model = CausalVAE(cfg).eval()
        with torch.no_grad():
            z = model.encode(still)  # (1, 4, 5, 8, 8)
        spread[padding] = (z - z[:, :, :1]).abs().max().item()
    assert spread["first_frame"] < 1e-5
    assert spread["zeros"] > 1e-2


def test_unknown_causal_padding_is_a_clear_error():
    cfg = get_recipe("debug").vae
    cfg.causal_padding = "reflect"
    with pytest.raises(ValueError, match="causal_padding must be one of"):
        CausalVAE(cfg)
