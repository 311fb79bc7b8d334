"""The DiT: zero start, per-token time, text mask, save/load, presets."""

import json

import pytest
import torch

from patchflow.config import DiTConfig
from patchflow.models.dit import DiT, dit_config
from patchflow.models.dit.presets import PRESETS

C, T, H, W = 4, 3, 6, 10  # odd grid: 3 x 3 x 5 = 45 tokens with patch 1x2x2
N = 45


def make(seed=0, randomize=True, **kw):
    torch.manual_seed(seed)
    model = DiT(dit_config("debug", in_channels=C, text_dim=32, **kw)).eval()
    if randomize:  # a fresh model is exactly zero; give every weight a value so outputs depend on inputs
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.2)
    return model


def inputs(B=2, L=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, H, W, generator=g)
    text = torch.randn(B, L, 32, generator=g)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 4:] = False  # sample 0 has 4 real tokens and 3 padding tokens
    return x, text, mask


def test_fresh_model_predicts_exactly_zero():
    model = make(randomize=False)
    x, text, mask = inputs()
    v = model(x, torch.rand(2, N), text, mask)
    assert v.shape == x.shape and torch.equal(v, torch.zeros_like(x))
    assert model.grid(x.shape) == (3, 3, 5)


def test_output_shape_and_grid_error():
    model = make()
    x, text, mask = inputs()
    assert model(x, torch.rand(2, N), text, mask).shape == x.shape
    with pytest.raises(ValueError, match="H=7 % 2"):
        model(torch.randn(2, C, 3, 7, 10), torch.rand(2, 3 * 3 * 5), text, mask)
    with pytest.raises(ValueError, match="one time per token"):
        model(x, torch.rand(2), text, mask)


def test_per_token_time_conditioned_tokens_matter():
    model = make()
    x, text, mask = inputs()
    t = torch.full((2, N), 0.7)
    t[:, :15] = 0.0  # latent frame 0 is a conditioning frame: its 15 tokens are clean
    v = model(x, t, text, mask)
    t2 = t.clone()
    t2[:, :15] = 0.3
    v2 = model(x, t2, text, mask)
    assert v.shape == x.shape and torch.isfinite(v).all()
    # the conditioned tokens' own output and, through attention, the other frames' outputs change
    assert (v[:, :, 0] - v2[:, :, 0]).abs().max() > 1e-3
    assert (v[:, :, 1:] - v2[:, :, 1:]).abs().max() > 1e-4
    # and the time of the unconditioned tokens matters too
    t3 = t.clone()
    t3[:, 15:] = 0.2
    assert (model(x, t3, text, mask) - v).abs().max() > 1e-3


def test_mixed_batch_equals_samples_run_alone():
    """Per-token modulation is gathered from shared distinct times: no leak between samples or tokens."""
    model = make()
    x, text, mask = inputs()
    per_frame = torch.full((2, N), 0.4)  # sample 0: one time (alone: one group) ...
    per_frame[1, :15], per_frame[1, 15:] = 0.0, 0.8  # ... sample 1: frame 0 clean (groups per frame)
    for t in (per_frame, torch.rand(2, N)):  # and any time per token
        both = model(x, t, text, mask)
        for i in range(2):
            alone = model(x[i : i + 1], t[i : i + 1], text[i : i + 1], mask[i : i + 1])
            assert torch.allclose(both[i : i + 1], alone, atol=1e-5)


def test_time_conditioning_groups_match_per_token_computation():
    model = make()
    grid = (3, 3, 5)
    per_frame = torch.cat([torch.zeros(3, 15), torch.full((3, 30), 0.6)], 1)
    cases = {N: torch.rand(3, N), 1: torch.full((3, N), 0.25), 3: per_frame}
    per_frame_mixed = per_frame.clone()
    per_frame_mixed[1] = 0.9
    cases[3] = per_frame_mixed  # one sample per frame, another constant: still per frame
    for groups, t in cases.items():
        temb, mod = model.time_conditioning(t, grid)
        assert temb.shape == (3, groups, 64) and mod.shape == (3, groups, 6, 64)
        ref_temb = model.t_embed(t)
        assert torch.allclose(DiT.expand_groups(temb, N), ref_temb, atol=1e-5)
        assert torch.allclose(DiT.expand_groups(mod, N), model.adaln(ref_temb), atol=1e-4)


def test_text_padding_tokens_do_not_change_the_output():
    model = make()
    x, text, mask = inputs()
    t = torch.rand(2, N)
    v = model(x, t, text, mask)
    junk = text.clone()
    junk[0, 4:] = torch.randn(3, 32) * 10  # only padding positions
    assert torch.allclose(model(x, t, junk, mask), v, atol=1e-5)
    real = text.clone()
    real[0, 1] += 1.0  # a real token does matter
    assert (model(x, t, real, mask)[0] - v[0]).abs().max() > 1e-3
    assert torch.allclose(model(x, t, real, mask)[1], v[1], atol=1e-5)
    # padding columns that no sample uses are trimmed: same output with or without them
    longer = torch.cat([text, torch.randn(2, 5, 32)], 1)
    longer_mask = torch.cat([mask, torch.zeros(2, 5, dtype=torch.bool)], 1)
    assert torch.allclose(model(x, t, longer, longer_mask), v, atol=1e-5)
    # an all-true mask (passed to attention as None) equals explicit masking of nothing
    full = torch.ones_like(mask)
    ref = model._trim_text(text, full)
    assert ref[1] is None and torch.equal(ref[0], text)
    # a mask with no valid token still gives a finite output
    assert torch.isfinite(model(x, t, text, torch.zeros_like(mask))).all()


def test_save_and_from_pretrained_round_trip(tmp_path):
    model = make(patch_size=[1, 2, 2])
    x, text, mask = inputs()
    t = torch.rand(2, N)
    model.save_pretrained(tmp_path / "transformer")
    cfg = json.loads((tmp_path / "transformer" / "config.json").read_text())
    assert cfg["width"] == 64 and cfg["_class_name"] == "PatchflowDiT"
    assert (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = DiT.from_pretrained(tmp_path / "transformer").eval()
    assert loaded.cfg == model.cfg
    assert torch.equal(loaded(x, t, text, mask), model(x, t, text, mask))
    with pytest.raises(FileNotFoundError):
        DiT.from_pretrained(tmp_path / "missing")


def test_presets_and_param_count():
    assert set(PRESETS) >= {"debug", "S", "B", "L", "XL"}
    cfg = dit_config("B", in_channels=16)
    assert (cfg.width, cfg.depth, cfg.heads, cfg.in_channels) == (768, 12, 12, 16)
    small = DiT(dit_config("debug"))
    assert small.num_params() == sum(p.numel() for p in small.parameters()) > 100_000
    with pytest.raises(ValueError, match="unknown DiT preset"):
        dit_config("huge")
    with pytest.raises(ValueError, match="not divisible"):
        DiT(DiTConfig(width=66, heads=4))


def test_patch_size_2x2x2_and_backward():
    model = make(patch_size=[2, 2, 2])
    x = torch.randn(1, C, 4, 4, 6)
    n = 2 * 2 * 3
    v = model(x, torch.rand(1, n), torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool))
    v.pow(2).mean().backward()
    assert v.shape == x.shape
    assert all(p.grad is not None for p in model.parameters())


def test_grouped_modulation_equals_per_token_modulation(monkeypatch):
    """The blocks' broadcast over token groups gives what one modulation row per token gives."""
    model = make()
    x, text, mask = inputs()
    t = torch.full((2, N), 0.3)
    t[1, :15] = 0.0  # groups per latent frame
    grouped = model(x, t, text, mask)
    plain = DiT.time_conditioning

    def per_token(self, t, grid):
        temb, mod = plain(self, t, grid)
        assert mod.shape[1] == 3  # the per-frame shortcut was taken
        return DiT.expand_groups(temb, N), DiT.expand_groups(mod, N)

    monkeypatch.setattr(DiT, "time_conditioning", per_token)
    assert torch.allclose(model(x, t, text, mask), grouped, atol=1e-5)
