"""Training the world captioner on clips rendered on the fly (rendering 8 frames takes about a millisecond).

Step s trains on the clips of seeds TRAIN_SEED_BASE + s * batch_size + j, all at one frame size drawn for
the step, so a run is the same function of (config, step) from scratch or resumed. Only the first
`captioner.frames` frames of a clip are rendered: the network reads no more. The learning rate warms up,
then follows a cosine over the run's progress: the larger of steps done / steps and, with a time budget,
minutes spent / minutes, so a run cut short by its budget still ends at a low learning rate.

Layout under the out dir: checkpoints/ (train/checkpoint.py: model + optimizer, step, seconds spent),
metrics.jsonl (loss per head, learning rate, seconds a step, facts right on held-out clips) and, at the end,
captioner/ (the saved model) and eval.json (its facts-right report on the in-training held-out clips).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patchflow.config import Config, to_dict
from patchflow.text.captioner_eval import (
    TRAIN_SEED_BASE,
    VAL_SEED_BASE,
    FactsReport,
    facts_right,
    render_clip,
)
from patchflow.text.captioner_maps import WHERE, map_loss, where_targets
from patchflow.text.world_captioner import IGNORE, WorldCaptioner, clip_tensor, scene_targets
from patchflow.text.world_captioner_model import CaptionNet
from patchflow.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from patchflow.train.logging import MetricsLogger
from patchflow.train.optim import build_optimizer
from patchflow.world.make import parse_size

console = Console(stderr=True)


def make_batch(cfg: Config, step: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Step `step`'s clips: frames (B, K, 3, H, W), real frame counts (B,), and targets: {head: (B,) or (B, 8)}
    and the `where_targets` stacked over the batch."""
    cc = cfg.captioner
    size = parse_size(random.Random(f"captioner-size:{cc.seed}:{step}").choice(cfg.world.sizes))
    first = TRAIN_SEED_BASE * (1 + cc.seed) + step * cc.batch_size
    xs, reals, targets, where = [], [], [], []
    for seed in range(first, first + cc.batch_size):
        clip = render_clip(seed, cfg.world.sizes, cfg.world.frames, cc.fps, cc.feature_prob, size=size,
                           keep_frames=cc.frames)
        x, real = clip_tensor(clip.video, cc)
        xs.append(x)
        reals.append(real)
        targets.append(scene_targets(clip.spec, real))
        where.append(where_targets(clip, cc.frames, cc.fps))
    stacked = {name: torch.tensor([t[name] for t in targets]) for name in targets[0]}
    stacked.update({name: torch.stack([w[name] for w in where]) for name in WHERE})
    return torch.cat(xs), torch.tensor(reals), stacked


def caption_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], short_side: int
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over heads of the cross-entropy on the targets a clip shows, plus the maps' per-pixel loss
    (captioner_maps.py); (loss, {loss_<head>, acc_<head>, loss_maps, loss_trails})."""
    total, parts = map_loss(logits["map_logits"], {k: targets[k] for k in WHERE}, short_side)
    for name, target in targets.items():
        if name in WHERE:
            continue
        scores = logits[name].reshape(-1, logits[name].shape[-1])  # (B, classes) or (B * 8, classes)
        flat = target.reshape(-1)
        valid = flat != IGNORE
        if not valid.any():  # e.g. no clip of the batch pans
            continue
        loss = F.cross_entropy(scores, flat, ignore_index=IGNORE)
        total = total + loss
        parts[f"loss_{name}"] = loss.item()
        parts[f"acc_{name}"] = (scores.argmax(-1)[valid] == flat[valid]).float().mean().item()
    return total, parts


def lr_factor(progress: float, step: int, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then a cosine from 1 to 0 over progress in [0, 1]."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return warm * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def evaluate(net: CaptionNet, cfg: Config, n: int, first_seed: int = VAL_SEED_BASE) -> FactsReport:
    """Facts right of the network on `n` held-out clips (the world's own feature rate, every size and length)."""
    net.eval()
    report = facts_right(WorldCaptioner(net).caption, n, cfg.world.sizes, cfg.world.frames, cfg.captioner.fps,
                         cfg.world.feature_prob, first_seed=first_seed)
    net.train()
    return report


def train_captioner(cfg: Config, out_dir: str | Path | None = None, steps: int | None = None,
                    minutes: float | None = None, resume: bool = False, quiet: bool = False) -> Path:
    """Train per `cfg.captioner` (clip sizes and lengths from `cfg.world`); returns the saved captioner folder."""
    cc = replace(cfg.captioner, out_dir=str(out_dir or cfg.captioner.out_dir), steps=steps or cfg.captioner.steps)
    cfg = replace(cfg, captioner=cc)
    out = Path(cc.out_dir)
    if minutes is not None and minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {minutes}")
    torch.manual_seed(cc.seed)
    net = CaptionNet(cc).train()
    opt = build_optimizer(net, cc.lr, (0.9, 0.99), cc.weight_decay)
    step, spent = 0, 0.0
    if resume:
        if latest_checkpoint(out) is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {out}; train without --resume first")
        ckpt = load_checkpoint(out, groups=("model",))
        net.load_state_dict(ckpt.tensors["model"])
        opt.load_state_dict(ckpt.state["optimizer"])
        step, spent = ckpt.step, float(ckpt.state["spent_s"])
        console.print(f"resumed {out} at step {step} ({spent / 60:.1f} min spent)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "captioner_config.json").write_text(json.dumps({"captioner": to_dict(cc), "world": to_dict(cfg.world)},
                                                          indent=2))
    budget = None if minutes is None else 60.0 * minutes

    def progress_of(step: int, spent: float) -> float:
        return max(step / cc.steps, spent / budget if budget else 0.0)

    def checkpoint(step: int, spent: float) -> None:
        save_checkpoint(out, step, {"model": net.state_dict()}, {"optimizer": opt.state_dict(), "spent_s": spent},
                        keep=cc.keep_checkpoints)

    columns = (TextColumn("[bold]captioner"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("facts {task.fields[facts]}"),
               TimeElapsedColumn())
    with MetricsLogger(out, tensorboard=False, start_step=step) as log, \
            Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task("train", total=cc.steps, completed=step, loss=float("nan"), facts="-")
        window_s, window_steps = 0.0, 0  # seconds a training step takes, over the last log interval
        while progress_of(step, spent) < 1.0:
            started = time.perf_counter()
            x, real, targets = make_batch(cfg, step)
            lr = cc.lr * lr_factor(progress_of(step, spent), step, cc.warmup_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, parts = caption_loss(net(x, real), targets, cc.short_side)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), cc.grad_clip)
            opt.step()
            step += 1
            window_s, window_steps = window_s + time.perf_counter() - started, window_steps + 1
            bar.update(task, completed=step, loss=loss.item())
            if step % cc.log_every == 0 or step == 1:
                log.log(step, {"loss": loss.item(), **parts, "lr": lr, "grad_norm": grad_norm.item(),
                               "s_per_step": window_s / window_steps, "spent_s": spent})
                window_s, window_steps = 0.0, 0
            if cc.val_every and step % cc.val_every == 0:
                report = evaluate(net, cfg, cc.val_clips)
                log.log(step, {"val_facts_right": report.rate,
                               **{f"val_{k}": r / n for k, (r, n) in report.kinds.items()}})
                bar.update(task, facts=f"{100 * report.rate:.1f}%")
            spent += time.perf_counter() - started  # the budget counts checks and checkpoints too
            if step % cc.ckpt_every == 0:
                checkpoint(step, spent)
        if step % cc.ckpt_every:
            checkpoint(step, spent)
        report = evaluate(net, cfg, cc.val_clips)
        log.log(step, {"val_facts_right": report.rate, **{f"val_{k}": r / n for k, (r, n) in report.kinds.items()}})
    (out / "eval.json").write_text(json.dumps({"step": step, "spent_s": spent, "first_seed": VAL_SEED_BASE,
                                               **report.to_dict()}, indent=2))
    net.eval()
    return WorldCaptioner(net).save_pretrained(out / "captioner")


__all__ = ["train_captioner", "make_batch", "caption_loss", "evaluate", "lr_factor"]
