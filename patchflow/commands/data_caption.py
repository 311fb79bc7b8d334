"""`patchflow data caption MANIFEST --backend world|openai|hf`: re-caption every row of a manifest.

    patchflow data caption data/manifest.jsonl --backend openai --base-url http://127.0.0.1:8000/v1 \\
        --model-name Qwen/Qwen2-VL-7B-Instruct --concurrency 8
    patchflow data caption data/manifest.csv --backend hf --model ~/models/llava-tiny --out data/recaptioned.csv
    patchflow data caption data/manifest.parquet --backend world --model models/world-tiny

Resumable: after Ctrl-C or a crash, the same command goes on from the rows already done (text/recaption.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from patchflow.commands.common import console, fail
from patchflow.text.backends import BACKEND_NAMES


def check_options(manifest: Path, backend: str, model: Path | None, base_url: str | None, model_name: str | None,
                  frames: int, concurrency: int, limit: int | None) -> None:
    """Every mistake a person can make on the command line, named before any model loads."""
    if not manifest.is_file():
        fail(f"no such manifest: {manifest}")
    if backend not in BACKEND_NAMES:
        fail(f"unknown --backend {backend!r}: choose one of {', '.join(BACKEND_NAMES)}")
    if backend in ("world", "hf") and model is None:
        held = "a trained world captioner (e.g. models/world-tiny)" if backend == "world" else \
            "a local Hugging Face vision-language model"
        fail(f"--backend {backend} needs --model DIR: a folder holding {held}")
    if backend in ("world", "hf") and not model.is_dir():
        fail(f"no such model folder: {model}")
    if backend == "openai" and not base_url:
        fail("--backend openai needs --base-url: the chat server's API root, e.g. http://127.0.0.1:8000/v1")
    if backend == "openai" and not model_name:
        fail("--backend openai needs --model-name: the model as the chat server names it (GET <base-url>/models)")
    if frames < 1 or concurrency < 1 or (limit is not None and limit < 0):
        fail("--frames and --concurrency must be at least 1, and --limit at least 0")


def caption_command(
    manifest: Path = typer.Argument(..., help="manifest to re-caption (.jsonl, .csv or .parquet)"),
    backend: str = typer.Option(..., "--backend", help="world | openai | hf"),
    model: Path | None = typer.Option(None, "--model", help="world: a model folder with a trained captioner; "
                                      "hf: a local vision-language model folder"),
    base_url: str | None = typer.Option(None, "--base-url", help="openai: the chat server's API root, e.g. "
                                        "http://127.0.0.1:8000/v1"),
    model_name: str | None = typer.Option(None, "--model-name", help="openai: the model as the server names it"),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="openai: the environment variable holding "
                                           "the API key (the key itself is never printed)"),
    frames: int = typer.Option(8, "--frames", help="openai, hf: frames shown per clip, evenly spaced"),
    concurrency: int = typer.Option(4, "--concurrency", help="openai: requests in flight at once"),
    timeout: float = typer.Option(120.0, "--timeout", help="openai: seconds per request"),
    retries: int = typer.Option(4, "--retries", help="openai: retries of a failed request (429, 5xx, time-outs)"),
    limit: int | None = typer.Option(None, "--limit", help="caption at most N rows this run"),
    overwrite: bool = typer.Option(False, "--overwrite", metavar="", help="a switch: caption again the rows "
                                   "already captioned"),
    out: Path | None = typer.Option(None, "--out", help="manifest to write (any of the three formats); "
                                    "default: MANIFEST, in place"),
    device: str = typer.Option("auto", "--device", help="hf: auto | cpu | cuda | cuda:N"),
    max_side: int = typer.Option(1024, "--max-side", help="frames with a longer side are scaled down to it first"),
) -> None:
    """Re-caption every row: a captioner watches the clip and writes `text`; the old caption stays in
    `caption_original`, failures go to `caption_error` and NAME.caption_failed.jsonl."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from patchflow.data.manifest import ManifestError, manifest_format
    from patchflow.text.backends import close_backend, get_captioner
    from patchflow.text.chat_client import ChatBackendError
    from patchflow.text.recaption import failed_path, progress_path, recaption

    check_options(manifest, backend, model, base_url, model_name, frames, concurrency, limit)
    target = out or manifest
    try:
        manifest_format(manifest)
        manifest_format(target)
    except ManifestError as e:
        fail(str(e))
    try:
        with console.status(f"loading the {backend} captioner"):
            captioner = get_captioner(backend, model=model, base_url=base_url, model_name=model_name,
                                      api_key_env=api_key_env, num_frames=frames, timeout_s=timeout,
                                      concurrency=concurrency, max_retries=retries,
                                      device=resolve_device(device) if backend == "hf" else "cpu")
    except (ValueError, FileNotFoundError, ChatBackendError) as e:
        fail(str(e))
    label = f"openai:{model_name}" if backend == "openai" else f"{backend}:{model.resolve().name}"
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console) as bar:
            result = recaption(manifest, captioner, model_label=label, out=out,
                               num_frames=None if backend == "world" else frames,  # world: the clip as it plays
                               concurrency=concurrency if backend == "openai" else 1,
                               limit=limit, overwrite=overwrite, max_side=max_side, progress=bar)
    except KeyboardInterrupt:
        # Requests still in flight fail once the client closes (below): their retry warnings would only confuse.
        logging.getLogger("patchflow.text.chat_client").setLevel(logging.ERROR)
        fail(f"interrupted; finished rows are kept in {progress_path(target)}: run the same command again to go on",
             code=130)
    except ManifestError as e:
        fail(str(e))
    finally:
        close_backend(captioner)
    console.print(
        f"[bold]{result.captioned}[/] captioned, [bold]{len(result.failed)}[/] failed -> {result.manifest} "
        f"({result.skipped} already captioned, {result.resumed} from the interrupted run, "
        f"{result.left} left by --limit)"
    )
    for row in result.failed[:10]:
        console.print(f"  failed {row['path']}: {row['reason']}")
    if result.failed:
        console.print(f"every failed row, with its reason: {failed_path(target)}; a new run retries them")
    if result.stopped:
        fail(result.stopped, code=1)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
