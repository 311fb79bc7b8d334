"""Training checkpoints that a crash cannot corrupt.

Layout under a run's `out_dir`:

    checkpoints/step_00000100/model.safetensors   one file per entry of `tensors`
    checkpoints/step_00000100/ema.safetensors
    checkpoints/step_00000100/state.pt            everything else (optimizer, scheduler, sampler, RNG, step)
    checkpoints/latest                            the name of the newest complete checkpoint

A checkpoint is written into a hidden temp folder, its files flushed to disk, and
renamed into place in one `os.replace`, then `latest` is rewritten the same way
(temp file + rename). A crash at any point leaves either the old or the new
checkpoint whole, never half of one. `state.pt` must hold only tensors and plain
Python values so that it loads with `torch.load(weights_only=True)`: nothing in a
checkpoint is unpickled.

Damage from outside (a disk that filled up, a copy cut short, a deleted folder)
can still happen; `load_checkpoint` on a run folder then passes over damaged
checkpoints, newest first, to the newest whole one, and says which it skipped.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CKPT_DIR = "checkpoints"
LATEST = "latest"
STATE_FILE = "state.pt"
PREFIX = "step_"
TMP_PREFIX = ".tmp-"


# What reading a damaged file raises: torch.load on a cut file (OSError, EOFError, RuntimeError from
# its zip reader, UnpicklingError), safetensors on a cut header or body.
READ_ERRORS = (OSError, EOFError, RuntimeError, pickle.UnpicklingError, SafetensorError)


class CheckpointError(ValueError):
    """No whole checkpoint to load: the message names each damaged one and why."""


@dataclass
class Checkpoint:
    path: Path
    step: int
    tensors: dict[str, dict[str, torch.Tensor]]  # e.g. {"model": {...}, "ema": {...}}
    state: dict
    skipped: list[str] = field(default_factory=list)  # newer checkpoints passed over: "<folder>: <why>"


def _ckpt_root(out_dir: str | Path) -> Path:
    return Path(out_dir) / CKPT_DIR


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain_tensors(named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, and no two entries sharing storage (safetensors refuses shared storage)."""
    out, seen = {}, set()
    for name, t in named.items():
        t = t.detach().cpu().contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        if key in seen:
            t = t.clone()
        seen.add(key)
        out[name] = t
    return out


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    tensors: dict[str, dict[str, torch.Tensor]],
    state: dict,
    keep: int = 3,
) -> Path:
    """Write checkpoint `step` atomically; keep the newest `keep` (0 = keep all). Returns its folder."""
    root = _ckpt_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{step:08d}"
    final = root / name
    tmp = root / f"{TMP_PREFIX}{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for group, named in tensors.items():
        save_file(_plain_tensors(named), str(tmp / f"{group}.safetensors"))
    torch.save({**state, "step": step}, tmp / STATE_FILE)
    for written in tmp.iterdir():  # the bytes on disk before the rename makes them the newest checkpoint
        _fsync_file(written)
    _fsync_dir(tmp)
    if final.exists():  # the same step saved again (e.g. after a resume): move the old one aside first
        stale = root / f"{TMP_PREFIX}old-{name}-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale)
    os.replace(tmp, final)
    _write_latest(root, name)
    _fsync_dir(root)
    _prune(root, keep)
    return final


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_latest(root: Path, name: str) -> None:
    tmp = root / f"{TMP_PREFIX}{LATEST}-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / LATEST)


def _complete(root: Path) -> list[Path]:
    """Finished checkpoint folders, oldest first (temp folders are never listed)."""
    found = [p for p in root.glob(f"{PREFIX}*") if p.is_dir() and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def _prune(root: Path, keep: int) -> None:
    for stale in root.glob(f"{TMP_PREFIX}*"):  # leftovers of crashed writers
        if str(os.getpid()) in stale.name:
            continue
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    if keep > 0:
        for old in _complete(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def _candidates(root: Path) -> tuple[list[Path], list[str]]:
    """Checkpoint folders to try, newest first (the one `latest` names leads), and notes on a bad pointer."""
    done = _complete(root)[::-1]
    notes = []
    pointer = root / LATEST
    if pointer.exists():
        named = root / pointer.read_text().strip()
        if (named / STATE_FILE).exists():
            done = [named] + [p for p in done if p != named]
        else:
            notes.append(f"{pointer} names {named.name}, which is missing or has no {STATE_FILE}")
    return done, notes


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest finished checkpoint folder under a run folder (or a `checkpoints/` folder), or None.

    Finished means renamed into place; whether its files read back whole is `load_checkpoint`'s check.
    """
    out_dir = Path(out_dir)
    root = out_dir if out_dir.name == CKPT_DIR else _ckpt_root(out_dir)
    if not root.is_dir():
        return None
    found, _ = _candidates(root)
    return found[0] if found else None


def _read(path: Path, map_location, groups: tuple[str, ...]) -> Checkpoint:
    """One checkpoint folder; raises CheckpointError naming the file that does not read back."""
    where = path / STATE_FILE
    try:
        state = torch.load(where, map_location=map_location, weights_only=True)
        if not isinstance(state, dict) or "step" not in state:
            raise CheckpointError(f"{where} holds no step")
        tensors = {}
        for where in sorted(path.glob("*.safetensors")):
            tensors[where.stem] = load_file(str(where), device=str(map_location))
    except READ_ERRORS as e:
        reason = str(e).split(". ")[0] or "cut short"  # torch's reader adds a paragraph of advice
        raise CheckpointError(f"{where} does not read back ({type(e).__name__}: {reason})") from e
    missing = [g for g in groups if g not in tensors]
    if missing:
        raise CheckpointError(f"{path} has no {', '.join(g + '.safetensors' for g in missing)}")
    return Checkpoint(path=path, step=int(state["step"]), tensors=tensors, state=state)


def load_checkpoint(path_or_out_dir: str | Path, map_location: str | torch.device = "cpu",
                    groups: tuple[str, ...] = ()) -> Checkpoint:
    """Load a checkpoint folder, or the newest whole one of a run folder (or of its `checkpoints/`).

    `groups`: tensor files that must be there (e.g. ("model", "ema")). In a run folder, a damaged newer
    checkpoint is passed over and named in `Checkpoint.skipped`. Raises FileNotFoundError when there
    is no checkpoint at all and CheckpointError when none reads back whole.
    """
    path = Path(path_or_out_dir)
    if (path / STATE_FILE).exists():
        return _read(path, map_location, groups)
    root = path if path.name == CKPT_DIR else _ckpt_root(path)
    found, skipped = _candidates(root) if root.is_dir() else ([], [])
    if not found:
        raise FileNotFoundError(f"no checkpoint in {path}")
    for candidate in found:
        try:
            ckpt = _read(candidate, map_location, groups)
        except CheckpointError as e:
            skipped.append(str(e))
            continue
        ckpt.skipped = skipped
        return ckpt
    raise CheckpointError(f"no whole checkpoint in {root}: {'; '.join(skipped)}. Move the damaged folders away "
                          f"and train from scratch (without --resume), or restore a copy of one")
