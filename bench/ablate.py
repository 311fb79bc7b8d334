"""One ablation arm: train a recipe with overrides to a fixed budget, score it, append one JSON row.

    python bench/ablate.py --name lr2x --recipe world_rung1 --minutes 20 --out runs/ablate/rung1.jsonl \\
        --set train.vae_path=models/world-tiny --set data.latents=runs/world_rung1/latents --set train.lr=1e-3
    python bench/ablate.py --name width256 --recipe world_rung1 --flops 1.5e14 ... --set dit.width=256
    python bench/ablate_table.py runs/ablate/rung1.jsonl

The budget is one of --steps N, --flops F (training model FLOPs, counted batch by batch by the closed form
of patchflow/models/dit/flops.py) or --minutes M (time spent in training steps; validation, checkpoints and
setup are not counted). For --flops and --minutes a short probe run of this very config (--probe-steps, in
its own folder, deleted after) measures FLOPs and seconds per step on this machine, and the arm trains
steps = budget / per step, so its learning-rate schedule (warmup, cosine to zero) fits the budget. Should
the arm reach its budget before that (a busier machine, larger batches than the probe saw), it stops there:
that step logs, validates and exports as a planned last step, and the row says "stopped_early".

A curriculum is arms in a chain: --init-from starts an arm's DiT (and its EMA) from an earlier arm's model
folder or a training checkpoint folder (a fresh optimizer and schedule), and the row adds the FLOPs of the
arm that made it (found by its model folder in --out) as prior_flops, so a curriculum compares with a
single run of prior_flops + flops.

Then the model folder is scored on the world bench's quick subset (the rung of the config's world.rung
only, world/ladder.py; --category to narrow it further), and the row holds: the overrides, the budget, the
steps, video tokens, FLOPs, weights, training minutes, the final training loss, the held-out validation
loss per band of t (train/validation.py; validation is switched on at the last step if the recipe has it
off) and the bench's pass rate with its 95 % interval, per category too. Arms of one table must share a
machine and a load to compare by minutes; FLOPs compare anywhere.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.config import Config  # noqa: E402
from patchflow.models.dit.embeddings import patch_grid  # noqa: E402
from patchflow.models.dit.flops import train_flops  # noqa: E402
from patchflow.recipes import resolve  # noqa: E402
from patchflow.train.token_mask import kept_tokens, mask_ratio_at  # noqa: E402
from patchflow.train.trainer import Trainer  # noqa: E402


class BudgetTrainer(Trainer):
    """The DiT trainer, counting FLOPs batch by batch and the seconds of every step, stopping at a budget."""

    def __init__(self, cfg: Config, max_flops: float | None = None, max_seconds: float | None = None,
                 init_from: str | None = None, **kwargs):
        super().__init__(cfg, **kwargs)
        if init_from:  # a curriculum stage: start from an earlier model's weights, its EMA restarted from them
            from patchflow.diffusion.guidance import load_guide_transformer
            from patchflow.train.ema import EMA

            self.model.load_state_dict(load_guide_transformer(init_from, self.model).state_dict())
            self.ema = EMA(self.model, self.tc.ema_decay)
        self.max_flops, self.max_seconds = max_flops, max_seconds
        self.flops = 0
        self.step_seconds: list[float] = []
        self.stopped_early = False

    def micro_loss(self, batch, gen, noise_gen):
        used_text = int(batch["text_mask"].any(dim=0).nonzero().max()) + 1  # the text columns the DiT keeps
        shape = tuple(batch["latents"].shape)
        kept = kept_tokens(patch_grid(shape, tuple(self.cfg.dit.patch_size)), mask_ratio_at(self.tc, self.step))
        self.flops += train_flops(self.cfg.dit, shape, used_text, kept)
        return super().micro_loss(batch, gen, noise_gen)

    def train_step(self) -> dict:
        started = time.perf_counter()
        metrics = super().train_step()
        self.step_seconds.append(time.perf_counter() - started)
        spent = (self.max_flops is not None and self.flops >= self.max_flops) or (
            self.max_seconds is not None and sum(self.step_seconds) >= self.max_seconds)
        if spent and self.step + 1 < self.tc.steps:
            self.tc.steps = self.step + 1  # the loop ends after this step, which logs, validates and exports
            self.stopped_early = True
        return metrics


def probe(cfg: Config, steps: int, folder: Path) -> tuple[float, float]:
    """(FLOPs, seconds) per training step of `cfg` on this machine, from a short run in `folder` (deleted after).
    Seconds are the median over the steps after the first few (which pay for allocations and caches)."""
    probe_cfg = resolve_copy(cfg, [f"train.out_dir={folder}", f"train.steps={steps}", "train.val_every=0",
                                   "train.ckpt_every=0", "train.sample_every=0", "train.tensorboard=false"])
    trainer = BudgetTrainer(probe_cfg, show_progress=False)
    trainer.fit()
    flops_per_step = trainer.flops / steps
    settled = trainer.step_seconds[min(3, steps - 1):]
    seconds = statistics.median(settled)
    del trainer
    gc.collect()
    shutil.rmtree(folder, ignore_errors=True)
    return flops_per_step, seconds


def resolve_copy(cfg: Config, overrides: list[str]) -> Config:
    """A copy of `cfg` with more overrides (the copy goes through JSON: nothing is shared)."""
    from patchflow.config import apply_overrides, from_json, to_json

    return apply_overrides(from_json(to_json(cfg)), overrides)


def last_metrics(run_dir: Path) -> dict:
    """The last logged training loss and the last validation (val_loss, val_loss_t0..3) of a run's metrics.jsonl."""
    found = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "loss" in row:
            found["loss"] = row["loss"]
        found.update({k: v for k, v in row.items() if k.startswith("val_loss")})
    return found


def prior_flops(rows_file: Path, init_from: str) -> float | None:
    """Training FLOPs behind `init_from`: those of the row of `rows_file` that made it (and its own prior), if any."""
    if not rows_file.is_file():
        return None
    target = Path(init_from).resolve()
    for line in rows_file.read_text().splitlines():
        row = json.loads(line)
        made = Path(row.get("model", "")).resolve()
        if target == made or target.parent.parent == made.parent:  # its model folder, or a checkpoint of its run
            return row["flops"] + (row.get("prior_flops") or 0)
    return None


def bench(model_dir: Path, out_dir: Path, rung: int, categories: tuple[str, ...] | None, device: str) -> dict:
    """The quick world bench of a model folder (the rung's prompts only for rung > 0): its summary, lightened."""
    from patchflow.eval.world_bench import pipeline_generator, run_world_bench

    result = run_world_bench(pipeline_generator(model_dir, device=device), 8, out_dir, progress=True,
                             categories=categories, model=str(model_dir), quick=True, rung=rung)
    return bench_row(result.summary())


def bench_row(summary: dict) -> dict:
    """What a row keeps of a bench summary: overall and per-category pass rates with their intervals, pop-ins."""
    keep = ("overall", "passed", "judged", "ci_low", "ci_high", "appearances_per_min", "disappearances_per_min",
            "subset", "elapsed_s")
    categories = {name: {k: c[k] for k in ("pass_rate", "passed", "judged", "ci_low", "ci_high")}
                  for name, c in summary["categories"].items()}
    return {**{k: summary[k] for k in keep}, "categories": categories}


def planned_steps(cfg: Config, args, folder: Path) -> tuple[int, dict]:
    """Steps the arm trains, and what the plan was made of (the budget, and the probe's numbers)."""
    if args.steps is not None:
        return args.steps, {"kind": "steps", "value": args.steps}
    flops_per_step, seconds_per_step = probe(cfg, args.probe_steps, folder)
    plan = {"probe_flops_per_step": flops_per_step, "probe_seconds_per_step": seconds_per_step}
    if args.flops is not None:
        return max(1, int(args.flops // flops_per_step)), {"kind": "flops", "value": args.flops, **plan}
    return max(1, int(args.minutes * 60 // seconds_per_step)), {"kind": "minutes", "value": args.minutes, **plan}


def run_arm(args) -> dict:
    started = time.perf_counter()
    arm_dir = Path(args.runs) / args.name
    if arm_dir.exists():
        raise SystemExit(f"{arm_dir} exists: an arm trains from scratch; give another --name (or --runs), or move "
                         "the old folder away")
    overrides = list(args.set or [])
    cfg = resolve(args.recipe, overrides + [f"train.out_dir={arm_dir}"])
    steps, budget = planned_steps(cfg, args, arm_dir.with_name(arm_dir.name + "-probe"))
    # validation at least at the last step: the row's held-out loss
    extra = [f"train.steps={steps}"] + ([] if cfg.train.val_every > 0 else [f"train.val_every={steps}"])
    cfg = resolve_copy(cfg, extra)
    max_flops = args.flops if args.flops is not None else None
    max_seconds = args.minutes * 60 if args.minutes is not None else None
    trainer = BudgetTrainer(cfg, max_flops=max_flops, max_seconds=max_seconds, init_from=args.init_from)
    model_dir = trainer.fit()
    row = {
        "name": args.name, "recipe": args.recipe, "overrides": overrides, "rung": cfg.world.rung, "budget": budget,
        "planned_steps": steps, "steps": trainer.step, "stopped_early": trainer.stopped_early,
        "tokens": trainer.tokens_seen, "flops": trainer.flops, "weights": trainer.model.num_params(),
        "train_minutes": sum(trainer.step_seconds) / 60, **last_metrics(arm_dir), "model": str(model_dir),
    }
    if args.init_from:
        row.update(init_from=args.init_from, prior_flops=prior_flops(Path(args.out), args.init_from))
    del trainer
    gc.collect()
    if not args.no_bench:
        categories = tuple(args.category) if args.category else None
        row["bench"] = bench(model_dir, arm_dir / "bench", cfg.world.rung, categories, args.device)
    row.update(arm_minutes=(time.perf_counter() - started) / 60, machine=platform.node(),
               finished=datetime.datetime.now().isoformat(timespec="seconds"))
    return row


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="the arm's name: its row, and its run folder under --runs")
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="a config override (repeatable)")
    budget = ap.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="train exactly this many steps")
    budget.add_argument("--flops", type=float, help="training FLOPs (patchflow/models/dit/flops.py)")
    budget.add_argument("--minutes", type=float, help="minutes spent in training steps on this machine")
    ap.add_argument("--init-from", metavar="PATH", help="start from this model folder's (or checkpoint's) DiT: a "
                    "curriculum stage")
    ap.add_argument("--probe-steps", type=int, default=20, help="steps of the probe run that sizes a FLOP or time "
                    "budget")
    ap.add_argument("--out", default="runs/ablate/arms.jsonl", help="the JSONL file the row is appended to")
    ap.add_argument("--runs", default="runs/ablate", help="folder of the arms' run folders")
    ap.add_argument("--category", action="append", help="bench only this category (repeatable)")
    ap.add_argument("--no-bench", action="store_true", help="train and record the losses only")
    ap.add_argument("--device", default="cpu", help="where the bench samples")
    args = ap.parse_args(argv)
    if args.probe_steps < 2:
        ap.error("--probe-steps must be at least 2")
    for name in ("steps", "flops", "minutes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            ap.error(f"--{name} must be positive, got {value}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    row = run_arm(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")  # a diverged arm's NaN loss is kept as NaN (Python's json reads it)
    print(f"appended arm {args.name!r} to {out}", file=sys.stderr)
    return row


if __name__ == "__main__":
    main()
