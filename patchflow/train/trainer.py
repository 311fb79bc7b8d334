"""The DiT training loop, on one process or many (torchrun), with exact resume.

    Trainer(cfg, data=None, resume=False).fit()  ->  <out_dir>/model (diffusers layout)

One step: `grad_accum` micro-batches from the batch source (joint image and video batches, one
bucket each), each noised along the rectified flow at a per-sample time with a random frame-
condition mask (conditioned frames stay clean, t = 0, no loss), text dropped to "" at
`flow.text_dropout`; then clip, AdamW, EMA, scheduler. A step whose loss or gradient norm is not
finite is skipped: counted, not applied (every rank sees the same all-reduced values, so all skip).

All randomness of a micro-batch (t, mask, dropout, noise) comes from a generator seeded by
(seed, step, global micro-batch index), so a resumed run draws what a straight run would have
drawn, and 2 processes x 1 micro-batch draw what 1 process x 2 micro-batches draws.

With `train.val_every` > 0, rank 0 also measures the EMA weights' flow-matching loss per band of t on
held-out world samples (train/validation.py) every val_every steps and at the end, into the same
metrics.jsonl row as that step's training metrics; it draws from no training random stream.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from patchflow.config import Config
from patchflow.diffusion.conditioning import drop_text, random_frame_mask
from patchflow.diffusion.flow import sample_t
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.parallel import mesh
from patchflow.parallel.parallelize import (
    grad_sync,
    load_model_state_dict,
    load_optimizer_state_dict,
    model_state_dict,
    optimizer_state_dict,
    parallelize,
)
from patchflow.parallel.relayout import data_state_for, saved_layout
from patchflow.train.batches import build_batches
from patchflow.train.branch import branch_note, find_branch_point, run_folder_of
from patchflow.train.checkpoint import load_checkpoint, save_checkpoint
from patchflow.train.ema import EMA
from patchflow.train.logging import MetricsLogger, plot_loss, progress
from patchflow.train.optim import build_optimizer, build_scheduler, load_scheduler_state
from patchflow.train.rng import get_rng_state, seed_everything, set_rng_state
from patchflow.train.run_config import (
    DIT_FROZEN,
    check_resume_config,
    check_tensor_shapes,
    check_train_config,
    report_changes,
    write_run_config,
)
from patchflow.train.token_mask import check_token_mask, keep_indices, mask_ratio_at
from patchflow.train.validation import BANDS, dit_validation, heldout_latents

console = Console(stderr=True)


class NonFiniteLossError(RuntimeError):
    """Too many steps in a row had a non-finite loss: the run has diverged."""


def micro_seed(seed: int, step: int, index: int) -> int:
    """A well-mixed 63-bit seed for micro-batch `index` (global, over ranks) of step `step`."""
    state = np.random.SeedSequence([seed, step, index]).generate_state(1, dtype=np.uint64)
    return int(state[0]) & (2**63 - 1)


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on GPU (`auto` or `bf16`), or on CPU when `bf16` is asked for; fp32 otherwise."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"train.precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Trainer:
    def __init__(self, cfg: Config, data: str | None = None, resume: bool = False, show_progress: bool = True,
                 branch_from: str = ""):
        """`resume`: continue from the newest checkpoint in train.out_dir. `branch_from`: start from a checkpoint
        of another run (a folder, or a run folder's newest) and continue into train.out_dir: a WSD run's
        stable-phase checkpoint finishes as a complete shorter run this way (train/optim.py)."""
        from patchflow.models.dit import DiT

        check_train_config(cfg, "dit")
        check_token_mask(cfg.train)
        self.cfg, self.tc = cfg, cfg.train
        self.info = mesh.init_distributed()
        self.layout = mesh.build_layout(self.tc, self.info, cfg.dit.heads)  # the degrees, checked; the mesh
        self.device = self.info.device
        self.out_dir = Path(self.tc.out_dir)
        self.branch_from = find_branch_point(branch_from, self.out_dir) if branch_from else None
        self._start_run_config(resume)  # before the slow setup: a forbidden override stops at once
        self.show_progress = show_progress and self.info.is_main
        seed_everything(self.tc.seed)  # same seed on every rank: identical initial weights

        # the processes of one sequence group load the same samples: the data is dealt by data-parallel rank
        self.batches = build_batches(cfg, data, self.device, self.layout.dp_rank, self.layout.dp_size,
                                     self.info.is_main)
        self._check_shapes()
        self.model = DiT(cfg.dit).to(self.device)
        self.train_model = parallelize(self.model, self.tc, self.info, self.layout)
        self.ema = EMA(self.model, self.tc.ema_decay)  # after sharding: each rank averages its own shard
        self.opt = build_optimizer(self.model, self.tc.lr, self.tc.betas, self.tc.weight_decay)
        # built before any optimizer state is loaded: a new LambdaLR resets the lr it finds
        self.sched = build_scheduler(self.opt, self.tc.warmup_steps, self.tc.steps,
                                     schedule=self.tc.lr_schedule, decay_fraction=self.tc.decay_fraction)

        self.step = 0
        self.skipped = 0  # steps not applied because the loss or gradient was not finite
        self.nonfinite_in_a_row = 0
        self.tokens_seen = 0
        self.history: list[tuple[int, float]] = []  # (step, loss) of every step of this process's run
        self.val_model = None  # rank 0's plain DiT that validation loads the EMA weights into (built once)
        self.heldout = self._heldout(data) if self.tc.val_every > 0 and self.info.is_main else None
        if resume or self.branch_from:
            self.resume()

    # ------------------------------------------------------------------------- setup checks

    def _check_shapes(self) -> None:
        empty, _ = self.batches.empty_text()
        if empty.shape[-1] != self.cfg.dit.text_dim:
            raise ValueError(f"text encoder width {empty.shape[-1]} != dit.text_dim={self.cfg.dit.text_dim}")
        index = getattr(self.batches, "index", None)  # a latent cache: it must come from this run's VAE
        fresh_vae_differs = index is not None and not index["vae"]["path"] and index["seed"] != self.tc.seed
        if index is not None and (index["vae"]["path"] != (self.tc.vae_path or self.cfg.vae.pretrained)
                                  or fresh_vae_differs):
            raise ValueError(f"the latent cache {self.cfg.data.latents} was encoded with the VAE "
                             f"{index['vae']['path'] or '(fresh, seed ' + str(index['seed']) + ')'!r} but this run's is "
                             f"{self.tc.vae_path or '(fresh, seed ' + str(self.tc.seed) + ')'!r}: the model folder would pair the DiT with the wrong VAE")
        if index is not None and index.get("text", {}).get("encoder", "") != self.cfg.text.encoder:
            raise ValueError(f"the latent cache {self.cfg.data.latents} holds text embedded by "
                             f"{index['text']['encoder'] or '(the default MiniLM)'!r} but text.encoder is "
                             f"{self.cfg.text.encoder or '(the default MiniLM)'!r}: re-encode the cache with this "
                             "config (patchflow data encode), or set text.encoder to the cache's")
        channels = getattr(self.batches, "latent_channels", None) or self.batches.vae.latent_channels
        if channels != self.cfg.dit.in_channels:
            raise ValueError(f"VAE latent channels {channels} != dit.in_channels={self.cfg.dit.in_channels}")

    def _start_run_config(self, resume: bool) -> None:
        """<out_dir>/config.json: on resume first compared with this config (shape-deciding keys must match)."""
        if resume or self.branch_from:
            # a branch is checked against the run it branches from: the same rules as a resume
            source = run_folder_of(self.branch_from) if self.branch_from else self.out_dir
            changes = check_resume_config(source, self.cfg, DIT_FROZEN)  # on every rank: all stop together
            mesh.barrier()  # every rank has read the old file before rank 0 replaces it
            if self.info.is_main:
                report_changes(changes, self.out_dir, console)
        if self.info.is_main:
            write_run_config(self.out_dir, self.cfg)

    def _heldout(self, data: str | None):
        """The held-out samples, encoded once by this run's VAE and text encoder (built here for a latent cache)."""
        from patchflow.text import TextEncoder
        from patchflow.train.batches import build_vae

        if data or self.cfg.data.manifest:
            console.print("validation: held-out world scenes (train/validation.py), not samples of the manifest")
        vae = getattr(self.batches, "vae", None)
        text_encoder = getattr(self.batches, "text_encoder", None)
        vae = vae if vae is not None else build_vae(self.cfg, self.device)
        text_encoder = text_encoder if text_encoder is not None else TextEncoder(self.cfg.text, device=self.device)
        return heldout_latents(self.cfg, vae, text_encoder, self.device)

    # ------------------------------------------------------------------------- one step

    def micro_loss(self, batch: dict, gen: torch.Generator, noise_gen: torch.Generator) -> torch.Tensor:
        """Rectified-flow loss of one micro-batch (free frames only)."""
        x0 = batch["latents"].to(self.device)  # (B, C, T', H', W')
        B, T = x0.shape[0], x0.shape[2]
        grid = self.model.grid(x0.shape)
        t = sample_t(B, grid[0] * grid[1] * grid[2], self.cfg.flow, gen).to(self.device)  # (B,)
        frame_mask = random_frame_mask(B, T, self.cfg.flow.cond_mix, gen).to(self.device)  # (B, T') True = clean
        text, text_mask = drop_text(batch["text"], batch["text_mask"], self.batches.empty_text(),
                                    self.cfg.flow.text_dropout, gen)
        eps = torch.randn(x0.shape, generator=noise_gen, device=self.device)
        ratio = mask_ratio_at(self.tc, self.step)
        # drawn last from gen, so with the mask off every other draw is what it always was
        keep = keep_indices(grid, ratio, gen).to(self.device) if ratio > 0 else None
        return rectified_flow_loss(self.train_model, x0, eps, t, frame_mask, text, text_mask, grid,
                                   self.cfg.dit.patch_size[0], autocast_for(self.device, self.tc.precision),
                                   self.cfg.flow.prediction, keep)

    def train_step(self) -> dict:
        accum = self.tc.grad_accum
        losses, tokens = [], 0
        for micro in range(accum):
            batch = next(self.batches)
            index = self.layout.dp_rank * accum + micro  # one sequence group draws one micro-batch's randomness
            gen = torch.Generator().manual_seed(micro_seed(self.tc.seed, self.step, index))
            noise_gen = torch.Generator(self.device).manual_seed(micro_seed(self.tc.seed + 1, self.step, index))
            with grad_sync(self.train_model, micro == accum - 1):
                loss = self.micro_loss(batch, gen, noise_gen)
                (loss / accum).backward()
            losses.append(loss.detach().float())
            tokens += batch["latents"][:, 0].numel() // math.prod(self.cfg.dit.patch_size)
        loss = mesh.all_reduce_mean(torch.stack(losses).mean())
        tokens = int(mesh.all_reduce_sum(torch.tensor(tokens, dtype=torch.float64)).item()) // self.layout.sp
        max_norm = self.tc.grad_clip if self.tc.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
        finite = bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm))
        lr = self.opt.param_groups[0]["lr"]
        if finite:
            self.opt.step()
            self.ema.update(self.model)
            self.nonfinite_in_a_row = 0
        else:
            self.skipped += 1
            self.nonfinite_in_a_row += 1
            if self.nonfinite_in_a_row > self.tc.max_nonfinite_in_a_row:
                raise NonFiniteLossError(
                    f"{self.nonfinite_in_a_row} steps in a row had a non-finite loss or gradient (step {self.step}); "
                    "lower train.lr, raise train.warmup_steps, or check the data")
        self.opt.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # after a skipped first step torch warns that opt.step() never ran
            warnings.simplefilter("ignore", UserWarning)
            self.sched.step()  # the schedule follows the step count, applied or not
        self.tokens_seen += tokens
        return {"loss": loss.item(), "grad_norm": grad_norm.item(), "lr": lr, "tokens": tokens,
                "skipped": self.skipped, "applied": finite}

    # ------------------------------------------------------------------------- the loop

    def fit(self) -> Path | None:
        """Train to train.steps; returns the model folder (on rank 0; None elsewhere)."""
        logger = (MetricsLogger(self.out_dir, tensorboard=self.tc.tensorboard, start_step=self.step)
                  if self.info.is_main else None)
        window: list[dict] = []
        t_last = time.perf_counter()
        bar = progress(console=console, disable=not self.show_progress)
        with bar:
            task = bar.add_task("train", total=self.tc.steps, completed=self.step, loss=float("nan"), tok_s=0.0)
            while self.step < self.tc.steps:
                metrics = self.train_step()
                self.step += 1
                self.history.append((self.step, metrics["loss"]))
                window.append(metrics)
                row = {}  # this step's line of metrics.jsonl: training metrics, validation, both or none
                if self.step % max(1, self.tc.log_every) == 0 or self.step == self.tc.steps:
                    elapsed = time.perf_counter() - t_last
                    t_last = time.perf_counter()
                    row = summarize(window, elapsed)
                    window = []
                    bar.update(task, loss=row["loss"], tok_s=row["tokens_per_s"])
                    row.update(skipped_total=self.skipped, tokens_seen=self.tokens_seen)
                if self.tc.val_every > 0 and (self.step % self.tc.val_every == 0 or self.step == self.tc.steps):
                    started = time.perf_counter()
                    row.update(self.validate())
                    t_last += time.perf_counter() - started  # validation time is not training time (tokens/s)
                if logger is not None and row:
                    logger.log(self.step, row)
                bar.update(task, advance=1)
                if self.tc.ckpt_every > 0 and self.step % self.tc.ckpt_every == 0:
                    self.save()
                if self.tc.sample_every > 0 and self.step % self.tc.sample_every == 0:
                    self.sample()
        if self.tc.ckpt_every <= 0 or self.step % self.tc.ckpt_every:
            self.save()  # always end on a checkpoint
        folder = self.export()
        if logger is not None:
            logger.close()
            bands = tuple(f"val_loss_t{k}" for k in range(BANDS))  # a second panel once validation ran
            plot_loss(self.out_dir / "metrics.jsonl", self.out_dir / "loss.png", (("loss", "val_loss"), bands))
        mesh.barrier()
        return folder

    # ------------------------------------------------------------------------- checkpoints

    def save(self) -> None:
        """Every rank helps gather the full state; rank 0 writes it."""
        model = model_state_dict(self.model)
        ema = self.ema.state_dict()
        opt = optimizer_state_dict(self.model, self.opt)
        data_states = mesh.all_gather_object(self.batches.state_dict())
        if self.info.is_main:
            state = {
                "optimizer": opt, "scheduler": self.sched.state_dict(), "ema": self.ema.extra_state(),
                "data": data_states, "world_size": self.info.world_size, "rng": get_rng_state(),
                "layout": {"dp_size": self.layout.dp_size, "sp": self.layout.sp},
                "skipped": self.skipped, "nonfinite_in_a_row": self.nonfinite_in_a_row,
                "tokens_seen": self.tokens_seen,
            }
            path = save_checkpoint(self.out_dir, self.step, {"model": model, "ema": ema}, state,
                                   keep=self.tc.keep_checkpoints)
            console.print(f"checkpoint: {path}")
        mesh.barrier()

    def resume(self) -> None:
        ck = load_checkpoint(self.branch_from or self.out_dir, groups=("model", "ema"))  # every rank: same files
        if self.info.is_main:
            for damaged in ck.skipped:
                console.print(f"[yellow]warning:[/] skipped a damaged checkpoint: {damaged}")
        check_tensor_shapes(ck.path, ck.tensors["model"], self.model.state_dict())
        load_model_state_dict(self.model, ck.tensors["model"])
        self.ema.load_state_dict(ck.tensors["ema"], ck.state["ema"])
        load_optimizer_state_dict(self.model, self.opt, ck.state["optimizer"])
        load_scheduler_state(self.sched, ck.state["scheduler"])
        saved_dp, saved_sp = saved_layout(ck.state)
        data_state, exact = data_state_for(ck.state["data"], saved_sp, self.layout.dp_rank, self.layout.dp_size)
        self.batches.load_state_dict(data_state)
        if not exact and self.info.is_main:
            console.print(f"note: {ck.path} was written by {saved_dp} data-parallel ranks, this run has "
                          f"{self.layout.dp_size}: the data order continues from the same point of the epoch, "
                          "but later batches differ from a straight run's (parallel/relayout.py)")
        set_rng_state(ck.state["rng"])
        self.step, self.skipped = ck.step, ck.state["skipped"]
        self.nonfinite_in_a_row, self.tokens_seen = ck.state["nonfinite_in_a_row"], ck.state["tokens_seen"]
        if self.info.is_main:
            console.print(f"{'branched' if self.branch_from else 'resumed'} from {ck.path} at step {self.step}")
            if self.branch_from:
                note = branch_note(self.step, self.tc)
                if note:
                    console.print(f"[yellow]note:[/] {note}")

    # ------------------------------------------------------------------------- outputs

    def ema_weights(self) -> dict[str, torch.Tensor]:
        """The model's full state with the EMA parameters (collective: every rank gathers its shard)."""
        weights = model_state_dict(self.model)
        weights.update(self.ema.state_dict())
        return weights

    def ema_model(self):
        """A plain DiT holding the EMA weights (collective; the model exists on rank 0 only)."""
        from patchflow.models.dit import DiT

        weights = self.ema_weights()
        if not self.info.is_main:
            return None
        model = DiT(self.cfg.dit)
        model.load_state_dict(weights)
        return model.eval()

    def validate(self) -> dict[str, float]:
        """Held-out loss per band of t with the EMA weights (collective; the numbers come back on rank 0).

        Rank 0 loads the gathered EMA weights into a plain DiT of its own and scores the held-out set
        with it: a sharded model's own parameters are never swapped, and no rank's random stream moves.
        """
        from patchflow.models.dit import DiT

        weights = self.ema_weights()
        metrics = {}
        if self.info.is_main:
            if self.val_model is None:
                with torch.random.fork_rng(devices=[]):  # its random init must not move the run's stream
                    self.val_model = DiT(self.cfg.dit).to(self.device).eval().requires_grad_(False)
            self.val_model.load_state_dict(weights)
            metrics = dit_validation(self.val_model, self.heldout, self.cfg.dit.patch_size[0],
                                     lambda: autocast_for(self.device, self.tc.precision), self.cfg.flow.prediction)
        mesh.barrier()
        return metrics

    def export(self) -> Path | None:
        """<out_dir>/model: the diffusers-layout folder with the EMA transformer."""
        from patchflow.model_index import write_model_folder

        model = self.ema_model()
        folder = None
        if self.info.is_main:
            folder = write_model_folder(self.out_dir / "model", self.cfg, model, self._vae())
            console.print(f"model folder: {folder}")
        mesh.barrier()
        return folder

    def _vae(self):
        from patchflow.train.batches import build_vae

        vae = getattr(self.batches, "vae", None)
        return vae if vae is not None else build_vae(self.cfg, torch.device("cpu"))

    def sample(self) -> None:
        from patchflow.train.export import sample_videos

        model = self.ema_model()
        if self.info.is_main:
            text_encoder = getattr(self.batches, "text_encoder", None)
            sample_videos(self.cfg, model, self._vae(), text_encoder, self.out_dir / "samples", self.step, console)
        mesh.barrier()


def summarize(window: list[dict], elapsed: float) -> dict:
    """Metrics of the steps since the last log line (loss over the applied steps only)."""
    applied = [m["loss"] for m in window if m["applied"]]
    tokens = sum(m["tokens"] for m in window)
    return {
        "loss": float(np.mean(applied)) if applied else float("nan"),
        "grad_norm": float(np.mean([m["grad_norm"] for m in window if m["applied"]] or [float("nan")])),
        "lr": window[-1]["lr"], "tokens_per_s": tokens / max(elapsed, 1e-9),
        "skipped_in_window": sum(not m["applied"] for m in window),
    }
