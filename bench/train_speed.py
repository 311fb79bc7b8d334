"""Tokens per second and FLOP/s of a real DiT training step on the CPU, beside the CPU's matmul peak.

One step is what train/trainer.py runs for one micro-batch: draw t, a frame-condition mask and the
noise (sample_t, random_frame_mask, the recipe's flow config), `rectified_flow_loss` under the
trainer's own autocast (`autocast_for`), backward, gradient clipping at train.grad_clip, AdamW from
`build_optimizer` with the recipe's lr / betas / weight decay, the EMA update, zero_grad. Inputs are
random latents (B, C, T', H', W') and random text embeddings (B, L, D_text) with a padding mask, so
no VAE or text encoder is loaded; only text dropout (a torch.where) is left out.

    python bench/train_speed.py                                  # world_tiny's DiT, 17x64x64 bucket, all modes
    python bench/train_speed.py --threads 2 --steps 10 --warmup 3 --modes fp32-eager,bf16-eager
    python bench/train_speed.py --preset debug --modes fp32-compile --steps 2 --warmup 1
    python bench/train_speed.py --grid 9,16,28 --batch 2 --json  # one JSON line on stdout

Modes: fp32 / bf16 (torch.autocast("cpu", torch.bfloat16), weights and optimizer stay fp32) x eager /
compile (torch.compile of the whole DiT, or of each block as train.compile does with
--compile-scope blocks). A compile that fails is reported in its row; the other modes still run.

What the numbers mean:
- peak GFLOP/s (fp32, bf16): the best of --peak-repeats square matmuls of side --peak-size at
  --threads threads, 2 n^3 / seconds: what this CPU's matmul kernels reach, the ceiling to compare to.
- FLOPs per step: counted by torch.utils.flop_counter.FlopCounterMode over one forward + backward
  (matmuls and attention; elementwise work, the optimizer and the EMA count 0). Shown beside the
  model FLOPs of the same step from the config (patchflow/models/dit/flops.py: 3 x the forward, the
  count bench/ablate.py budgets in); the count is the higher by the scores that the attention backward
  recomputes (counted, not model FLOPs) and the lower by the input gradients the first layers skip.
- s/step: median wall time of the --steps timed steps (after --warmup untimed ones), split into
  fwd+bwd (inputs, loss, backward) and update (clip, AdamW, EMA, zero_grad).
- tokens/s: B x N / (s/step), the number train/logging.py's tok/s reports for the same shapes.
- GFLOP/s: counted FLOPs per step / (s/step); % peak: that over the peak of the mode's dtype (on a
  loaded machine the peak reads low and this can pass 100: measure on an idle one).
- first step s: the first warm-up step alone (it holds the compile time in compile modes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.diffusion.conditioning import random_frame_mask  # noqa: E402
from patchflow.diffusion.flow import sample_t  # noqa: E402
from patchflow.diffusion.flow_loss import rectified_flow_loss  # noqa: E402
from patchflow.models.dit import PRESETS, DiT  # noqa: E402
from patchflow.models.dit.embeddings import patch_grid  # noqa: E402
from patchflow.models.dit.flops import train_flops  # noqa: E402
from patchflow.parallel.parallelize import apply_compile  # noqa: E402
from patchflow.recipes import get_recipe  # noqa: E402
from patchflow.train.ema import EMA  # noqa: E402
from patchflow.train.optim import build_optimizer  # noqa: E402
from patchflow.train.trainer import autocast_for  # noqa: E402

MODES = ("fp32-eager", "bf16-eager", "fp32-compile", "bf16-compile")
console = Console(stderr=True)


# ----------------------------------------------------------------------------- the machine's ceiling


def matmul_peak(dtype: torch.dtype, size: int, repeats: int) -> float:
    """FLOP/s of the fastest of `repeats` (size x size) @ (size x size) products in `dtype`."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # first call: kernel selection and page faults, not counted
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


# ----------------------------------------------------------------------------- one training step


@dataclasses.dataclass
class Batch:
    """The fixed parts of a micro-batch; t, the frame mask and the noise are drawn per step."""

    x0: torch.Tensor  # (B, C, T', H', W') latents
    text: torch.Tensor  # (B, L, D_text) text-encoder tokens
    text_mask: torch.Tensor  # (B, L) bool, True = a real token

    @property
    def size(self) -> int:
        return self.x0.shape[0]


def make_batch(cfg, batch: int, latent_grid: tuple[int, int, int], text_len: int) -> Batch:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, cfg.in_channels, *latent_grid, generator=gen)
    text = torch.randn(batch, text_len, cfg.text_dim, generator=gen)
    # prompts are padded to max_length: each sample has its own number of real tokens
    lengths = torch.randint(min(8, text_len), text_len + 1, (batch,), generator=gen)
    text_mask = torch.arange(text_len)[None, :] < lengths[:, None]  # (B, L)
    return Batch(x0, text, text_mask)


def step_loss(call, model: DiT, batch: Batch, recipe, precision: str, step: int) -> torch.Tensor:
    """trainer.micro_loss on `batch`: the same draws, the same loss function, the same autocast."""
    gen = torch.Generator().manual_seed(step)  # every mode sees the same t and masks at each step
    grid = model.grid(batch.x0.shape)
    t = sample_t(batch.size, grid[0] * grid[1] * grid[2], recipe.flow, gen)  # (B,)
    frame_mask = random_frame_mask(batch.size, batch.x0.shape[2], recipe.flow.cond_mix, gen)  # (B, T')
    eps = torch.randn(batch.x0.shape, generator=gen)
    return rectified_flow_loss(call, batch.x0, eps, t, frame_mask, batch.text, batch.text_mask, grid,
                               model.cfg.patch_size[0], autocast_for(torch.device("cpu"), precision))


def count_step_flops(cfg, batch: Batch, recipe) -> tuple[int, int]:
    """(all, attention) FLOPs of one forward + backward, counted on an eager fp32 model."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    def forward(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(q_shape, k_shape, v_shape)

    def backward(grad_shape, q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_shape, q_shape, k_shape, v_shape)

    aten = torch.ops.aten
    # torch's table knows the CUDA attention kernels only; the CPU flash kernel takes q, k, v the same way
    cpu_attention = {aten._scaled_dot_product_flash_attention_for_cpu: forward,
                     aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}
    torch.manual_seed(0)
    model = DiT(cfg)
    with FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
        step_loss(model, model, batch, recipe, "fp32", 0).backward()
    per_op = counter.get_flop_counts()["Global"]
    attention = sum(n for op, n in per_op.items() if "attention" in str(op))
    return counter.get_total_flops(), attention


def run_mode(mode: str, cfg, batch: Batch, recipe, args, advance) -> dict:
    """Warm up, then time `args.steps` full training steps in `mode`; an error row if compile fails."""
    precision, how = mode.split("-")
    tc = recipe.train
    torch._dynamo.reset()  # no graphs or recompile counts carried over from the previous mode
    torch.manual_seed(0)
    model = DiT(cfg)
    opt = build_optimizer(model, tc.lr, tc.betas, tc.weight_decay)
    ema = EMA(model, tc.ema_decay)
    call = model
    if how == "compile" and args.compile_scope == "model":
        call = torch.compile(model)
    elif how == "compile":
        apply_compile(model)  # in place, per block: what train.compile=true does

    fwd_bwd, update = [], []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        try:
            loss = step_loss(call, model, batch, recipe, precision, step)
            loss.backward()
        except Exception as e:  # a compile failure shows up at the first call
            if how != "compile":
                raise
            first_line = (str(e).strip().splitlines() or [""])[0][:200]
            return {"mode": mode, "error": f"compile failed: {type(e).__name__}: {first_line}"}
        mid = time.perf_counter()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        if bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm)):  # the trainer's skip rule
            opt.step()
            ema.update(model)
        opt.zero_grad(set_to_none=True)
        end = time.perf_counter()
        if step == 0:
            first_step = end - start
        if step >= args.warmup:
            fwd_bwd.append(mid - start)
            update.append(end - mid)
        advance()
    totals = [a + b for a, b in zip(fwd_bwd, update, strict=True)]
    return {"mode": mode, "s_per_step": statistics.median(totals), "fwd_bwd_s": statistics.median(fwd_bwd),
            "update_s": statistics.median(update), "first_step_s": first_step}


# ----------------------------------------------------------------------------- command line


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="world_tiny", help="its dit, train, flow, text and bucket settings")
    ap.add_argument("--preset", choices=list(PRESETS), help="DiT size preset instead of the recipe's width/depth/heads")
    ap.add_argument("--grid", default="5,16,16", help="latent T',H',W' (5,16,16 = the 17-frame 64x64 bucket)")
    ap.add_argument("--batch", type=int, default=0, help="0 = the bucket rule: token_budget // tokens, <= max_batch")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--compile-scope", choices=["model", "blocks"], default="model",
                    help="torch.compile the whole DiT, or each block in place (train.compile)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per mode")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per mode first (>= 1)")
    ap.add_argument("--peak-size", type=int, default=2048, help="side of the square matmul of the peak")
    ap.add_argument("--peak-repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="one JSON line on stdout instead of the table")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        ap.error(f"unknown mode {unknown[0] if unknown else '(none)'!r}; pick from {', '.join(MODES)}")
    try:
        latent_grid = tuple(int(s) for s in args.grid.split(","))
    except ValueError:
        latent_grid = ()
    if len(latent_grid) != 3 or min(latent_grid) < 1:
        ap.error(f"--grid must be three positive integers T,H,W, got {args.grid!r}")
    if args.steps < 1 or args.warmup < 1 or args.threads < 1:
        ap.error("--steps, --warmup and --threads must each be at least 1")
    return args, modes, latent_grid


def main(argv=None) -> dict:
    args, modes, latent_grid = parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = get_recipe(args.recipe)
    cfg = recipe.dit if args.preset is None else dataclasses.replace(recipe.dit, preset=args.preset,
                                                                     **PRESETS[args.preset])
    try:
        grid = patch_grid(latent_grid, cfg.patch_size)  # (T'/p_t, H'/p_h, W'/p_w)
    except ValueError as e:
        sys.exit(f"--grid: {e}; pick multiples of dit.patch_size")
    n_tokens = grid[0] * grid[1] * grid[2]  # tokens per sample
    buckets = recipe.data.buckets
    batch_size = args.batch or max(1, min(buckets.max_batch, buckets.token_budget // n_tokens))
    batch = make_batch(cfg, batch_size, latent_grid, recipe.text.max_length)

    with console.status("matmul peak, FLOP count"):
        peak = {"fp32": matmul_peak(torch.float32, args.peak_size, args.peak_repeats),
                "bf16": matmul_peak(torch.bfloat16, args.peak_size, args.peak_repeats)}
        flops, attention_flops = count_step_flops(cfg, batch, recipe)
    params = DiT(cfg).num_params()
    used_text = int(batch.text_mask.any(dim=0).nonzero().max()) + 1  # the text columns the DiT keeps
    model_flops = train_flops(cfg, tuple(batch.x0.shape), used_text)

    rows = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("train steps", total=len(modes) * (args.warmup + args.steps))
        for mode in modes:
            bar.update(task, description=mode)
            row = run_mode(mode, cfg, batch, recipe, args, lambda: bar.advance(task))
            if "error" not in row:
                row["tokens_per_s"] = batch_size * n_tokens / row["s_per_step"]
                row["gflop_per_s"] = flops / row["s_per_step"] / 1e9
                row["pct_of_peak"] = 100 * flops / row["s_per_step"] / peak[mode.split("-")[0]]
            rows.append(row)

    result = {
        "recipe": args.recipe, "preset": cfg.preset, "width": cfg.width, "depth": cfg.depth, "heads": cfg.heads,
        "params": params, "latent_grid": list(latent_grid), "batch": batch_size, "tokens_per_sample": n_tokens,
        "text_len": recipe.text.max_length, "threads": torch.get_num_threads(), "steps": args.steps,
        "warmup": args.warmup, "compile_scope": args.compile_scope, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "peak_gflop_per_s": {k: v / 1e9 for k, v in peak.items()}, "peak_size": args.peak_size,
        "flops_per_step": flops, "attention_flops_per_step": attention_flops, "model_flops_per_step": model_flops,
        "modes": rows,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return result


def print_table(r: dict) -> None:
    out = Console()
    out = Console(width=max(out.width, 120))  # a pipe gets 80 columns: too narrow for the table
    out.print(f"{r['recipe']} DiT ({r['preset']}: width {r['width']}, depth {r['depth']}, heads {r['heads']}, "
              f"{r['params'] / 1e6:.2f} M params); latent grid {tuple(r['latent_grid'])}, batch {r['batch']} x "
              f"{r['tokens_per_sample']} tokens, text {r['text_len']}; {r['threads']} threads, torch {r['torch']}")
    out.print(f"matmul peak ({r['peak_size']}^2): fp32 {r['peak_gflop_per_s']['fp32']:.1f} GFLOP/s, "
              f"bf16 {r['peak_gflop_per_s']['bf16']:.1f} GFLOP/s")
    out.print(f"FLOPs per step (fwd+bwd): counted {r['flops_per_step'] / 1e9:.2f} G "
              f"(attention {r['attention_flops_per_step'] / 1e9:.2f} G), "
              f"model FLOPs from the config {r['model_flops_per_step'] / 1e9:.2f} G")
    table = Table("mode", "s/step", "fwd+bwd s", "update s", "tokens/s", "GFLOP/s", "% of peak", "first step s")
    for row in r["modes"]:
        if "error" in row:
            table.add_row(row["mode"], f"[red]{row['error']}[/]", *[""] * 6)
            continue
        table.add_row(row["mode"], f"{row['s_per_step']:.4f}", f"{row['fwd_bwd_s']:.4f}", f"{row['update_s']:.4f}",
                      f"{row['tokens_per_s']:.0f}", f"{row['gflop_per_s']:.2f}", f"{row['pct_of_peak']:.1f}",
                      f"{row['first_step_s']:.2f}")
    out.print(table)


if __name__ == "__main__":
    main()
