"""VAE variants side by side: training-step speed, encode/decode speed, and PSNR along a clip.

    python bench/vae_variants.py precision --threads 2        # fp32 / bf16 autocast, eager / compiled
    python bench/vae_variants.py step-cost --threads 1        # training-step cost of the ablation arms
    python bench/vae_variants.py infer --threads 1            # encode / decode speed against the bundled VAE
    python bench/vae_variants.py windows RUN_DIR [RUN_DIR..]  # held-out PSNR of 33-frame clips by 4-frame window

Every timing alternates the variants in one process and reports the second-best of the timed repeats, so
load from other jobs falls on all of them alike: read ratios, not absolute times. docs/results.md ("The world
VAE: what limits it") holds the numbers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from patchflow.models.vae import CausalVAE, load_vae
from patchflow.recipes import get_recipe


def _second_best(times: list[float]) -> float:
    return sorted(times)[min(1, len(times) - 1)]


def _train_step(model, opt, x, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        recon, _, _ = model(x)
    loss = (recon.float() - x).abs().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def _time_train(models: dict, x: torch.Tensor, repeats: int, bf16: dict) -> dict[str, float]:
    opts = {k: torch.optim.AdamW(m.parameters(), 1e-3) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(repeats + 2):  # two warm-up rounds (compile, allocator)
        for k, m in models.items():
            start = time.perf_counter()
            _train_step(m, opts[k], x, bf16[k])
            if i >= 2:
                times[k].append(time.perf_counter() - start)
    return {k: _second_best(v) for k, v in times.items()}


def precision(args) -> None:
    """fp32 against bf16 autocast, eager and compiled, on the world_tiny VAE (batch 8 x 9 x 32 x 32)."""
    vae = CausalVAE(get_recipe(args.recipe).vae)
    compiled = torch.compile(vae)
    x = torch.rand(8, 3, 9, 32, 32) * 2 - 1
    result = _time_train({"fp32": vae, "bf16": vae, "fp32 compiled": compiled, "bf16 compiled": compiled}, x,
                         args.repeats, {"fp32": False, "bf16": True, "fp32 compiled": False, "bf16 compiled": True})
    for k, v in result.items():
        print(f"{k:14s} {v:.3f} s/step")


ARMS = {
    "base": {},
    "lat16": {"latent_channels": 16},
    "tf2_lat16": {"latent_channels": 16, "temporal_factor": 2},
    "wide32_lat16": {"latent_channels": 16, "base_width": 32, "width_mults": [1, 2, 2]},
}


def step_cost(args) -> None:
    """Training-step cost of each ablation arm against the base, bf16, batch 6 x 9 x 32 x 32."""
    base = get_recipe(args.recipe).vae
    models = {k: CausalVAE(replace(base, **kw)) for k, kw in ARMS.items()}
    x = torch.rand(6, 3, 9, 32, 32) * 2 - 1
    result = _time_train(models, x, args.repeats, dict.fromkeys(models, True))
    for k, v in result.items():
        params = sum(p.numel() for p in models[k].parameters()) / 1e6
        print(f"{k:14s} {params:.2f}M params  {v:.3f} s/step  x{v / result['base']:.2f}")


def infer(args) -> None:
    """Encode and decode of 1 x 3 x 33 x 64 x 64 (chunks of 16 frames): the bundled VAE against variants."""
    bundled = load_vae(args.bundled).eval()
    models = {"bundled": bundled}
    for name, kw in (("16 ch, 2x time, first_frame", {"latent_channels": 16, "temporal_factor": 2,
                                                       "causal_padding": "first_frame"}),
                     ("16 ch, 4x time, first_frame", {"latent_channels": 16, "causal_padding": "first_frame"})):
        models[name] = CausalVAE(replace(bundled.cfg, **kw)).eval()
    x = torch.rand(1, 3, 33, 64, 64) * 2 - 1
    enc: dict[str, list[float]] = {k: [] for k in models}
    dec: dict[str, list[float]] = {k: [] for k in models}
    with torch.no_grad():
        for i in range(args.repeats + 1):
            for k, m in models.items():
                t0 = time.perf_counter()
                z = m.encode(x, chunk_frames=16)
                t1 = time.perf_counter()
                m.decode(z, chunk_frames=16)
                if i:
                    enc[k].append(t1 - t0)
                    dec[k].append(time.perf_counter() - t1)
    e0, d0 = _second_best(enc["bundled"]), _second_best(dec["bundled"])
    for k in models:
        e, d = _second_best(enc[k]), _second_best(dec[k])
        print(f"{k:30s} encode {e:.3f} s (x{e / e0:.2f})  decode {d:.3f} s (x{d / d0:.2f})")


@torch.no_grad()
def windows(args) -> None:
    """Held-out PSNR of 33-frame world clips: frame 0, then each 4-frame window (frames 1-4, 5-8, ...)."""
    from patchflow.eval.vae_metrics import heldout_world_samples

    cfg = get_recipe(args.recipe)
    cfg.world.frames = [33]
    for run in args.runs:
        vae = load_vae(run).eval()
        samples = heldout_world_samples(cfg, args.n, vae.temporal_factor, vae.spatial_factor)
        err = torch.zeros(33)
        for video, _ in samples:
            recon = vae.decode(vae.encode(video[None]))[0]  # (C, T, H, W)
            err += ((recon - video) / 2).pow(2).mean(dim=(0, 2, 3))  # (T,) squared error per frame
        mse = err / len(samples)
        by_window = [-10 * torch.log10(mse[1 + 4 * j: 5 + 4 * j].mean()).item() for j in range(8)]
        print(f"{run}: frame 0 {-10 * torch.log10(mse[0]).item():.1f} dB; windows "
              + " ".join(f"{p:.1f}" for p in by_window))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["precision", "step-cost", "infer", "windows"])
    parser.add_argument("runs", nargs="*", help="VAE or model folders (for windows)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--recipe", default="world_tiny")
    parser.add_argument("--bundled", default="models/world-tiny", help="the VAE the infer timings compare against")
    parser.add_argument("--n", type=int, default=12, help="held-out clips (windows)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "windows" and not args.runs:
        parser.error("windows needs at least one VAE folder")
    {"precision": precision, "step-cost": step_cost, "infer": infer, "windows": windows}[args.what](args)


if __name__ == "__main__":
    main()
