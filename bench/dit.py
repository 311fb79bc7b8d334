"""Training-step speed of our DiT against diffusers' WanTransformer3DModel at the same size.

Both models get the same width, depth, heads, MLP width, patch size, latent
grid, batch and text length, random weights, and the same step: forward,
MSE loss, backward. The peer gets its cheapest time input (one t per sample);
ours takes one t per token, as always. Steps of the two models alternate, so
load from other processes hits both alike; the median step time is reported.

    python bench/dit.py                     # table
    python bench/dit.py --json              # one JSON line: ours_s, peer_s, ratio = peer / ours
    python bench/dit.py --preset S --grid 5,32,32 --batch 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.models.dit import DiT, dit_config  # noqa: E402


def build_peer(cfg, device, dtype):
    from diffusers import WanTransformer3DModel

    peer = WanTransformer3DModel(
        patch_size=tuple(cfg.patch_size), num_attention_heads=cfg.heads, attention_head_dim=cfg.width // cfg.heads,
        in_channels=cfg.in_channels, out_channels=cfg.in_channels, text_dim=cfg.text_dim, freq_dim=256,
        ffn_dim=int(cfg.width * cfg.mlp_ratio), num_layers=cfg.depth, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
    )
    # bf16: every weight cast, as ours (.to(dtype) on an fp32 model only triggers a diffusers warning)
    return peer.to(device) if dtype == torch.float32 else peer.to(device, dtype)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--grid", default="5,32,32", help="latent T,H,W (before patching)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--text-len", type=int, default=48)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = torch's default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    cfg = dit_config(args.preset, in_channels=args.channels, text_dim=384)
    ours = DiT(cfg).to(device, dtype)
    peer = build_peer(cfg, device, dtype)
    for p in list(ours.parameters()) + list(peer.parameters()):  # no zero-init shortcuts in backward
        p.data.normal_(0, 0.02) if p.dim() > 1 else None

    T, H, W = (int(s) for s in args.grid.split(","))
    B, L = args.batch, args.text_len
    x = torch.randn(B, args.channels, T, H, W, device=device, dtype=dtype)
    N = ours.grid(x.shape)[0] * ours.grid(x.shape)[1] * ours.grid(x.shape)[2]  # tokens per sample
    t = torch.rand(B, device=device)
    text = torch.randn(B, L, cfg.text_dim, device=device, dtype=dtype)
    mask = torch.ones(B, L, dtype=torch.bool, device=device)
    target = torch.randn_like(x)

    # mixed: latent frame 0 held clean (t = 0), as in image-to-video training: per-token modulation
    grid = ours.grid(x.shape)
    t_mixed = t[:, None].expand(B, N).clone()
    t_mixed[:, : grid[1] * grid[2]] = 0.0

    def step_ours(tt):
        out = ours(x, tt, text, mask)
        (out.float() - target.float()).pow(2).mean().backward()

    def step_peer():
        out = peer(x, t * 1000, text, return_dict=False)[0]
        (out.float() - target.float()).pow(2).mean().backward()

    steps = (
        ("ours", lambda: step_ours(t[:, None].expand(B, N)), ours),
        ("peer", step_peer, peer),
        ("ours_mixed", lambda: step_ours(t_mixed), ours),
    )
    times = {name: [] for name, _, _ in steps}
    for i in range(args.warmup + args.iters):
        for name, fn, model in steps:
            model.zero_grad(set_to_none=True)
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)

    ours_s, peer_s, mixed_s = (statistics.median(times[k]) for k in ("ours", "peer", "ours_mixed"))
    result = {
        "preset": args.preset, "width": cfg.width, "depth": cfg.depth, "heads": cfg.heads,
        "batch": B, "tokens": N, "text_len": L, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(), "params_ours": ours.num_params(),
        "params_peer": sum(p.numel() for p in peer.parameters()),
        "ours_s": round(ours_s, 4), "peer_s": round(peer_s, 4), "ours_mixed_t_s": round(mixed_s, 4),
        "ours_tokens_per_s": round(B * N / ours_s), "peer_tokens_per_s": round(B * N / peer_s),
        "ratio": round(peer_s / ours_s, 3), "cpu": platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.preset}: width {cfg.width}, depth {cfg.depth}, heads {cfg.heads}; {B} x {N} tokens, "
              f"text {L}; {result['device']} {result['dtype']}")
        print(f"  ours  {ours_s:.4f} s/step  {result['ours_tokens_per_s']:>8} tokens/s  {result['params_ours']:,} params")
        print(f"  ours, frame 0 at t=0 (per-token t)  {mixed_s:.4f} s/step")
        print(f"  wan   {peer_s:.4f} s/step  {result['peer_tokens_per_s']:>8} tokens/s  {result['params_peer']:,} params")
        print(f"  ratio (wan / ours) {result['ratio']}")
    return result


if __name__ == "__main__":
    main()
