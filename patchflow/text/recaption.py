"""Re-captioning a manifest (the Sora report's first language technique): a captioner writes every row's caption.

For each row the clip's frames are decoded and shown to a `Captioner`; the new caption goes into `text` (the
column training reads) and the manifest's own caption is kept in `caption_original` (set once, the first time a
row is captioned, so a re-run never loses it). `caption_model` names the backend that wrote the caption; it is
also how a later run knows the row is done. A captioner whose `caption` takes `fps` is told the frames' rate.

A row that fails (a file that does not decode, a backend that still fails after its retries, an empty reply)
keeps its caption, gets the reason in `caption_error`, and is listed in `NAME.caption_failed.jsonl` beside the
output; the other rows go on. A later run retries failed rows.

Interruptions: every finished row is appended (flushed and synced) to `NAME.caption_progress.jsonl` beside the
output as it completes; a run starts by merging that file, so Ctrl-C or a crash at any moment loses at most the
rows in flight. At the end the manifest is written atomically (temporary file + rename) and the progress file
removed. With `overwrite`, rows captioned by earlier runs are captioned again, but rows finished by the
interrupted run being resumed are not. Writing to another file (`out`), the rows it already holds captions or
failures for (the same file path) are carried over, so captioning a grown manifest again does only the new rows.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from patchflow.data.manifest import manifest_format, read_manifest, write_manifest
from patchflow.media import MediaError, read_image
from patchflow.text.interfaces import Captioner

ORIGINAL = "caption_original"
ERROR = "caption_error"
MODEL = "caption_model"
MAX_CLIP_FRAMES = 64  # frames decoded when the captioner takes the whole clip: memory stays bounded
MAX_SIDE = 1024  # longer sides are scaled down first: vision-language models resize to less than this anyway
BACKEND_FAILURES_TO_STOP = 20  # backend failures in a row that stop a run: the server is down, not one clip bad


def progress_path(out: str | Path) -> Path:
    """`data/manifest.csv` -> `data/manifest.caption_progress.jsonl`: the rows an unfinished run has done."""
    out = Path(out)
    return out.with_name(out.stem + ".caption_progress.jsonl")


def failed_path(out: str | Path) -> Path:
    """`data/manifest.csv` -> `data/manifest.caption_failed.jsonl`: the rows whose re-captioning failed, and why."""
    out = Path(out)
    return out.with_name(out.stem + ".caption_failed.jsonl")


def is_captioned(row: dict) -> bool:
    return bool(row.get(MODEL)) and not row.get(ERROR)


# ----------------------------------------------------------------------------- frames


def frame_plan(source_frames: int, source_fps: float, wanted: int | None) -> tuple[int, float]:
    """(frames to decode, at what rate): `wanted` frames spread evenly from the first frame to the last; or, with
    `wanted` None, the clip as it plays (every frame from the start, at most MAX_CLIP_FRAMES), so a captioner that
    judges speed sees the real motion."""
    if wanted is None:
        return max(1, min(source_frames, MAX_CLIP_FRAMES)), source_fps
    count = max(1, min(wanted, source_frames))
    if count == 1:
        return 1, source_fps
    span_s = (source_frames - 1) / source_fps  # first frame to last
    return count, (count - 1) / span_s


def fit_within(frames: np.ndarray, max_side: int) -> np.ndarray:
    """(T, H, W, 3) uint8 scaled down (antialiased, aspect kept) so that its longer side is at most `max_side`."""
    _, h, w, _ = frames.shape
    if max(h, w) <= max_side:
        return frames
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL sizes are (width, height)
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BICUBIC)) for f in frames])  # (T, h', w', 3)


def clip_frames(row: dict, wanted: int | None, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float | None]:
    """((T, H, W, 3) uint8, their frame rate) for one manifest row: an image is T = 1 (no rate); a video's frames
    as `frame_plan` picks them. The frame count and rate come from the row (a scanned manifest has them) or from
    a probe of the file."""
    from patchflow.data.decode import read_frames_at
    from patchflow.data.probe import is_image, probe

    path = Path(row["path"])
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if is_image(path):
        return fit_within(read_image(path)[None], max_side), None  # (1, H, W, 3)
    source_frames, source_fps = row.get("num_frames"), row.get("fps")
    if not source_frames or not source_fps or source_fps <= 0:
        probed = probe(path)
        source_frames, source_fps = probed["num_frames"], probed["fps"]
    count, fps = frame_plan(int(source_frames), float(source_fps), wanted)
    return fit_within(read_frames_at(path, count, fps), max_side), fps  # (T, H, W, 3)


def takes_fps(captioner: Captioner) -> bool:
    """Whether `caption` also takes the clip's frame rate (the world captioner does: it judges speeds by it)."""
    try:
        return "fps" in inspect.signature(captioner.caption).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False


# ----------------------------------------------------------------------------- one row


@dataclass(frozen=True)
class Outcome:
    """What became of one row: a caption, or the reason it has none (`backend` when the captioner failed)."""

    index: int
    caption: str | None = None
    error: str | None = None
    backend: bool = False


def caption_row(captioner: Captioner, index: int, row: dict, wanted: int | None, max_side: int,
                with_fps: bool = False) -> Outcome:
    """Decode and caption one row; every failure is this row's outcome, never the run's (Ctrl-C still stops).
    `with_fps`: tell the captioner the frames' rate too."""
    try:
        frames, fps = clip_frames(row, wanted, max_side)
    except MediaError as e:  # says what is wrong: no such file, cannot decode, no video stream ...
        return Outcome(index, error=str(e))
    except (ValueError, OSError) as e:
        return Outcome(index, error=f"cannot read {row['path']}: {e}")
    try:
        text = captioner.caption(frames, fps=fps) if with_fps else captioner.caption(frames)
    except Exception as e:  # noqa: BLE001 (a backend's failure after its own retries: recorded for this row)
        return Outcome(index, error=f"captioner failed: {type(e).__name__}: {e}", backend=True)
    text = " ".join(str(text or "").split())  # one line: a training caption has no layout
    if not text:
        return Outcome(index, error="captioner failed: it returned an empty caption", backend=True)
    return Outcome(index, caption=text)


def outcomes(indices: Iterable[int], work: Callable[[int], Outcome], concurrency: int) -> Iterator[Outcome]:
    """`work(i)` for every index, in completion order; at most `concurrency` at once (and twice that queued, so a
    long manifest is not decoded ahead). On Ctrl-C or an early stop, queued rows are cancelled at once."""
    if concurrency <= 1:
        yield from map(work, indices)  # in this thread: Ctrl-C stops it mid-row
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="caption")
    try:
        todo, pending = iter(indices), set()
        while True:
            while len(pending) < 2 * concurrency and (i := next(todo, None)) is not None:
                pending.add(pool.submit(work, i))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: f.exception() is not None):  # results before an interrupt
                yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ----------------------------------------------------------------------------- progress file


def apply_outcome(row: dict, outcome: Outcome, model_label: str) -> None:
    if outcome.caption is None:
        row[ERROR] = outcome.error  # the caption stays as it was
        return
    if not row.get(MODEL):  # the text is still the manifest's own caption: keep it, once
        row[ORIGINAL] = row.get("text", "")
    row["text"] = outcome.caption
    row[MODEL] = model_label
    row.pop(ERROR, None)


def read_progress(path: Path) -> list[dict]:
    """The entries of a progress file; a line cut short by a crash mid-write is skipped (that row is redone)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("row"), int):
            entries.append(entry)
    return entries


def merge_progress(rows: list[dict], entries: list[dict]) -> set[int]:
    """Apply an unfinished run's entries (the last one of a row wins); the rows it captioned. An entry whose row
    holds another file (the manifest changed since) is ignored."""
    latest = {e["row"]: e for e in entries if 0 <= e["row"] < len(rows) and e.get("path") == rows[e["row"]]["path"]}
    for index, entry in sorted(latest.items()):
        outcome = Outcome(index, caption=entry.get("caption"), error=entry.get("error"))
        apply_outcome(rows[index], outcome, entry.get("model", ""))
    return {i for i, e in latest.items() if e.get("caption") is not None}


def carry_captions(rows: list[dict], previous: list[dict]) -> None:
    """Take the caption columns of an earlier run's output (`--out`) for the files it captioned or failed on, so
    captioning a grown manifest into the same output does only the new rows."""
    earlier = {r["path"]: r for r in previous if r.get(MODEL) or r.get(ERROR)}
    for row in rows:
        old = earlier.get(row["path"])
        if old is not None and not row.get(MODEL):
            row.update({c: old[c] for c in ("text", ORIGINAL, MODEL, ERROR) if c in old})


def log_outcome(log, row: dict, outcome: Outcome, model_label: str) -> None:
    entry = {"row": outcome.index, "path": row["path"]}
    entry.update({"caption": outcome.caption, "model": model_label} if outcome.caption is not None
                 else {"error": outcome.error})
    log.write(json.dumps(entry, ensure_ascii=False) + "\n")
    log.flush()
    os.fsync(log.fileno())  # on disk before the next row starts: a crash loses only rows in flight


# ----------------------------------------------------------------------------- the run


@dataclass
class RecaptionResult:
    manifest: Path  # the manifest written
    rows: int  # rows in it
    captioned: int = 0  # captioned by this run
    failed: list[dict] = field(default_factory=list)  # this run's failures: {"path", "reason"}
    resumed: int = 0  # captioned by the interrupted run this one resumed
    skipped: int = 0  # captioned before and not redone (no overwrite)
    left: int = 0  # not attempted because of the limit
    stopped: str | None = None  # why the run stopped early, if it did
    failed_file: Path | None = None  # every row whose caption_error is set, with its reason


def recaption(
    manifest: str | Path, captioner: Captioner, *, model_label: str, out: str | Path | None = None,
    num_frames: int | None = None, concurrency: int = 1, limit: int | None = None, overwrite: bool = False,
    max_side: int = MAX_SIDE, progress=None, failures_to_stop: int = BACKEND_FAILURES_TO_STOP,
) -> RecaptionResult:
    """Caption the rows of `manifest` that are not captioned yet (all with `overwrite`; the first `limit` of
    them), write the manifest to `out` (default: in place). `num_frames`: frames decoded per clip, spread evenly
    (None: the clip as it plays). `model_label` names the backend in `caption_model`. `progress`: a rich Progress.
    """
    manifest = Path(manifest)
    out = Path(out) if out is not None else manifest
    manifest_format(out)  # a bad extension fails before any work
    rows = read_manifest(manifest)
    if out.exists() and out.resolve() != manifest.resolve():
        carry_captions(rows, read_manifest(out))
    sidecar = progress_path(out)
    resumed = merge_progress(rows, read_progress(sidecar))
    todo = [i for i, row in enumerate(rows) if i not in resumed and (overwrite or not is_captioned(row))]
    result = RecaptionResult(manifest=out, rows=len(rows), resumed=len(resumed),
                             skipped=len(rows) - len(resumed) - len(todo))
    if limit is not None:
        todo, result.left = todo[:limit], max(0, len(todo) - limit)
    task = progress.add_task("caption", total=len(todo)) if progress is not None else None

    with_fps = takes_fps(captioner)

    def work(i: int) -> Outcome:
        return caption_row(captioner, i, rows[i], num_frames, max_side, with_fps)

    failures_in_a_row = 0
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    with open(sidecar, "a", encoding="utf-8") as log, closing(outcomes(todo, work, concurrency)) as results:
        for outcome in results:
            log_outcome(log, rows[outcome.index], outcome, model_label)
            apply_outcome(rows[outcome.index], outcome, model_label)
            if outcome.caption is not None:
                result.captioned += 1
            else:
                result.failed.append({"path": rows[outcome.index]["path"], "reason": outcome.error})
            failures_in_a_row = failures_in_a_row + 1 if outcome.backend else 0
            if progress is not None:
                progress.update(task, advance=1)
            if failures_in_a_row >= failures_to_stop:
                result.stopped = (f"the captioner failed on {failures_in_a_row} rows in a row (last: {outcome.error}); "
                                  "stopped: fix the backend and run again (finished rows are kept)")
                break
    write_manifest(rows, out)  # atomic: a reader sees the old manifest or the new one
    result.failed_file = write_manifest([{"path": r["path"], "reason": r[ERROR]} for r in rows if r.get(ERROR)],
                                        failed_path(out))
    sidecar.unlink()  # merged: the next run starts afresh
    return result


__all__ = ["ERROR", "MODEL", "ORIGINAL", "RecaptionResult", "clip_frames", "failed_path", "frame_plan",
           "progress_path", "recaption"]
