"""The model folder (diffusers layout, docs/interfaces.md): its one writer and its one reader.

    model_index.json                 {"_class_name": "PatchflowPipeline", "_patchflow_version", components}
    config.json                      the full patchflow Config the model was trained with
    scheduler/scheduler_config.json  the flow and sample sections (settings only: no scheduler class exists)
    text_encoder/config.json         `_class_name` + the text section ({"encoder": folder or "" = MiniLM, ...})
    vae/, transformer/               config.json (`_class_name` + settings) and weights, by the models' own
                                     `save_pretrained`

`write_model_folder` (Pipeline.save_pretrained and the trainer's export) writes everything into a folder
beside the target and renames it into place, so a reader never sees half a folder. `read_model_config`
(Pipeline.from_pretrained, tests) reads the settings back, every file through model_folder_errors.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import patchflow
from patchflow.config import Config, to_json
from patchflow.model_folder_errors import MissingModelFile, config_from, read_config, read_json

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"
TEXT_ENCODER_CLASS = "TextEncoder"  # patchflow.text.TextEncoder


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _class_name(folder: Path) -> list[str]:
    """[library, class] of a saved component, from its own config.json, so the two names always agree."""
    name = json.loads((folder / CONFIG).read_text())["_class_name"]
    return ["patchflow" if name.startswith("Patchflow") else "diffusers", name]


def write_model_folder(directory: str | Path, cfg: Config, transformer, vae) -> Path:
    """Write the whole folder beside `directory` and rename it into place (any old folder is replaced)."""
    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".tmp-{final.name}")
    if tmp.exists():  # left by an interrupted write
        shutil.rmtree(tmp)
    vae.save_pretrained(tmp / "vae")
    transformer.save_pretrained(tmp / "transformer")
    _write_json(tmp / "text_encoder" / CONFIG, {"_class_name": TEXT_ENCODER_CLASS, **asdict(cfg.text)})
    _write_json(tmp / "scheduler" / "scheduler_config.json", {"flow": asdict(cfg.flow), "sample": asdict(cfg.sample)})
    (tmp / CONFIG).write_text(to_json(cfg) + "\n")
    _write_json(tmp / MODEL_INDEX, {
        "_class_name": "PatchflowPipeline",
        "_patchflow_version": patchflow.__version__,
        # diffusers' convention: component -> [library, class]; no entry for the scheduler (settings only)
        "vae": _class_name(tmp / "vae"),
        "transformer": _class_name(tmp / "transformer"),
        "text_encoder": ["patchflow", TEXT_ENCODER_CLASS],
    })
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(tmp, final)
    return final


def read_model_config(directory: str | Path) -> Config:
    """The Config of a model folder; its text_encoder/config.json wins for the text section (it may point at
    another local encoder folder). A missing or damaged file raises ModelFolderError naming it."""
    d = Path(directory)
    if not d.is_dir():
        raise MissingModelFile(f"model folder {d} does not exist")
    if not (d / MODEL_INDEX).is_file():
        raise MissingModelFile(f"{d} is not a patchflow model folder (no {MODEL_INDEX})")
    read_json(d / MODEL_INDEX, "the folder's list of components")
    cfg = read_config(d / CONFIG, Config)
    text_json = d / "text_encoder" / CONFIG
    if text_json.is_file():
        text = {k: v for k, v in read_json(text_json, "the text encoder's settings").items() if not k.startswith("_")}
        cfg.text = config_from(type(cfg.text), {**asdict(cfg.text), **text}, text_json)
    return cfg
