"""The JSON files of a model folder (diffusers layout, docs/interfaces.md), written and read back.

    model_index.json                 {"_class_name": "PatchflowPipeline", "_patchflow_version", components}
    config.json                      the full patchflow Config the model was trained with
    scheduler/scheduler_config.json  the flow and sample sections
    text_encoder/config.json         the text section ({"encoder": folder or "" = MiniLM, "max_length", ...})

The weights (vae/, transformer/) are written by the models' own `save_pretrained`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import patchflow
from patchflow.config import Config, from_dict, load, to_json

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_model_index(directory: str | Path, cfg: Config) -> Path:
    """Write every JSON file of a model folder that holds no weights; returns the folder."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _write_json(d / MODEL_INDEX, {
        "_class_name": "PatchflowPipeline",
        "_patchflow_version": patchflow.__version__,
        # diffusers' convention: component -> [library, class]
        "vae": ["patchflow", "CausalVAE"],
        "transformer": ["patchflow", "DiT"],
        "scheduler": ["patchflow", "RectifiedFlowScheduler"],
        "text_encoder": ["patchflow", "TextEncoder"],
    })
    (d / CONFIG).write_text(to_json(cfg) + "\n")
    _write_json(d / "scheduler" / "scheduler_config.json", {
        "_class_name": "RectifiedFlowScheduler", "flow": asdict(cfg.flow), "sample": asdict(cfg.sample),
    })
    _write_json(d / "text_encoder" / CONFIG, asdict(cfg.text))
    return d


def read_model_config(directory: str | Path) -> Config:
    """The Config of a model folder; its text_encoder/config.json wins for the text section."""
    d = Path(directory)
    if not (d / MODEL_INDEX).is_file():
        raise FileNotFoundError(f"{d} is not a patchflow model folder (no {MODEL_INDEX})")
    cfg = load(d / CONFIG)
    text_json = d / "text_encoder" / CONFIG
    if text_json.is_file():
        cfg.text = from_dict(type(cfg.text), {**asdict(cfg.text), **json.loads(text_json.read_text())})
    return cfg
