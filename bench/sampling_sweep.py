"""Sampling knobs on one trained model, scored on the quick world bench: one JSON row per setting.

    python bench/sampling_sweep.py --model runs/world_rung1/model --run runs/world_rung1 \\
        --out runs/sweep/rung1.jsonl --steps 20,10,40 --sampler euler,heun --guidance 4,1.5,7 \\
        --interval 0:1,0.2:0.8 --guide none,runs/world_rung1/checkpoints/step_00000300 \\
        --weights ema,raw,posthoc:0.99
    python bench/ablate_table.py runs/sweep/rung1.jsonl --sort quick

Each option lists its values, the first being the base setting. The sweep varies one knob at a time around
the base (1 + the sum of (values - 1) settings); --grid runs every combination. Every setting samples the
same prompts with the same seeds (the bench's), on the rung of the model's world.rung (world/ladder.py).

- steps, sampler (euler | heun: Heun makes two model calls a step, the last step excepted), guidance (scale);
- interval lo:hi: guidance only while lo <= t <= hi, the conditional prediction elsewhere (sample.guidance_interval);
- shift: the SD3 time shift of the sampler's grid (sample.shift; 0 = the flow's shift for the sample's token
  count, the one training used); a larger shift spends more of the steps at high noise, where layout is decided;
- guide: none (classifier-free guidance), or autoguidance by a weaker DiT of the same shape (sample.guidance_model:
  a model folder, a DiT folder or a training checkpoint folder, e.g. an early checkpoint of the same run);
- weights: ema (the model folder's), raw (the newest checkpoint's training weights in --run), or posthoc:D, an
  EMA of decay D rebuilt from the raw weights of every checkpoint in --run (`posthoc_ema`: train with
  train.keep_checkpoints=0, and checkpoints much closer together than the EMA's half-life, ln 0.5 / ln D steps).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablate import bench_row  # noqa: E402

KNOBS = ("steps", "sampler", "guidance", "interval", "shift", "guide", "weights")


# ----------------------------------------------------------------------------- weights


def checkpoint_steps(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every whole checkpoint of a run (model.safetensors present), oldest first."""
    from patchflow.train.checkpoint import CKPT_DIR, PREFIX

    found = [(int(p.name[len(PREFIX):]), p) for p in (run_dir / CKPT_DIR).glob(f"{PREFIX}*")
             if (p / "model.safetensors").is_file()]
    if not found:
        raise FileNotFoundError(f"no checkpoint with raw weights in {run_dir / CKPT_DIR}; pass the training run's "
                                "folder (train.out_dir) as --run")
    return sorted(found)


def posthoc_weights(steps: list[int], decay: float) -> list[float]:
    """The share of each snapshot (taken at `steps`, increasing) in an EMA of `decay` at the last step.

    The EMA at step S is sum over s <= S of (1 - d) d^(S - s) theta_s, plus d^S theta_0. Snapshot i stands for
    the steps since the one before, (s_{i-1}, s_i]; their terms sum to d^(S - s_i) - d^(S - s_{i-1}). The
    first snapshot also stands for the steps before it and the initial weights: d^(S - s_1). The shares sum to 1.
    A constant decay from step 0, unlike the trainer's EMA, whose decay warms up as (1 + n) / (10 + n).
    """
    last = steps[-1]
    shares = [decay ** (last - s) for s in steps]
    return [shares[0]] + [shares[i] - shares[i - 1] for i in range(1, len(steps))]


def posthoc_ema(run_dir: Path, decay: float) -> dict[str, torch.Tensor]:
    """An EMA of `decay` at the newest checkpoint, rebuilt from the raw weights of every checkpoint of the run."""
    from safetensors.torch import load_file

    found = checkpoint_steps(run_dir)
    shares = posthoc_weights([s for s, _ in found], decay)
    total: dict[str, torch.Tensor] = {}
    for share, (_, folder) in zip(shares, found, strict=True):
        for name, value in load_file(folder / "model.safetensors").items():
            if value.is_floating_point():
                total[name] = total.get(name, 0) + share * value.double()
            else:
                total[name] = value  # integer buffers: the newest
    return {name: value.float() if value.is_floating_point() else value for name, value in total.items()}


def transformer_weights(kind: str, model_state: dict, run_dir: Path | None) -> dict[str, torch.Tensor]:
    """The DiT weights of a `weights` knob value: ema, raw or posthoc:D."""
    from safetensors.torch import load_file

    if kind == "ema":
        return model_state
    if run_dir is None:
        raise SystemExit(f"--weights {kind} reads the training checkpoints: pass the run folder as --run")
    if kind == "raw":
        return load_file(checkpoint_steps(run_dir)[-1][1] / "model.safetensors")
    if kind.startswith("posthoc:"):
        return posthoc_ema(run_dir, float(kind.split(":", 1)[1]))
    raise SystemExit(f"--weights {kind!r}: use ema, raw or posthoc:DECAY (e.g. posthoc:0.99)")


# ----------------------------------------------------------------------------- settings


def settings(values: dict[str, list], grid: bool) -> list[dict]:
    """Every combination (grid), or the base (the first of each) and one knob changed at a time."""
    if grid:
        return [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]
    base = {k: v[0] for k, v in values.items()}
    return [base] + [{**base, k: other} for k, v in values.items() for other in v[1:]]


def parse_interval(text: str) -> list[float]:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise SystemExit(f"--interval {text!r}: give LO:HI, e.g. 0:1 or 0.2:0.8") from None
    return [lo, hi]


def overrides_of(setting: dict) -> list[str]:
    """The setting as `sample.*` overrides (how the rows name it)."""
    lo, hi = setting["interval"]
    out = [f"sample.steps={setting['steps']}", f"sample.sampler={setting['sampler']}",
           f"sample.guidance={setting['guidance']:g}", f"sample.guidance_interval=[{lo:g},{hi:g}]"]
    if setting["shift"]:
        out.append(f"sample.shift={setting['shift']:g}")
    if setting["guide"] != "none":
        out.append(f"sample.guidance_model={setting['guide']}")
    return out + ([f"weights={setting['weights']}"] if setting["weights"] != "ema" else [])


def run_setting(pipe, setting: dict, weights: dict, rung: int, categories, out_dir: Path) -> dict:
    from patchflow.eval.world_bench import run_world_bench
    from patchflow.pipeline import to_uint8

    pipe.transformer.load_state_dict(weights)
    sample = pipe.config.sample
    sample.sampler, sample.guidance_interval = setting["sampler"], list(setting["interval"])
    sample.shift = setting["shift"]  # 0: the flow's shift for the sample's token count, as in training
    sample.guidance_model = "" if setting["guide"] == "none" else setting["guide"]

    def generate(prompt, width, height, num_frames, fps, seed):
        out = pipe(prompt, height=height, width=width, num_frames=num_frames, fps=fps,
                   num_inference_steps=setting["steps"], guidance_scale=setting["guidance"],
                   generator=torch.Generator().manual_seed(seed), output_type="np")
        return to_uint8(out.frames)[0]  # (1, F, H, W, 3) float in [0, 1] -> (F, H, W, 3) uint8

    started = time.perf_counter()
    result = run_world_bench(generate, 8, out_dir, categories=categories, quick=True, rung=rung,
                             model=str(out_dir))
    return {"minutes": (time.perf_counter() - started) / 60, "bench": bench_row(result.summary())}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the model folder to sample")
    ap.add_argument("--run", help="its training run folder (train.out_dir), for --weights raw and posthoc:D")
    ap.add_argument("--out", default="runs/sweep/sweep.jsonl", help="the JSONL file rows are appended to")
    ap.add_argument("--bench-dir", default="runs/sweep/bench", help="bench folders, one per setting")
    ap.add_argument("--steps", default="20")
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--guidance", default="4")
    ap.add_argument("--interval", default="0:1", help="comma-separated LO:HI intervals of t")
    ap.add_argument("--shift", default="0", help="comma-separated time shifts of the sampler's grid (0: the "
                    "flow's shift for the token count, as in training; larger: more steps near noise)")
    ap.add_argument("--guide", default="none", help="comma-separated: none, or guide folders (autoguidance)")
    ap.add_argument("--weights", default="ema", help="comma-separated: ema, raw, posthoc:DECAY")
    ap.add_argument("--grid", action="store_true", help="every combination instead of one knob at a time")
    ap.add_argument("--category", action="append", help="bench only this category (repeatable)")
    ap.add_argument("--device", default="cpu")
    return ap.parse_args(argv)


def main(argv=None) -> list[dict]:
    from patchflow.pipeline import Pipeline

    args = parse_args(argv)
    split = lambda text: [v.strip() for v in text.split(",") if v.strip()]  # noqa: E731
    values = {"steps": [int(v) for v in split(args.steps)], "sampler": split(args.sampler),
              "guidance": [float(v) for v in split(args.guidance)],
              "interval": [parse_interval(v) for v in split(args.interval)],
              "shift": [float(v) for v in split(args.shift)], "guide": split(args.guide),
              "weights": split(args.weights)}
    pipe = Pipeline.from_pretrained(args.model, device=args.device)
    pipe.progress = False
    ema = {k: v.clone() for k, v in pipe.transformer.state_dict().items()}
    run_dir = Path(args.run) if args.run else None
    weights = {kind: transformer_weights(kind, ema, run_dir) for kind in values["weights"]}  # fail before sampling
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, setting in enumerate(settings(values, args.grid)):
        name = " ".join(f"{k}={v}" if k != "interval" else f"{k}={v[0]:g}:{v[1]:g}" for k, v in setting.items())
        print(f"setting {i + 1}: {name}", file=sys.stderr)
        row = {"name": name, "model": args.model, "overrides": overrides_of(setting), "knobs": setting,
               "rung": pipe.config.world.rung,
               **run_setting(pipe, setting, weights[setting["weights"]], pipe.config.world.rung,
                             tuple(args.category) if args.category else None, Path(args.bench_dir) / f"{i:03d}"),
               "finished": datetime.datetime.now().isoformat(timespec="seconds")}
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
