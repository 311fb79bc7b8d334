"""The world bench: generate every bench prompt, judge it with the oracle, report pass rates.

    result = run_world_bench(truth_generator(), n_per_category=2, out_dir="runs/bench")
    result.overall  # share of judged facts that pass, over all samples

A generator is any function `(prompt, width, height, num_frames, fps, seed) -> (T, H, W, 3) uint8`:
`truth_generator()` renders the prompt's scene with the simulator (the ceiling: it must score
>= 99%, or the bench measures the oracle instead of the model), `pipeline_generator(dir)` samples
a model folder, and `vae_ceiling.through_vae(truth_generator(), vae, ...)` passes the truth through
a VAE (the best any DiT on that VAE can score). Pass rates are passed facts / judged facts (facts
the video cannot show, such as the motion of an image, are skipped, not failed), each with its
Wilson 95 % interval (eval/intervals.py). Spontaneous appearances and disappearances (objects
popping in or out away from the pillar and the frame edges) are counted per minute of video.

A run is the first `n_per_category` prompts of every category, or the fixed quick subset
(`quick=True`, world_prompts.QUICK_IDS), whose samples are the same as the full run's for those ids.
The output folder gets summary.md, summary.json and one contact sheet per category, each sample's frames
over its prompt, the facts that held and the facts that failed with why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from patchflow.eval.intervals import rate_with_interval, wilson_interval
from patchflow.eval.world_prompts import BENCH_VERSION, BenchPrompt, select, select_quick
from patchflow.media import contact_sheet, write_image
from patchflow.world.oracle import FactResult, observe, score_observation
from patchflow.world.parser import parse_caption
from patchflow.world.scene import SceneFacts

GenerateFn = Callable[[str, int, int, int, float, int], np.ndarray]

# Framing: an object is whole in a frame when it does not touch the frame edge, or touches it with
# at least this share of its full area (a bounce grazes the edge; a crop cuts the object off).
WHOLE_AREA = 0.85
WHOLE_FRAMES = 0.9  # share of the video's frames in which each object must be whole


@dataclass
class SampleResult:
    id: str
    category: str
    text: str
    width: int
    height: int
    num_frames: int
    fps: float
    seed: int
    passed: int
    judged: int
    appearances: int
    disappearances: int
    failed: list[dict]  # {"name", "detail"} of every failed fact
    skipped: int
    generate_s: float


@dataclass
class CategoryResult:
    samples: int = 0
    passed: int = 0
    judged: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None

    def numbers(self) -> dict:
        """pass_rate, passed, judged, samples and the Wilson 95 % interval (ci_low, ci_high; None if unjudged)."""
        low, high = wilson_interval(self.passed, self.judged) or (None, None)
        return {"pass_rate": self.pass_rate, "passed": self.passed, "judged": self.judged, "samples": self.samples,
                "ci_low": low, "ci_high": high}


@dataclass
class BenchResult:
    version: str
    model: str  # what made the videos: a model folder, "world-truth", "world-truth through <vae folder>"
    seed: int
    n_per_category: int | None  # None for the quick subset, whose categories have different counts
    subset: str  # "quick", or "first K per category"
    samples: list[SampleResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    def categories(self) -> dict[str, CategoryResult]:
        out: dict[str, CategoryResult] = {}
        for s in self.samples:
            c = out.setdefault(s.category, CategoryResult())
            c.samples += 1
            c.passed += s.passed
            c.judged += s.judged
        return out

    def total(self) -> CategoryResult:
        """Every sample pooled: facts passed / judged over the whole run."""
        return CategoryResult(len(self.samples), sum(s.passed for s in self.samples),
                              sum(s.judged for s in self.samples))

    @property
    def overall(self) -> float | None:
        return self.total().pass_rate

    @property
    def video_minutes(self) -> float:
        return sum(s.num_frames / s.fps for s in self.samples) / 60.0

    def per_minute(self, events: str) -> float:
        total = sum(getattr(s, events) for s in self.samples)
        return total / self.video_minutes if self.video_minutes else 0.0

    def summary(self) -> dict:
        """The numbers: per-category and overall pass rates with their 95 % intervals, pop-ins and pop-outs
        per minute."""
        total = self.total().numbers()
        return {
            "version": self.version, "model": self.model, "seed": self.seed,
            "n_per_category": self.n_per_category, "subset": self.subset,
            "overall": self.overall, "passed": total["passed"], "judged": total["judged"],
            "ci_low": total["ci_low"], "ci_high": total["ci_high"],
            "categories": {name: c.numbers() for name, c in self.categories().items()},
            "appearances_per_min": self.per_minute("appearances"),
            "disappearances_per_min": self.per_minute("disappearances"),
            "video_minutes": self.video_minutes,
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def to_dict(self) -> dict:
        return {**self.summary(), "samples": [asdict(s) for s in self.samples]}

    def markdown(self) -> str:
        total = self.total()
        subset = "the quick subset" if self.subset == "quick" else self.subset
        lines = [f"# World bench ({self.version})", "",
                 f"model: `{self.model}`, seed {self.seed}, {subset}, "
                 f"{self.video_minutes:.2f} min of video, {self.elapsed_s:.0f} s", "",
                 "| category | samples | facts passed | pass rate [95% interval] |", "| --- | ---: | ---: | ---: |"]
        for name, c in self.categories().items():
            lines.append(f"| {name} | {c.samples} | {c.passed}/{c.judged} | {rate_with_interval(c.passed, c.judged)} |")
        lines += [f"| **overall** | {total.samples} | {total.passed}/{total.judged} | "
                  f"**{rate_with_interval(total.passed, total.judged)}** |", "",
                  f"Spontaneous appearances: {self.per_minute('appearances'):.2f} per minute of video; "
                  f"disappearances: {self.per_minute('disappearances'):.2f} per minute.", ""]
        failures = [(s, f) for s in self.samples for f in s.failed]
        if failures:
            lines += ["## Failed facts", ""]
            lines += [f"- `{s.id}` \"{s.text}\": {f['name']}: {f['detail']}" for s, f in failures]
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- generators


def truth_generator() -> GenerateFn:
    """The simulator as a model: render the scene the prompt states, unsaid facts drawn from the seed."""
    from patchflow.world.render import render_scene
    from patchflow.world.scene import complete

    def generate(prompt: str, width: int, height: int, num_frames: int, fps: float, seed: int) -> np.ndarray:
        frames, _ = render_scene(complete(parse_caption(prompt), seed), width, height, num_frames, fps, seed)
        return frames

    return generate


def pipeline_generator(model_dir: str | Path, steps: int | None = None, guidance: float | None = None,
                       device: str = "cpu", expand_prompt: bool | str = False) -> GenerateFn:
    """A model folder as a generator: one video per call, noise from a CPU generator seeded per prompt.

    expand_prompt: False, or an expander (True = the model's own, or a backend name; text/expand.py) that turns
    each bench prompt into a detailed caption before sampling, seeded by the prompt's seed. The bench still
    judges the facts of the prompt as written (the expander keeps them and only fills the open ones)."""
    import torch

    from patchflow.pipeline import Pipeline, to_uint8

    pipe = Pipeline.from_pretrained(model_dir, device=device)
    pipe.progress = False  # the bench shows its own bar

    def generate(prompt: str, width: int, height: int, num_frames: int, fps: float, seed: int) -> np.ndarray:
        out = pipe(prompt, height=height, width=width, num_frames=num_frames, fps=fps, num_inference_steps=steps,
                   guidance_scale=guidance, generator=torch.Generator().manual_seed(seed), output_type="np",
                   expand_prompt=expand_prompt)
        return to_uint8(out.frames)[0]  # (1, F, H, W, 3) float in [0, 1] -> (F, H, W, 3) uint8

    return generate


# ----------------------------------------------------------------------------- judging


def framing_facts(obs, facts: SceneFacts) -> list[FactResult]:
    """Each stated object stays whole in view: in at least WHOLE_FRAMES of the frames it is present and
    either clear of the frame edge or, touching it, at least WHOLE_AREA of its full area (the median
    area over its frames clear of the edge; the largest area seen when it never is)."""
    colors = [o.color for o in facts.objects if o.color] or sorted(obs.tracks)
    results = []
    for color in colors:
        name = f"framing[{color}]"
        track = obs.tracks.get(color)
        if track is None:
            results.append(FactResult(name, False, "object not in the video"))
            continue
        clear = track.present & ~track.at_edge
        full = float(np.median(track.area[clear])) if clear.any() else float(np.nanmax(track.area))
        whole = track.present & (~track.at_edge | (np.nan_to_num(track.area) >= WHOLE_AREA * full))
        share = float(whole.mean())
        results.append(FactResult(name, share >= WHOLE_FRAMES,
                                  f"whole in view in {share:.0%} of frames (needs {WHOLE_FRAMES:.0%})"))
    return results


def judge(prompt: BenchPrompt, frames: np.ndarray) -> tuple[list[FactResult], list[FactResult], int, int]:
    """(judged facts, skipped facts, appearances, disappearances) of one generated sample."""
    facts = parse_caption(prompt.text)
    obs = observe(frames, prompt.fps)
    report = score_observation(obs, facts)
    judged = list(report.facts)
    if prompt.category == "framing":
        judged += framing_facts(obs, facts)
    return judged, list(report.skipped), report.appearances, report.disappearances


def check_frames(prompt: BenchPrompt, frames: np.ndarray) -> np.ndarray:
    """The generator's output as (T, H, W, 3) uint8 of the asked size; a wrong one is the generator's bug."""
    frames = np.asarray(frames)
    want = (prompt.num_frames, prompt.height, prompt.width, 3)
    if frames.dtype != np.uint8 or frames.shape != want:
        raise ValueError(f"generator returned {frames.dtype} {frames.shape} for {prompt.id}; wanted uint8 {want}")
    return frames


# ----------------------------------------------------------------------------- the run


TEXT_INK, PASS_INK, FAIL_INK = (20, 20, 20), (20, 120, 40), (200, 30, 30)
SHEET_MIN_WIDTH = 480  # px: room for a prompt and a few facts per line under a small strip
LABEL_PAD = 4


def sample_label(sample: SampleResult, passed: list[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """The lines under a sample's strip: its prompt and score, the facts that held, each failed fact and why."""
    lines = [(f'{sample.id}: "{sample.text}"  {sample.passed}/{sample.judged} facts', TEXT_INK)]
    if passed:
        lines.append(("passed: " + ", ".join(passed), PASS_INK))
    lines += [(f"failed {f['name']}: {f['detail']}", FAIL_INK) for f in sample.failed]
    return lines


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap to `width` pixels (a word longer than a line is cut where it must be)."""
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.getlength(word) > width:
            cut = max(1, int(len(word) * width / font.getlength(word)))
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    return lines + [line] if line else lines


def label_block(lines: list[tuple[str, tuple[int, int, int]]], width: int) -> np.ndarray:
    """(H, width, 3) uint8: the lines in Pillow's default font on white, wrapped to the width."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    rows = [(piece, ink) for text, ink in lines for piece in _wrap(text, font, width - 2 * LABEL_PAD)]
    line_height = font.getbbox("Hg")[3] + 3
    picture = Image.new("RGB", (width, 2 * LABEL_PAD + line_height * len(rows)), "white")
    draw = ImageDraw.Draw(picture)
    for k, (piece, ink) in enumerate(rows):
        draw.text((LABEL_PAD, LABEL_PAD + k * line_height), piece, fill=ink, font=font)
    return np.asarray(picture)


def write_sheet(path: Path, samples: list[tuple[np.ndarray, list[tuple[str, tuple[int, int, int]]]]],
                gap: int = 8) -> np.ndarray:
    """Stack each sample's contact strip with its label (`sample_label`) under it, left-aligned on white, so
    the sheet explains its own numbers. Returns the picture written."""
    width = max(SHEET_MIN_WIDTH, *(strip.shape[1] for strip, _ in samples))
    blocks = [block for strip, lines in samples for block in (strip, label_block(lines, width))]
    height = sum(b.shape[0] for b in blocks) + gap * (len(samples) - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    y = 0
    for k, block in enumerate(blocks):
        canvas[y:y + block.shape[0], :block.shape[1]] = block
        y += block.shape[0] + (gap if k % 2 else 0)  # a gap after each label, none between strip and label
    write_image(path, canvas)
    return canvas


def bench_progress(show: bool) -> Progress:
    """The bench's bar: the sample in hand, done / total, time spent and time left."""
    columns = (TextColumn("world bench {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), transient=True, disable=not show)


def bench_prompts(n_per_category: int, long: bool = False, categories: tuple[str, ...] | None = None,
                  quick: bool = False, rung: int = 0) -> list[BenchPrompt]:
    """The prompts of one run: the quick subset, or the first `n_per_category` of each category (and the
    60 s samples with `long`); only the named categories when given; with `rung` K > 0 only what rung K of
    the difficulty ladder shows (world_prompts.for_rung). Raises ValueError on a bad choice."""
    if quick and long:
        raise ValueError("the quick subset has no 60 s samples; drop --long, or drop --quick to add them")
    if quick:
        return select_quick(categories, rung=rung)
    return select(n_per_category, long=long, categories=categories, rung=rung)


def run_world_bench(generate_fn: GenerateFn, n_per_category: int, out_dir: str | Path, seed: int = 0,
                    progress: bool = True, long: bool = False, categories: tuple[str, ...] | None = None,
                    model: str = "custom", quick: bool = False, rung: int = 0) -> BenchResult:
    """Generate and judge the first `n_per_category` prompts of every category (the 60 s samples
    only with `long`), or with `quick` the quick subset (n_per_category unused); write summary.md,
    summary.json and sheets/<category>.png under `out_dir`. `rung`: see bench_prompts."""
    prompts = bench_prompts(n_per_category, long=long, categories=categories, quick=quick, rung=rung)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subset = "quick" if quick else f"first {n_per_category} per category"
    result = BenchResult(BENCH_VERSION, model, seed, None if quick else n_per_category, subset)
    sheets: dict[str, list[tuple[np.ndarray, list]]] = {}  # category -> (contact strip, label lines) per sample
    start = time.perf_counter()
    with bench_progress(progress) as bar:
        task = bar.add_task("", total=len(prompts))
        for p in prompts:
            bar.update(task, description=p.id)
            t0 = time.perf_counter()
            frames = check_frames(p, generate_fn(p.text, p.width, p.height, p.num_frames, p.fps, seed + p.seed_offset))
            generate_s = time.perf_counter() - t0
            judged, skipped, appear, vanish = judge(p, frames)
            sample = SampleResult(
                id=p.id, category=p.category, text=p.text, width=p.width, height=p.height,
                num_frames=p.num_frames, fps=p.fps, seed=seed + p.seed_offset, passed=sum(f.passed for f in judged),
                judged=len(judged), appearances=appear, disappearances=vanish,
                failed=[{"name": f.name, "detail": f.detail} for f in judged if not f.passed],
                skipped=len(skipped), generate_s=round(generate_s, 3))
            result.samples.append(sample)
            strip = contact_sheet(frames, max_frames=8, cols=8, max_side=96)
            sheets.setdefault(p.category, []).append((strip, sample_label(sample, [f.name for f in judged if f.passed])))
            bar.advance(task)
    result.elapsed_s = time.perf_counter() - start
    for category, category_sheets in sheets.items():
        write_sheet(out_dir / "sheets" / f"{category}.png", category_sheets)
    (out_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    (out_dir / "summary.md").write_text(result.markdown())
    return result


__all__ = ["run_world_bench", "bench_prompts", "truth_generator", "pipeline_generator", "BenchResult",
           "SampleResult", "framing_facts", "GenerateFn"]
