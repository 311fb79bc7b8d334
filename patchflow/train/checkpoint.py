"""Training checkpoints that a crash cannot corrupt.

Layout under a run's `out_dir`:

    checkpoints/step_00000100/model.safetensors   one file per entry of `tensors`
    checkpoints/step_00000100/ema.safetensors
    checkpoints/step_00000100/state.pt            everything else (optimizer, scheduler, sampler, RNG, step)
    checkpoints/latest                            the name of the newest complete checkpoint

A checkpoint is written into a hidden temp folder and renamed into place in one
`os.replace`, then `latest` is rewritten the same way (temp file + rename). A
crash at any point leaves either the old or the new checkpoint whole, never half
of one. `state.pt` must hold only tensors and plain Python values so that it
loads with `torch.load(weights_only=True)`: nothing in a checkpoint is unpickled.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CKPT_DIR = "checkpoints"
LATEST = "latest"
STATE_FILE = "state.pt"
PREFIX = "step_"
TMP_PREFIX = ".tmp-"


@dataclass
class Checkpoint:
    path: Path
    step: int
    tensors: dict[str, dict[str, torch.Tensor]]  # e.g. {"model": {...}, "ema": {...}}
    state: dict


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


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under a run folder (or a `checkpoints/` folder), or None."""
    out_dir = Path(out_dir)
    root = out_dir if out_dir.name == CKPT_DIR else _ckpt_root(out_dir)
    if not root.is_dir():
        return None
    pointer = root / LATEST
    if pointer.exists():
        named = root / pointer.read_text().strip()
        if (named / STATE_FILE).exists():
            return named
    done = _complete(root)  # pointer missing or stale: fall back to the highest finished step
    return done[-1] if done else None


def load_checkpoint(path_or_out_dir: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder, or the latest one of a run folder. Raises FileNotFoundError if none."""
    path = Path(path_or_out_dir)
    if not (path / STATE_FILE).exists():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no checkpoint in {path}")
        path = found
    state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)
    device = str(map_location)
    tensors = {p.stem: load_file(str(p), device=device) for p in sorted(path.glob("*.safetensors"))}
    return Checkpoint(path=path, step=int(state["step"]), tensors=tensors, state=state)
