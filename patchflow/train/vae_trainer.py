"""Training the causal VAE: L1 + KL (+ adversarial, + perceptual), EMA, exact resume.

    summary = train_vae(cfg, manifest=None, resume=False)

Data come from `cfg.data.manifest` (or `manifest`) or, when both are empty, the world
rendered by `ensure_world_manifest(cfg)`, in bucketed native-size batches of images and
videos. Checkpoints and the run's config.json live in <train.out_dir>/vae_train; the finished VAE
(EMA weights, latent mean/std measured on training batches) goes to <train.out_dir>/vae.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from patchflow.config import Config
from patchflow.media import contact_sheet, to_frames, write_image
from patchflow.models.vae import CausalVAE
from patchflow.models.vae.losses import (
    PatchDiscriminator3D,
    PerceptualLoss,
    adaptive_weight,
    edge_loss,
    hinge_d_loss,
    kl_loss,
)
from patchflow.train.batches import data_rows
from patchflow.train.checkpoint import load_checkpoint, save_checkpoint
from patchflow.train.ema import EMA
from patchflow.train.logging import MetricsLogger, plot_loss, progress
from patchflow.train.optim import build_optimizer, build_scheduler, load_scheduler_state
from patchflow.train.rng import get_rng_state, seed_everything, set_rng_state
from patchflow.train.run_config import (
    VAE_FROZEN,
    RunConfigError,
    check_resume_config,
    check_tensor_shapes,
    check_train_config,
    report_changes,
    write_run_config,
)
from patchflow.train.validation import heldout_vae_videos, vae_validation


def autocast(device: str, precision: str):
    """bf16 autocast for the VAE's forward pass, or nothing (fp32).

    Measured on the 2-core AVX-512-BF16 CPU (world_tiny VAE, batch 8 x 9 x 32 x 32, forward + backward +
    AdamW): 0.74 s a step in fp32, 0.45 s in bf16 (docs/results.md).
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"vae_train.precision must be fp32 or bf16, got {precision!r}")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def run_folder(cfg: Config) -> Path:
    """Where a VAE run keeps its checkpoints, metrics, sheets and config.json."""
    return Path(cfg.train.out_dir) / "vae_train"


def check_crop(tc, temporal_factor: int, spatial_factor: int) -> None:
    if tc.crop_frames < 0 or (tc.crop_frames and (tc.crop_frames - 1) % temporal_factor):
        raise ValueError(f"vae_train.crop_frames must be 0 (off) or 1 + k * {temporal_factor} "
                         f"(the VAE's temporal factor), got {tc.crop_frames}")
    if tc.crop_size < 0 or (tc.crop_size and tc.crop_size < spatial_factor):
        raise ValueError(f"vae_train.crop_size must be 0 (off) or at least {spatial_factor} "
                         f"(the VAE's spatial factor), got {tc.crop_size}")


def random_crop(video: torch.Tensor, frames: int, size: int, temporal_factor: int, spatial_factor: int) -> torch.Tensor:
    """One random window of (frames, size, size) cut from every sample of a (B, C, T, H, W) batch.

    Dimensions already smaller than the window stay whole; 0 leaves a dimension alone. Uses
    torch's global generator, whose state every checkpoint saves, so resume stays exact.
    """
    _, _, t, h, w = video.shape
    tc = min(t, frames) if frames else t
    tc = 1 + (tc - 1) // temporal_factor * temporal_factor  # keep 1 + k * r_t frames
    hc = min(h, size) // spatial_factor * spatial_factor if size else h
    wc = min(w, size) // spatial_factor * spatial_factor if size else w
    t0, y0, x0 = (int(torch.randint(0, n - c + 1, ()).item()) for n, c in ((t, tc), (h, hc), (w, wc)))
    return video[:, :, t0:t0 + tc, y0:y0 + hc, x0:x0 + wc]  # (B, C, tc, hc, wc)


class VAETraining:
    """Everything one VAE run holds: model, EMA, optimizers, discriminator, data, step."""

    def __init__(self, cfg: Config, rows: list[dict], device: str = "cpu") -> None:
        tc = cfg.vae_train
        self.cfg, self.tc, self.device = cfg, tc, device
        seed_everything(tc.seed)
        check_crop(tc, cfg.vae.temporal_factor, cfg.vae.spatial_factor)
        self.vae = CausalVAE(cfg.vae).to(device)
        self.ema = EMA(self.vae, tc.ema_decay)
        self.opt = build_optimizer(self.vae, tc.lr, tc.betas, tc.weight_decay)
        self.sched = build_scheduler(self.opt, tc.warmup_steps, tc.steps)
        self.disc = self.disc_opt = None
        if tc.disc_start >= 0:
            self.disc = PatchDiscriminator3D(cfg.vae.in_channels, tc.disc_width).to(device)
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=tc.disc_lr, betas=(0.5, 0.9))
        self.perceptual = PerceptualLoss(tc.perceptual_model).to(device) if tc.perceptual_model else None
        from patchflow.data.loader import build_loader

        data = cfg.data
        if tc.token_budget:
            data = replace(data, buckets=replace(data.buckets, token_budget=tc.token_budget))
        self.loader = build_loader(data, rows, cfg.vae.temporal_factor, cfg.vae.spatial_factor, seed=tc.seed)
        self.step = 0
        self.run_dir = run_folder(cfg)

    # ------------------------------------------------------------------ checkpoints

    def save(self) -> Path:
        tensors = {"model": self.vae.state_dict(), "ema": self.ema.state_dict()}
        state = {
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "loader": self.loader.state_dict(), "rng": get_rng_state(), "ema": self.ema.extra_state(),
        }
        if self.disc is not None:
            tensors["disc"] = self.disc.state_dict()
            state["disc_optimizer"] = self.disc_opt.state_dict()
        return save_checkpoint(self.run_dir, self.step, tensors, state)

    def load(self) -> list[str]:
        """Continue from the newest whole checkpoint; returns the damaged newer ones it passed over."""
        ckpt = load_checkpoint(self.run_dir, map_location=self.device, groups=("model", "ema"))
        check_tensor_shapes(ckpt.path, ckpt.tensors["model"], self.vae.state_dict())
        if self.disc is not None and "disc" not in ckpt.tensors:
            raise RunConfigError(f"checkpoint {ckpt.path} has no discriminator (the run started with "
                                 f"vae_train.disc_start=-1); resume with vae_train.disc_start=-1")
        self.vae.load_state_dict(ckpt.tensors["model"])
        self.ema.load_state_dict(ckpt.tensors["ema"], ckpt.state["ema"])
        self.opt.load_state_dict(ckpt.state["optimizer"])
        load_scheduler_state(self.sched, ckpt.state["scheduler"])
        self.loader.load_state_dict(ckpt.state["loader"])
        if self.disc is not None:
            self.disc.load_state_dict(ckpt.tensors["disc"])
            self.disc_opt.load_state_dict(ckpt.state["disc_optimizer"])
        set_rng_state(ckpt.state["rng"])
        self.step = ckpt.step
        return ckpt.skipped

    # ------------------------------------------------------------------ one step

    def train_step(self, video: torch.Tensor) -> dict[str, float]:
        tc = self.tc
        self.vae.train()
        with autocast(self.device, tc.precision):
            recon, mean, logvar = self.vae(video)
        recon, mean, logvar = recon.float(), mean.float(), logvar.float()  # losses in fp32
        l1 = (recon - video).abs().mean()
        kl = kl_loss(mean, logvar)
        rec = tc.l1_weight * l1
        metrics = {"l1": l1.item(), "kl": kl.item()}
        if tc.edge_weight:
            edge = edge_loss(recon, video)
            rec = rec + tc.edge_weight * edge
            metrics["edge"] = edge.item()
        if self.perceptual is not None:
            perc = self.perceptual(recon, video)
            rec = rec + tc.perceptual_weight * perc
            metrics["perceptual"] = perc.item()
        loss = rec + tc.kl_weight * kl
        disc_on = self.disc is not None and self.step >= tc.disc_start
        if disc_on:
            self.disc.requires_grad_(False)
            gen = -self.disc(recon).mean()
            weight = adaptive_weight(rec, gen, self.vae.decoder.conv_out.conv.weight)
            loss = loss + tc.disc_weight * weight * gen
            metrics.update(gen=gen.item(), adv_weight=weight.item())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.vae.parameters(), tc.grad_clip).item()
        self.opt.step()
        self.sched.step()
        self.ema.update(self.vae)
        if disc_on:
            self.disc.requires_grad_(True)
            d_loss = hinge_d_loss(self.disc(video), self.disc(recon.detach()))
            self.disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.disc_opt.step()
            metrics["disc"] = d_loss.item()
        self.step += 1
        return {"loss": loss.item(), **metrics, "lr": self.sched.get_last_lr()[0]}

    # ------------------------------------------------------------------ pictures and statistics

    @torch.no_grad()
    def write_sheet(self, video: torch.Tensor) -> Path:
        """Top: input frames; bottom: EMA reconstruction (first sample of the batch)."""
        with self.ema.swapped(self.vae):
            self.vae.eval()
            recon = self.vae.decoder(self.vae.encode_posterior(video[:1])[0]).clamp(-1, 1)
        top, bottom = contact_sheet(to_frames(video[0])), contact_sheet(to_frames(recon[0]))
        gap = np.full((4, top.shape[1], 3), 255, np.uint8)
        return write_image(self.run_dir / "sheets" / f"step_{self.step:07d}.png", np.concatenate([top, gap, bottom]))

    @torch.no_grad()
    def measure_latent_stats(self, batches) -> None:
        """Per-channel mean/std of posterior means over training batches -> the VAE's buffers."""
        total = total_sq = None
        count = 0
        self.vae.eval()
        for batch in itertools.islice(batches, self.tc.stats_batches):
            mean, _ = self.vae.encode_posterior(batch["video"].to(self.device))
            flat = mean.transpose(0, 1).reshape(mean.shape[1], -1).double()  # (C, B T' H' W')
            total = flat.sum(1) if total is None else total + flat.sum(1)
            total_sq = flat.pow(2).sum(1) if total_sq is None else total_sq + flat.pow(2).sum(1)
            count += flat.shape[1]
        mu = total / count
        std = (total_sq / count - mu.pow(2)).clamp_min(1e-12).sqrt()
        self.vae.latent_mean.copy_(mu.float())
        self.vae.latent_std.copy_(std.float())


def train_vae(
    cfg: Config, manifest: str | None = None, resume: bool = False, stop_after: int | None = None,
    device: str = "cpu", console: Console | None = None,
) -> dict:
    """Train (or resume) the VAE of `cfg`; returns {"vae_dir", "losses", "steps", "checkpoint"}.

    stop_after: leave after this many steps in this process (a checkpoint is written), as a
    time-limited job would; a later `resume=True` run continues exactly where it stopped.
    With vae_train.val_every > 0, held-out reconstruction (val_l1, val_psnr, val_psnr_min; train/validation.py)
    joins the metrics every val_every steps and at the last step.
    """
    console = console or Console(stderr=True)
    tc = cfg.vae_train
    check_train_config(cfg, "vae")
    run_dir = run_folder(cfg)
    if resume:  # before the world is rendered: a forbidden override stops at once
        report_changes(check_resume_config(run_dir, cfg, VAE_FROZEN), run_dir, console)
    write_run_config(run_dir, cfg)
    run = VAETraining(cfg, data_rows(cfg, manifest), device)
    if resume:
        for damaged in run.load():
            console.print(f"[yellow]warning:[/] skipped a damaged checkpoint: {damaged}")
        console.print(f"resumed VAE training at step {run.step} from {run.run_dir}")
    logger = MetricsLogger(run.run_dir, tensorboard=False, start_step=run.step)
    losses: list[float] = []
    batches = iter(run.loader)
    last_step = tc.steps if stop_after is None else min(tc.steps, run.step + stop_after)
    heldout = heldout_vae_videos(cfg, device) if tc.val_every > 0 else None  # fixed once; no random stream moves
    t0, tokens, val_seconds = time.perf_counter(), 0, 0.0
    with progress(console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("vae", total=tc.steps, completed=run.step, loss=float("nan"), tok_s=0.0)
        while run.step < last_step:
            video = next(batches)["video"].to(device)
            if tc.crop_frames or tc.crop_size:
                video = random_crop(video, tc.crop_frames, tc.crop_size, cfg.vae.temporal_factor, cfg.vae.spatial_factor)
            metrics = run.train_step(video)
            losses.append(metrics["loss"])
            b, _, t, h, w = video.shape
            tokens += b * (1 + (t - 1) // run.vae.temporal_factor) * (h // run.vae.spatial_factor) * (
                w // run.vae.spatial_factor)
            tok_s = tokens / max(time.perf_counter() - t0 - val_seconds, 1e-9)
            bar.update(task, completed=run.step, loss=metrics["loss"], tok_s=tok_s)
            row = {}  # this step's line of metrics.jsonl: training metrics, validation, both or none
            if run.step % tc.log_every == 0 or run.step == last_step:
                row = {**metrics, "latent_tok_s": tok_s, "frames": t, "batch": b}
            if heldout is not None and (run.step % tc.val_every == 0 or run.step == tc.steps):
                started = time.perf_counter()
                row.update(vae_validation(run.vae, run.ema, heldout))
                val_seconds += time.perf_counter() - started  # not training time (latent_tok_s)
            if row:
                logger.log(run.step, row)
            if tc.sheet_every and run.step % tc.sheet_every == 0:
                run.write_sheet(video)
            if run.step % tc.ckpt_every == 0 and run.step < last_step:
                run.save()
    checkpoint = run.save()
    logger.close()
    summary = {"steps": run.step, "losses": losses, "checkpoint": str(checkpoint), "vae_dir": None}
    if run.step < tc.steps:
        console.print(f"stopped at step {run.step} of {tc.steps}; continue with --resume")
        return summary
    run.ema.copy_to(run.vae)  # the released VAE carries the EMA weights
    run.measure_latent_stats(batches)
    vae_dir = run.vae.save_pretrained(Path(cfg.train.out_dir) / "vae")
    if (run.run_dir / "metrics.jsonl").exists():
        plot_loss(run.run_dir / "metrics.jsonl", run.run_dir / "loss.png",
                  (("loss",), ("l1", "val_l1"), ("val_psnr", "val_psnr_min")))
    console.print(f"VAE saved to {vae_dir} (latent std {run.vae.latent_std.tolist()})")
    summary["vae_dir"] = str(vae_dir)
    return summary
