"""Reading the files of a model folder so that a damaged one fails with one clear error.

A model folder (docs/interfaces.md) is JSON files and safetensors weights. Copies get cut short, disks fill
up, hands edit JSON: every reader of the folder (`Pipeline.from_pretrained`, `load_vae`,
`DiT.from_pretrained`) goes through these functions, which raise `ModelFolderError` naming the file and what
is wrong with it. Commands catch that one type and print its message.

    read_json(path)                  -> dict            (missing, empty, not JSON, not an object)
    read_config(path, cls)           -> dataclass       (as read_json, plus unknown keys / wrong types)
    check_weights(path)                                 (missing, empty, cut header, cut or absent tensor data)
    load_weights(module, path)                          (check_weights, then weights that do not fit the module)
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchflow.config import ConfigError, from_dict

if TYPE_CHECKING:
    import torch

FIX = "copy or export the model folder again"


class ModelFolderError(ValueError):
    """A file of a model folder that is missing or damaged; the message names the file."""


class MissingModelFile(ModelFolderError, FileNotFoundError):
    """A file or subfolder that a model folder must have is not there (also a FileNotFoundError)."""


def require(path: Path, what: str) -> Path:
    """`path` if it is a file, else MissingModelFile saying what it should have held."""
    path = Path(path)
    if not path.is_file():
        where = "its folder is missing" if not path.parent.is_dir() else "the file is missing"
        raise MissingModelFile(f"{path}: {where} (it holds {what}); {FIX}")
    return path


def read_json(path: Path, what: str = "the model's settings") -> dict:
    """The JSON object in `path`; ModelFolderError if it is missing, empty, not JSON or not an object."""
    text = require(path, what).read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise ModelFolderError(f"{path} is empty (it should hold {what}); {FIX}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFolderError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                               f"{FIX}") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path} holds a JSON {type(data).__name__}, not an object of settings; {FIX}")
    return data


def read_config(path: Path, cls: type, drop_private: bool = False) -> Any:
    """Dataclass `cls` from the JSON in `path`; `drop_private` skips diffusers' `_class_name`-style keys."""
    data = read_json(path)
    if drop_private:
        data = {k: v for k, v in data.items() if not k.startswith("_")}
    return config_from(cls, data, path)


def config_from(cls: type, data: dict, path: Path) -> Any:
    """`from_dict` whose errors name the file the settings came from."""
    try:
        return from_dict(cls, data)
    except (ConfigError, TypeError) as e:
        raise ModelFolderError(f"{path} does not fit this version of patchflow: {e}") from None


def check_weights(path: Path) -> None:
    """Check a safetensors file's layout without loading it: 8-byte header length, JSON header, then
    exactly the tensor bytes that the header's data_offsets cover. Names the damage when it is not so."""
    path = require(path, "the weights")
    size = path.stat().st_size
    if size == 0:
        raise ModelFolderError(f"{path} is empty (0 bytes): the weights were never written; {FIX}")
    if size < 8:
        raise ModelFolderError(f"{path} is cut short ({size} bytes, less than the 8-byte header length); {FIX}")
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if 8 + header_len > size:
            raise ModelFolderError(f"{path} is cut short: its header says {header_len} bytes of header but the "
                                   f"file holds {size} bytes in all; {FIX}")
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelFolderError(f"{path} is not a safetensors file (its header is not JSON); {FIX}") from None
    if not isinstance(header, dict):
        raise ModelFolderError(f"{path} is not a safetensors file (its header is not a JSON object); {FIX}")
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    needed, held = max(ends, default=0), size - 8 - header_len
    if held == 0 and needed > 0:
        raise ModelFolderError(f"{path} holds only its header: the {len(ends)} tensors' {needed} bytes of data "
                               f"are missing; {FIX}")
    if held < needed:
        raise ModelFolderError(f"{path} is cut short: {held} of the {needed} bytes of tensor data are there; {FIX}")
    if held > needed:
        raise ModelFolderError(f"{path} has {held - needed} bytes after the last tensor (two files written over "
                               f"each other?); {FIX}")


def load_weights(module: torch.nn.Module, path: Path, device: str | torch.device = "cpu") -> None:
    """Load a checked safetensors file into `module` (strict); weights of another model name both files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_weights(path)
    try:
        state = load_file(str(path), device=str(device))
    except SafetensorError as e:
        raise ModelFolderError(f"{path} cannot be read as safetensors ({e}); {FIX}") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(e)
        raise ModelFolderError(f"{path} does not fit {path.parent / 'config.json'} (weights of another model?): "
                               f"{detail[:300]}; {FIX}") from None
