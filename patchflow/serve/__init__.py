"""`patchflow serve`: an HTTP API (FastAPI) and a web page for generating, over a job queue kept in SQLite.

    app = create_app(load_pipes("models/world-tiny", ["cpu"]), limits)   # limits: a ServeConfig

app.py has the routes, jobs.py the store, worker.py the workers (one per device), limits.py what a request
may ask for, files.py the job folders, static/ the page.
"""

from patchflow.serve.app import create_app
from patchflow.serve.worker import load_pipes, resolve_devices

__all__ = ["create_app", "load_pipes", "resolve_devices"]
