"""Scan a folder of videos and images into a manifest (and a list of rejected files with reasons).

A re-scan reuses the rows of the existing manifest (and of its rejected list) for files whose
size and modification time are unchanged, so a grown folder costs only its new files' probes.
Captions come from a mapping file (path,text), else a sidecar `NAME.txt`, else stay as they were
(or empty).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from patchflow.data.manifest import (
    ManifestError,
    manifest_format,
    read_manifest,
    rejected_path,
    write_manifest,
)
from patchflow.data.probe import SCAN_IMAGE_EXTS, SCAN_VIDEO_EXTS, probe
from patchflow.data.stats import stats_png_path
from patchflow.media import MediaError


@dataclass
class ScanResult:
    manifest: Path
    rows: list[dict]
    rejected: list[dict]
    probed: int = 0  # files opened this time
    reused: int = 0  # files whose earlier row (or rejection) was kept
    probed_paths: list[str] = field(default_factory=list)


def find_media(directory: Path) -> list[Path]:
    """Every video and image under `directory`, recursively, in a stable order."""
    exts = SCAN_VIDEO_EXTS | SCAN_IMAGE_EXTS
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in exts and not f.startswith(".")]
    return found


def scan(
    directory: str | Path,
    out: str | Path,
    captions: str | Path | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> ScanResult:
    """Probe every media file under `directory`; write `out` and `out.rejected.jsonl`."""
    directory, out = Path(directory).resolve(), Path(out)
    if not directory.is_dir():
        raise FileNotFoundError(f"no such folder: {directory}")
    manifest_format(out)  # fail on a bad extension before probing anything
    caption_for = load_captions(captions, directory) if captions else {}
    earlier = _earlier_rows(out)

    # `data stats` writes its histogram PNG beside the manifest, often inside the scanned folder.
    own_outputs = {stats_png_path(out.resolve())}
    result = ScanResult(manifest=out, rows=[], rejected=[])
    for path in find_media(directory):
        if path in own_outputs:
            continue
        if on_file:
            on_file(path)
        key = str(path)
        try:
            stat = path.stat()  # follows symlinks: a dangling one or a loop fails here
        except OSError as e:
            result.probed += 1
            result.probed_paths.append(key)
            result.rejected.append({"path": key, "reason": unreadable_reason(path, e)})
            continue
        stamp = {"size": stat.st_size, "mtime": stat.st_mtime}
        old = earlier.get(key)
        if old is not None and old.get("size") == stamp["size"] and _same_time(old.get("mtime"), stamp["mtime"]):
            result.reused += 1
            row = dict(old)
        else:
            result.probed += 1
            result.probed_paths.append(key)
            try:
                row = {"path": key, "text": old.get("text", "") if old else "", **probe(path), **stamp}
            except MediaError as e:
                row = {"path": key, "reason": str(e), **stamp}
        if "reason" in row:
            result.rejected.append(row)
            continue
        row["text"] = caption_for.get(key) or _sidecar_caption(path) or row.get("text") or ""
        result.rows.append(row)

    write_manifest(result.rows, out)
    write_manifest(result.rejected, rejected_path(out))
    return result


def unreadable_reason(path: Path, error: OSError) -> str:
    """Why a listed file cannot even be looked at: a symlink to nothing, a symlink loop, or the OS's word."""
    if path.is_symlink():
        target = os.readlink(path)
        if error.errno == errno.ELOOP:
            return f"symlink loop (points to {target}, which leads back to itself)"
        if error.errno == errno.ENOENT:
            return f"dangling symlink (points to {target}, which does not exist)"
    return f"cannot read: {error.strerror or error}"


def _same_time(a, b) -> bool:
    return a is not None and abs(float(a) - float(b)) < 1e-3  # CSV round trips lose sub-ms digits


def _earlier_rows(out: Path) -> dict[str, dict]:
    """Rows (and rejections) of a previous scan into `out`, by absolute path."""
    earlier: dict[str, dict] = {}
    for source in (out, rejected_path(out)):
        if source.exists():
            try:
                earlier.update({row["path"]: row for row in read_manifest(source)})
            except ManifestError:
                continue  # an unreadable old manifest only means probing everything again
    return earlier


def _sidecar_caption(path: Path) -> str:
    sidecar = path.with_suffix(".txt")
    return sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""


def load_captions(captions: str | Path, directory: Path) -> dict[str, str]:
    """A (path, text) mapping file -> {absolute media path: caption}.

    Paths in the mapping may be absolute, relative to the scanned folder, relative to the mapping
    file, or bare file names (when unique in the folder).
    """
    captions = Path(captions)
    rows = read_manifest(captions, resolve_paths=False)
    by_name: dict[str, list[Path]] = {}
    for media in find_media(directory):
        by_name.setdefault(media.name, []).append(media)
    mapping = {}
    for row in rows:
        raw = Path(row["path"])
        candidates = [raw] if raw.is_absolute() else [directory / raw, captions.parent / raw]
        if not raw.is_absolute() and len(raw.parts) == 1 and len(by_name.get(raw.name, [])) == 1:
            candidates.append(by_name[raw.name][0])
        for candidate in candidates:
            if candidate.exists():
                mapping[str(candidate.resolve())] = str(row.get("text") or "")
                break
    return mapping
