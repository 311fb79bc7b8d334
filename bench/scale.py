"""How close a DiT training step gets to the hardware, from debug to L and from 1k to 32k tokens a sample.

    python bench/scale.py --quick                 # seconds: the smallest settings, to check it runs
    python bench/scale.py                         # the default sweep (under 10 minutes on a 2-core CPU)
    python bench/scale.py --json out.json         # also write every row as JSON
    python bench/scale.py --presets B,L --tokens 4096,16384 --budget-s 1800   # on a GPU

Three parts (docs/scale.md explains them and shows results):

1. FLOPs. Model FLOPs per token of the DiT, from its config (patchflow/models/dit/flops.py, the formula of
   docs/scale.md, attention included), checked against torch's FlopCounterMode on one training step
   (forward alone, and forward + backward, whose count also charges the attention backward's recomputed
   scores). A training step does 3x the forward's model FLOPs; activation checkpointing runs the forward
   twice, but model FLOPs (and MFU) do not count the recomputation.
2. Speed. For each preset and sequence length, with and without activation checkpointing: one sample of
   N tokens (a latent grid of N / 1024 frames of 64 x 64, patch 1x2x2), a whole training step as the
   trainer runs it (rectified-flow loss under its autocast, backward, AdamW); tokens/s, achieved model
   FLOP/s, and on a GPU the MFU against its dense bf16 peak (`--peak-tflops` for a GPU not in the table).
   Steps are timed smallest first; a setting whose estimated step time (its FLOPs at the best rate seen so
   far) exceeds --max-step-s, or that would overrun --budget-s, is skipped and listed as skipped.
3. Memory. Peak memory of one training step against the sequence length, on 1 process and on 2 processes
   that split the tokens (Ulysses sequence parallelism, gloo on CPU, NCCL on 2 GPUs): on a GPU
   torch.cuda.max_memory_allocated, on a CPU the growth of the process's peak resident memory (each
   setting in fresh processes). Sequence parallelism divides the activations per process by about P.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import socket
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.config import DiTConfig  # noqa: E402
from patchflow.diffusion.flow_loss import rectified_flow_loss  # noqa: E402
from patchflow.models.dit import PRESETS, DiT  # noqa: E402
from patchflow.models.dit.flops import forward_flops, recomputed_score_flops, train_flops_per_token  # noqa: E402
from patchflow.recipes import get_recipe  # noqa: E402

SIDE = 32  # tokens per side of a latent frame: a 64 x 64 latent with 2 x 2 patches (256 x 256 pixels at 4x)
# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), from the vendors' data sheets, by a part of the name
# torch.cuda.get_device_name gives; the first match wins, so longer names come before their prefixes.
GPU_PEAK_TFLOPS = [("H200", 989.4), ("H100 80GB HBM3", 989.4), ("H100 NVL", 835.0), ("H100 PCIe", 756.0),
                   ("H100", 756.0), ("A100", 312.0), ("L40S", 362.1), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0),
                   ("RTX 4090", 165.2), ("RTX 3090", 71.0)]


# ----------------------------------------------------------------------------- 1. FLOPs, checked


def _cpu_attention_mapping():
    """FlopCounterMode knows the CUDA attention kernels; the CPU flash kernel takes q, k, v the same way."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    def forward(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(q_shape, k_shape, v_shape)

    def backward(grad_shape, q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_shape, q_shape, k_shape, v_shape)

    aten = torch.ops.aten
    return {aten._scaled_dot_product_flash_attention_for_cpu: forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}


def flop_check(cfg: DiTConfig, frames: int, text_tokens: int) -> dict:
    """The formula against FlopCounterMode on one fp32 training step on the CPU (forward; forward + backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = DiT(cfg)
    batch = make_inputs(cfg, frames, text_tokens, torch.device("cpu"))
    n = frames * SIDE * SIDE
    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_mapping()) as forward_counter:
        loss = step_loss(model, cfg, batch, torch.device("cpu"), "fp32")
    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_mapping()) as backward_counter:
        loss.backward()
    formula = forward_flops(cfg, n, text_tokens)
    recompute = recomputed_score_flops(cfg, n, text_tokens)  # the counter charges them, model FLOPs do not
    counted_fwd = forward_counter.get_total_flops()
    counted_step = counted_fwd + backward_counter.get_total_flops()
    return {"preset": cfg.preset, "tokens": n, "text_tokens": text_tokens,
            "formula_forward": formula["total"], "counted_forward": counted_fwd,
            "formula_step": 3 * formula["total"] + recompute, "counted_step": counted_step,
            "forward_ratio": counted_fwd / formula["total"], "step_ratio": counted_step / (3 * formula["total"] + recompute)}


# ----------------------------------------------------------------------------- 2. speed


@dataclasses.dataclass
class Inputs:
    x0: torch.Tensor  # (1, C, T', 64, 64) latents
    text: torch.Tensor  # (1, L, D_text)
    text_mask: torch.Tensor  # (1, L) bool, all real: the formula's L


def make_inputs(cfg: DiTConfig, frames: int, text_tokens: int, device: torch.device) -> Inputs:
    g = torch.Generator().manual_seed(0)
    side = SIDE * cfg.patch_size[1]
    x0 = torch.randn(1, cfg.in_channels, frames * cfg.patch_size[0], side, side, generator=g)
    text = torch.randn(1, text_tokens, cfg.text_dim, generator=g)
    return Inputs(x0.to(device), text.to(device), torch.ones(1, text_tokens, dtype=torch.bool, device=device))


def step_loss(call, cfg: DiTConfig, batch: Inputs, device: torch.device, precision: str) -> torch.Tensor:
    """The trainer's micro-batch loss (one time for the sample, no conditioned frame) under its autocast."""
    from patchflow.train.trainer import autocast_for

    g = torch.Generator().manual_seed(1)
    eps = torch.randn(batch.x0.shape, generator=g).to(device)
    t = torch.full((1,), 0.5, device=device)
    frame_mask = torch.zeros(1, batch.x0.shape[2], dtype=torch.bool, device=device)
    grid = tuple(s // p for s, p in zip(batch.x0.shape[2:], cfg.patch_size, strict=True))
    return rectified_flow_loss(call, batch.x0, eps, t, frame_mask, batch.text, batch.text_mask, grid,
                               cfg.patch_size[0], autocast_for(device, precision))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(cfg: DiTConfig, frames: int, text_tokens: int, ac: bool, device: torch.device, steps: int,
               warmup: int) -> float:
    """Median seconds of a whole training step (loss, backward, AdamW) after `warmup` untimed ones."""
    from patchflow.parallel.parallelize import apply_activation_checkpointing
    from patchflow.train.optim import build_optimizer

    torch.manual_seed(0)
    model = DiT(cfg).to(device)
    if ac:
        apply_activation_checkpointing(model)
    opt = build_optimizer(model, 1e-4, [0.9, 0.99], 0.01)
    batch = make_inputs(cfg, frames, text_tokens, device)
    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        step_loss(model, cfg, batch, device, "auto").backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def gpu_peak_flops(device: torch.device, override_tflops: float) -> tuple[float | None, str]:
    """(dense bf16 FLOP/s, name) of the GPU: --peak-tflops, else the table by name; None when unknown."""
    if device.type != "cuda":
        return (override_tflops * 1e12 if override_tflops else None), "cpu"
    name = torch.cuda.get_device_name(device)
    if override_tflops:
        return override_tflops * 1e12, name
    for key, tflops in GPU_PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12, name
    return None, name


def speed_sweep(args, base: DiTConfig, device: torch.device, peak: float | None, log) -> list[dict]:
    rows, best_rate, spent = [], None, 0.0
    for preset in args.presets:
        cfg = dataclasses.replace(base, preset=preset, **PRESETS[preset])
        for tokens in args.tokens:
            frames = max(1, tokens // (SIDE * SIDE))
            n = frames * SIDE * SIDE
            per_token = train_flops_per_token(cfg, n, args.text_tokens)
            for ac in args.ac:
                row = {"preset": preset, "tokens": n, "ac": ac, "train_flops_per_token": per_token}
                step_flops = per_token * n * (4 / 3 if ac else 1)  # what the hardware runs, recomputation included
                estimate = step_flops / best_rate if best_rate else 0.0
                if estimate > args.max_step_s or spent + estimate * (args.warmup + args.steps) > args.budget_s:
                    rows.append({**row, "skipped": f"estimated {estimate:.0f} s a step"})
                    continue
                started = time.perf_counter()
                try:
                    seconds = time_steps(cfg, frames, args.text_tokens, ac, device, args.steps, args.warmup)
                except torch.OutOfMemoryError:
                    rows.append({**row, "skipped": "out of memory"})
                    torch.cuda.empty_cache()
                    continue
                spent += time.perf_counter() - started
                best_rate = max(best_rate or 0.0, step_flops / seconds)
                row.update(s_per_step=seconds, tokens_per_s=n / seconds, model_flop_per_s=per_token * n / seconds)
                if peak:
                    row["mfu"] = row["model_flop_per_s"] / peak
                rows.append(row)
                log(row)
    return rows


# ----------------------------------------------------------------------------- 3. memory, 1 and 2 processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_peak_rss() -> int:
    """Reset this process's resident high-water mark to its current size (Linux >= 4.0); returns that size."""
    Path("/proc/self/clear_refs").write_text("5")
    return _peak_rss()


def _peak_rss() -> int:
    """The resident high-water mark (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_worker(rank: int, world: int, port: int, cfg: DiTConfig, frames: int, text_tokens: int, use_cuda: bool,
                   out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    from patchflow.parallel import mesh
    from patchflow.parallel.sequence_dit import apply_sequence_parallel_dit

    info = mesh.init_distributed("cuda" if use_cuda else "cpu")
    try:
        torch.manual_seed(0)
        model = DiT(cfg).to(info.device)
        if world > 1:
            apply_sequence_parallel_dit(model)
        batch = make_inputs(cfg, frames, text_tokens, info.device)
        # CPU: the first step's rise of the resident high-water mark (freed memory stays resident, so a
        # later step would hide in it); GPU: the allocator's peak of the second step (the first warms up)
        before = torch.cuda.memory_allocated() if use_cuda else _reset_peak_rss()
        step_loss(model, cfg, batch, info.device, "auto").backward()
        peak = 0 if use_cuda else _peak_rss() - before
        model.zero_grad(set_to_none=True)
        if use_cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        mesh.barrier()
        start = time.perf_counter()  # the second step: timed
        step_loss(model, cfg, batch, info.device, "auto").backward()
        if use_cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - before
        seconds = time.perf_counter() - start
        peaks = mesh.all_gather_object((peak, seconds))
        if rank == 0:
            Path(out).write_text(json.dumps(peaks))
        mesh.barrier()
    finally:
        mesh.destroy()
    # gloo's threads can abort the interpreter's exit ("terminate called without an active exception", seen in
    # about 1 run of 4 on this CPU): the results are written, so leave without the C++ static destructors
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def memory_sweep(args, base: DiTConfig, use_cuda: bool, log) -> list[dict]:
    import tempfile

    import torch.multiprocessing as mp

    cfg = dataclasses.replace(base, preset=args.memory_preset, **PRESETS[args.memory_preset])
    rows = []
    for processes in (1, 2):
        if use_cuda and processes > torch.cuda.device_count():
            rows.append({"processes": processes, "skipped": f"needs {processes} GPUs"})
            continue
        for tokens in args.memory_tokens:
            frames = max(1, tokens // (SIDE * SIDE))
            with tempfile.TemporaryDirectory() as tmp:
                out = f"{tmp}/peaks.json"
                mp.spawn(_memory_worker, args=(processes, _free_port(), cfg, frames, args.text_tokens, use_cuda, out),
                         nprocs=processes, join=True)
                peaks = json.loads(Path(out).read_text())
            row = {"preset": cfg.preset, "processes": processes, "tokens": frames * SIDE * SIDE,
                   "peak_bytes_per_process": max(p for p, _ in peaks), "fwd_bwd_s": max(s for _, s in peaks)}
            rows.append(row)
            log(row)
    return rows


# ----------------------------------------------------------------------------- command line


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the smallest settings: debug at 1k and 2k tokens")
    ap.add_argument("--presets", default="debug,tiny,S,B,L", help="comma-separated DiT presets, small to large")
    ap.add_argument("--tokens", default="1024,2048,4096,8192,16384,32768", help="tokens a sample (multiples of 1024)")
    ap.add_argument("--ac", default="off,on", help="activation checkpointing: off, on or off,on")
    ap.add_argument("--text-tokens", type=int, default=0, help="text tokens a sample; 0 = world_tiny's max_length")
    ap.add_argument("--steps", type=int, default=2, help="timed steps a setting")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps a setting first")
    ap.add_argument("--max-step-s", type=float, default=0, help="skip settings estimated slower; 0 = 20 CPU, 60 GPU")
    ap.add_argument("--budget-s", type=float, default=0, help="time for the speed sweep; 0 = 300 CPU, 1200 GPU")
    ap.add_argument("--memory-preset", default="tiny", help="the preset of the memory part")
    ap.add_argument("--memory-tokens", default="1024,2048,4096", help="tokens a sample in the memory part")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = torch's default")
    ap.add_argument("--peak-tflops", type=float, default=0, help="the accelerator's dense bf16 peak, TFLOP/s")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--json", default="", help="also write all rows to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.presets, args.tokens, args.ac = "debug", "1024,2048", "off,on"
        args.memory_preset, args.memory_tokens, args.steps, args.warmup = "debug", "1024,2048", 1, 1
    args.presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in args.presets + [args.memory_preset] if p not in PRESETS]
    if unknown:
        ap.error(f"unknown preset {unknown[0]!r}; known: {', '.join(PRESETS)}")
    args.tokens = [int(n) for n in args.tokens.split(",") if n]
    args.memory_tokens = [int(n) for n in args.memory_tokens.split(",") if n]
    if min(args.tokens + args.memory_tokens) < SIDE * SIDE:
        ap.error(f"--tokens and --memory-tokens start at {SIDE * SIDE} (one 64 x 64 latent frame)")
    args.ac = [{"off": False, "on": True}[a] for a in args.ac.split(",") if a]
    return args


def main(argv=None) -> dict:
    from rich.console import Console

    args = parse_args(argv)
    console = Console(stderr=True)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          (args.device if args.device != "auto" else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    args.max_step_s = args.max_step_s or (60.0 if gpu else 20.0)
    args.budget_s = args.budget_s or (1200.0 if gpu else 300.0)
    recipe = get_recipe("world_tiny")
    args.text_tokens = args.text_tokens or recipe.text.max_length
    base = recipe.dit  # in_channels, patch size and text width of the world model; width/depth/heads per preset
    peak, name = gpu_peak_flops(device, args.peak_tflops)
    console.print(f"device {name}; bf16 peak {peak / 1e12:.0f} TFLOP/s" if peak else f"device {name}; no peak known")

    with console.status("FLOP formula against FlopCounterMode"):
        check = flop_check(dataclasses.replace(base, preset="debug", **PRESETS["debug"]), 1, args.text_tokens)
    console.print(f"FLOP check (debug, {check['tokens']} tokens): counted / formula = forward "
                  f"{check['forward_ratio']:.4f}, training step {check['step_ratio']:.4f}")

    def log(row):
        console.print({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()})

    speed = speed_sweep(args, base, device, peak, log)
    memory = memory_sweep(args, base, gpu, log)
    result = {"device": name, "torch": torch.__version__, "threads": torch.get_num_threads(), "peak_flop_per_s": peak,
              "text_tokens": args.text_tokens, "flop_check": check, "speed": speed, "memory": memory}
    print_tables(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


def print_tables(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(width=120)
    speed = Table("preset", "tokens", "AC", "GFLOP/token", "s/step", "tokens/s", "model TFLOP/s", "MFU",
                  title=f"training step, 1 sample, {r['device']}, {r['threads']} threads, text {r['text_tokens']}")
    for row in r["speed"]:
        head = (row["preset"], str(row["tokens"]), "on" if row["ac"] else "off", f"{row['train_flops_per_token'] / 1e9:.3f}")
        if "skipped" in row:
            speed.add_row(*head, f"skipped: {row['skipped']}", "", "", "")
            continue
        speed.add_row(*head, f"{row['s_per_step']:.3f}", f"{row['tokens_per_s']:.0f}",
                      f"{row['model_flop_per_s'] / 1e12:.4f}", f"{100 * row['mfu']:.1f} %" if "mfu" in row else "-")
    out.print(speed)
    memory = Table("preset", "processes", "tokens", "peak MB / process", "fwd+bwd s", title="memory of one step")
    for row in r["memory"]:
        if "skipped" in row:
            memory.add_row("", str(row["processes"]), "", f"skipped: {row['skipped']}", "")
            continue
        memory.add_row(row["preset"], str(row["processes"]), str(row["tokens"]),
                       f"{row['peak_bytes_per_process'] / 1e6:.0f}", f"{row['fwd_bwd_s']:.3f}")
    out.print(memory)


if __name__ == "__main__":
    main()
