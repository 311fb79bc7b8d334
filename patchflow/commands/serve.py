"""`patchflow serve`: the HTTP API and the web page over a model folder.

    patchflow serve --model models/world-tiny                       http://127.0.0.1:8000 (the page at /)
    patchflow serve --model DIR --host 0.0.0.0 --port 8080 --set serve.queue_size=32
    PATCHFLOW_API_KEY=secret patchflow serve --model DIR             every route then needs the key

Limits come from the model's `serve` config section (a folder written before it existed gets the defaults),
changed with --set serve.KEY=VALUE.
"""

from __future__ import annotations

import os

import typer

from patchflow.commands.common import SetOpt, console, fail
from patchflow.commands.generate import DEFAULT_MODEL, _model_dir
from patchflow.config import ConfigError, apply_overrides

API_KEY_ENV = "PATCHFLOW_API_KEY"


def command(
    model: str = typer.Option(None, "--model", help=f"model folder; default: {DEFAULT_MODEL}"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind; 0.0.0.0 serves other machines"),
    port: int = typer.Option(8000, "--port"),
    device: str = typer.Option("auto", "--device", help="auto (every GPU, else the CPU) | cpu | cuda:0,cuda:1; "
                                                        "one worker per device"),
    overrides: list[str] = SetOpt,
) -> None:
    """Serve the HTTP API (/docs) and the web page (/) with a job queue kept in SQLite."""
    import uvicorn

    from patchflow.serve import create_app, load_pipes, resolve_devices

    model_dir = _model_dir(model)
    bad = [o for o in overrides or [] if not o.startswith("serve.")]
    if bad:
        fail(f"--set {bad[0]}: serve takes serve.* keys only (the rest of the config is the model's)")
    devices = resolve_devices(device)
    pipes = load_pipes(model_dir, devices)
    try:
        limits = apply_overrides(pipes[0].config, overrides).serve
    except ConfigError as e:
        fail(str(e))
    api_key = os.environ.get(API_KEY_ENV) or None  # unset or empty: no key
    if api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[bold yellow]warning:[/] serving on {host} with no API key; set {API_KEY_ENV} to guard it")
    app = create_app(pipes, limits, api_key)
    console.print(f"serving {model_dir} on {', '.join(devices)} at http://{host}:{port} (API docs at /docs); "
                  f"jobs in {limits.db_path}, files in {limits.outputs_dir}; "
                  f"API key {'required' if api_key else 'not set'}")
    uvicorn.run(app, host=host, port=port, log_level="info")
