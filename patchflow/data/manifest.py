"""Manifests: one row per sample, in JSONL, CSV or Parquet (chosen by the file's extension).

Columns follow Open-Sora: `path, text, num_frames, height, width, aspect_ratio, fps`, where
`aspect_ratio` is height / width; any other column (codec, duration, rotation, size, mtime,
score columns, ...) is carried along untouched. A Hugging Face `metadata.jsonl` names the file
`file_name` (relative to its folder); it reads as `path`.

Paths are stored relative to the manifest's folder when the file lies under it (so a data folder
can move), and `read_manifest` returns them absolute, so a row's `path` always opens as it is.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

MANIFEST_EXTS = (".jsonl", ".csv", ".parquet")
CORE_COLUMNS = ["path", "text", "num_frames", "height", "width", "aspect_ratio", "fps"]
INT_COLUMNS = {"num_frames", "height", "width", "rotation", "size"}
FLOAT_COLUMNS = {"aspect_ratio", "fps", "duration", "mtime"}
STRING_COLUMNS = {"path", "text", "codec", "file_name", "prompt", "truth", "reason", "caption_original", "caption_model",
                  "caption_error"}


class ManifestError(ValueError):
    """A manifest that cannot be read or written (unknown extension, missing column, bad line)."""


def manifest_format(path: str | Path) -> str:
    """'jsonl' | 'csv' | 'parquet' from the extension; anything else is an error naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in MANIFEST_EXTS:
        raise ManifestError(f"unknown manifest extension {suffix or '(none)'!r} for {path}; use one of {MANIFEST_EXTS}")
    return suffix[1:]


def rejected_path(manifest: str | Path) -> Path:
    """`out/manifest.csv` -> `out/manifest.rejected.jsonl`: where a scan lists the files it skipped."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + ".rejected.jsonl")


# ----------------------------------------------------------------------------- reading


def read_manifest(path: str | Path, resolve_paths: bool = True) -> list[dict]:
    """Rows of a JSONL/CSV/Parquet manifest; `path` made absolute against the manifest's folder."""
    path = Path(path)
    kind = manifest_format(path)
    if not path.exists():
        raise ManifestError(f"no such manifest: {path}")
    if kind == "jsonl":
        rows = _read_jsonl(path)
    elif kind == "csv":
        rows = _read_csv(path)
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    root = path.parent.resolve()
    return [_normalise(row, root, resolve_paths, f"{path} row {i + 1}") for i, row in enumerate(rows)]


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ManifestError(f"{path} line {lineno} is not JSON: {e}") from e
        if not isinstance(row, dict):
            raise ManifestError(f"{path} line {lineno} is not a JSON object")
        rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        raw_rows = list(csv.DictReader(f))
    columns = list(raw_rows[0]) if raw_rows else []
    # CSV holds only strings: type known columns, and others when every value in them is a number.
    numeric = {c for c in columns if c not in STRING_COLUMNS and all(_is_number(r[c]) for r in raw_rows if r[c] != "")}
    rows = []
    for raw in raw_rows:
        row = {}
        for key, value in raw.items():
            if value == "" and key not in STRING_COLUMNS:
                row[key] = None
            elif key in numeric or key in INT_COLUMNS or key in FLOAT_COLUMNS:
                row[key] = _number(value)
            elif value[:1] in "[{":
                row[key] = _maybe_json(value)  # lists and dicts were written as JSON
            else:
                row[key] = value
        rows.append(row)
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _number(text: str) -> int | float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _maybe_json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _normalise(row: dict, root: Path, resolve_paths: bool, where: str) -> dict:
    """HF's `file_name` -> `path`, empty text for a missing caption, typed core columns, absolute path."""
    row = dict(row)
    if "path" not in row and "file_name" in row:
        row["path"] = row.pop("file_name")
    if not row.get("path"):
        raise ManifestError(f"{where} has no `path` (or `file_name`) column")
    row["path"] = str(row["path"])
    if resolve_paths and not os.path.isabs(row["path"]):
        row["path"] = os.path.normpath(root / row["path"])  # the folder is resolved, the file not (symlinks stay)
    if row.get("text") is None:
        row["text"] = ""
    for key in INT_COLUMNS:
        if isinstance(row.get(key), float) and math.isfinite(row[key]):
            row[key] = int(row[key])
    return row


# ----------------------------------------------------------------------------- writing


def write_manifest(rows: list[dict], path: str | Path) -> Path:
    """Write rows (core columns first) atomically; paths under the manifest's folder become relative."""
    path = Path(path)
    kind = manifest_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.resolve()
    rows = [_relative(row, root) for row in rows]
    columns = _columns(rows)
    tmp = path.with_name(path.name + ".tmp")
    if kind == "jsonl":
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({c: row[c] for c in columns if c in row}, ensure_ascii=False) + "\n")
    elif kind == "csv":
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({c: _csv_cell(row.get(c)) for c in columns})
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        pq.write_table(table, tmp)
    os.replace(tmp, path)  # a reader never sees half a manifest
    return path


def _relative(row: dict, root: Path) -> dict:
    row = dict(row)
    p = Path(row["path"])
    if p.is_absolute():
        try:
            row["path"] = Path(os.path.normpath(p)).relative_to(root).as_posix()
        except ValueError:
            row["path"] = str(p)  # outside the manifest's folder: stays absolute
    return row


def _columns(rows: list[dict]) -> list[str]:
    """Core columns in Open-Sora's order, then the others in order of first appearance."""
    seen = {c: None for row in rows for c in row}
    return [c for c in CORE_COLUMNS if c in seen] + [c for c in seen if c not in CORE_COLUMNS]


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value
