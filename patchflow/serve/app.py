"""The HTTP API and the web page: `create_app(pipes, limits, api_key)` returns a FastAPI app.

    POST   /v1/videos               a job: form fields (multipart with the mode's uploads, or JSON) -> 202 + id
    GET    /v1/videos               jobs, newest first
    GET    /v1/videos/{id}          queued | running (step k of n) | succeeded | failed (why) | cancelled
    GET    /v1/videos/{id}/content  the output: mp4 (png for an image); ?format=gif|png
    DELETE /v1/videos/{id}          cancel a queued or running job
    GET    /v1/modes, /v1/info      the mode table and the limits, for clients and the page
    GET    /                        the page (static/: plain HTML, CSS and JavaScript)

Jobs live in SQLite (jobs.py) and their files in one folder each (files.py); workers (worker.py), one per
device, run them in order and start with the app's lifespan. A refusal is one line in `detail`: 422 for a
request over a limit or not understood, 429 when the queue is full, 401 without the API key when one is set.
"""

from __future__ import annotations

import base64
import secrets
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from patchflow.config import ServeConfig
from patchflow.pipeline import MODES, Pipeline
from patchflow.serve import files
from patchflow.serve.jobs import FINISHED, STATUSES, Job, JobStore, QueueFull, is_job_id, new_job_id
from patchflow.serve.limits import (
    TEXT_FIELDS,
    UPLOAD_FIELDS,
    RequestError,
    check_plan,
    check_request,
    get_mode,
    size_presets,
    store_upload,
    upload_fields,
)
from patchflow.serve.worker import Worker

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {"mp4": "video/mp4", "gif": "image/gif", "png": "image/png"}
API_KEY_HINT = "send Authorization: Bearer KEY or X-API-Key: KEY (the key is PATCHFLOW_API_KEY of the server)"


class Progress(BaseModel):
    step: int
    steps: int


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    mode: str
    prompt: str
    settings: dict  # the checked request: size, frames, fps, steps, guidance, seed, strength, expand_prompt
    progress: Progress  # step k of n while running
    error: str | None  # why it failed or was cancelled
    created: float
    started: float | None
    finished: float | None
    url: str
    content_url: str | None  # once succeeded
    output: dict | None  # once succeeded: kind (video | image), frames, fps, the prompt used, seed

    @classmethod
    def of(cls, job: Job) -> JobView:
        settings = {k: v for k, v in job.request.items() if k not in ("prompt", "mode")}
        output = None
        if job.status == "succeeded" and job.result:
            output = {"kind": "image" if job.output.endswith(".png") else "video", "file": job.output,
                      "frames": job.result["num_frames"], "fps": job.result["fps"], "seed": job.result["seed"],
                      "prompt_used": job.result["prompt"]}
        url = f"/v1/videos/{job.id}"
        return cls(id=job.id, status=job.status, mode=job.request["mode"], prompt=job.request["prompt"],
                   settings=settings, progress=Progress(step=job.step, steps=job.steps), error=job.error,
                   created=job.created, started=job.started, finished=job.finished, url=url,
                   content_url=f"{url}/content" if job.status == "succeeded" else None, output=output)


class JobList(BaseModel):
    jobs: list[JobView]
    waiting: int  # queued jobs
    queue_size: int


def _request_schema(with_uploads: bool) -> dict:
    """The POST body's OpenAPI schema, from the form's fields and the mode table's uploads."""
    props = {name: {"type": kind, "description": text} for name, (kind, text) in TEXT_FIELDS.items()}
    props["mode"]["enum"] = list(MODES)
    if with_uploads:
        for name in UPLOAD_FIELDS:
            takes = [m for m in MODES.values() if name in dict(upload_fields(m))]
            props[name] = {"type": "string", "format": "binary",
                           "description": f"upload for {', '.join(m.name for m in takes)}"}
    return {"type": "object", "properties": props}


def _given_key(request: Request) -> str | None:
    """The key a request carries: Bearer, Basic (the password: what browsers send for the page), or X-API-Key."""
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return request.headers.get("x-api-key")


def _split_form(form) -> tuple[dict[str, str], dict[str, UploadFile]]:
    fields, uploads = {}, {}
    for name, value in form.multi_items():
        if name in fields or name in uploads:
            raise RequestError(f"{name} is given twice")
        if isinstance(value, UploadFile):
            if not value.filename and not value.size:
                continue  # an empty file input of an HTML form: not given
            if name not in UPLOAD_FIELDS:
                raise RequestError(f"{name} must be text, not a file" if name in TEXT_FIELDS else
                                   f"unknown upload {name!r}; uploads are {', '.join(UPLOAD_FIELDS)}")
            uploads[name] = value
        else:
            if name in UPLOAD_FIELDS:
                raise RequestError(f"{name} must be a file upload (multipart/form-data), not text")
            fields[name] = value
    return fields, uploads


def create_app(pipes: list[Pipeline], limits: ServeConfig, api_key: str | None = None) -> FastAPI:
    """The app over these pipelines (one worker each); jobs a previous server left running are failed now."""
    pipe = pipes[0]  # checks requests: plans and sizes are the same for every device
    store = JobStore(limits.db_path)
    store.recover()
    wake, stop = threading.Condition(), threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop.clear()
        workers = [Worker(p, store, limits.outputs_dir, wake, stop) for p in pipes]
        for w in workers:
            w.start()
        yield
        stop.set()  # a running job stops at its next step, failed with the reason
        with wake:
            wake.notify_all()
        for w in workers:
            w.join(timeout=60)

    app = FastAPI(title="patchflow", version="1", lifespan=lifespan,
                  description="Generate videos as jobs: submit, poll, download. The page is at /.")
    app.state.store, app.state.limits = store, limits

    # ------------------------------------------------------------------------- guards and errors

    body_limit = len(UPLOAD_FIELDS) * limits.max_upload_bytes + (1 << 20)  # every upload at its limit + fields

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if api_key and not secrets.compare_digest((_given_key(request) or "").encode(), api_key.encode()):
            return JSONResponse({"detail": f"this server needs an API key: {API_KEY_HINT}"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="patchflow"'})
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > body_limit:
            return JSONResponse({"detail": f"the request body is {length} bytes, more than its uploads may be "
                                           f"(serve.max_upload_bytes={limits.max_upload_bytes} each)"},
                                status_code=422)
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def refused(request: Request, e: RequestError):
        return JSONResponse({"detail": str(e)}, status_code=422)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, e: QueueFull):
        return JSONResponse({"detail": str(e)}, status_code=429, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def not_understood(request: Request, e: RequestValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return JSONResponse({"detail": f"{where}: {first['msg']}"}, status_code=422)

    def find(job_id: str) -> Job:
        job = store.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}; GET /v1/videos lists the jobs")
        return job

    # ------------------------------------------------------------------------- jobs

    def submit(fields: dict[str, str], uploads: dict[str, UploadFile]) -> Job:
        """Check everything, store the uploads under generated names, queue the job (runs in a thread)."""
        unknown = sorted(set(fields) - set(TEXT_FIELDS))
        if unknown:
            raise RequestError(f"unknown field {unknown[0]!r}; the fields are {', '.join(TEXT_FIELDS)}")
        mode = get_mode(fields.get("mode") or "text-to-video")
        wanted = upload_fields(mode)
        extra = sorted(set(uploads) - {name for name, _ in wanted})
        if extra:
            takes = ", ".join(f"{name} ({kind})" for name, kind in wanted) or "no uploads"
            raise RequestError(f"{mode.name} takes {takes}; remove the upload {extra[0]!r}")
        for name, kind in wanted:
            if name not in uploads:
                raise RequestError(f"{mode.name} needs an upload {name!r} (a{'n' if kind == 'image' else ''} {kind})")
        if store.waiting() >= limits.queue_size:  # refuse before the uploads are copied; add() checks again
            raise QueueFull(f"the queue is full (serve.queue_size={limits.queue_size} jobs waiting); try again "
                            "when a job has finished")
        job_id = new_job_id()
        folder = files.job_folder(limits.outputs_dir, job_id)
        folder.mkdir(parents=True)
        try:
            stored = [store_upload(uploads[name].file, name, kind, folder, limits) for name, kind in wanted]
            request = check_request(fields, mode, stored, pipe, limits)
            if request.expand_prompt:  # the worker expands again with the same seed: the same caption
                try:
                    pipe.expand(request.prompt, request.seed)
                except ValueError as e:  # words the world does not know; a model with no built-in expander
                    raise RequestError(f"expand_prompt: {e}") from None
            check_plan(request, stored, pipe, limits)
            job = store.add(job_id, asdict(request), [u.name for u in stored], limits.queue_size)
        except BaseException:
            files.remove_job_folder(limits.outputs_dir, job_id)
            raise
        with wake:
            wake.notify_all()
        return job

    @app.post("/v1/videos", status_code=202, response_model=JobView, summary="Submit a generation job",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": _request_schema(True)},
                  "application/x-www-form-urlencoded": {"schema": _request_schema(False)},
                  "application/json": {"schema": _request_schema(False)}}}})
    async def create_video(request: Request):
        kind = request.headers.get("content-type") or ""
        form = None
        if kind.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise RequestError("the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise RequestError("the JSON body must be an object of fields")
            fields = {k: (str(v).lower() if isinstance(v, bool) else "" if v is None else str(v))
                      for k, v in body.items()}
            uploads = {}
        elif kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form(max_files=len(UPLOAD_FIELDS), max_fields=len(TEXT_FIELDS))
            fields, uploads = _split_form(form)
        else:
            raise RequestError("send the fields as multipart/form-data (needed for uploads), "
                               "application/x-www-form-urlencoded or JSON")
        try:
            job = await run_in_threadpool(submit, fields, uploads)
        finally:
            if form is not None:
                await form.close()
        return JSONResponse(JobView.of(job).model_dump(), status_code=202, headers={"Location": f"/v1/videos/{job.id}"})

    @app.get("/v1/videos", response_model=JobList, summary="List jobs, newest first")
    def list_videos(limit: int = Query(50, ge=1, le=500), status: Literal[STATUSES] | None = None):
        jobs = store.recent(limit, status)
        return JobList(jobs=[JobView.of(j) for j in jobs], waiting=store.waiting(), queue_size=limits.queue_size)

    @app.get("/v1/videos/{job_id}", response_model=JobView, summary="A job's status and progress")
    def get_video(job_id: str):
        return JobView.of(find(job_id))

    @app.get("/v1/videos/{job_id}/content", summary="A finished job's output: mp4 (png for an image), gif or png",
             response_class=FileResponse)
    def get_content(job_id: str, format: Literal["mp4", "gif", "png"] | None = None):
        job = find(job_id)
        if job.status != "succeeded":
            why = f": {job.error}" if job.error else "; its content is ready when its status is succeeded"
            raise HTTPException(409, f"job {job_id} is {job.status}{why}")
        folder = files.job_folder(limits.outputs_dir, job.id)
        fmt = format or job.output.rsplit(".", 1)[1]
        try:
            path = files.rendering(folder, job.output, fmt, job.request["fps"])
        except ValueError as e:
            raise HTTPException(422, f"format={fmt}: {e}") from None
        except FileNotFoundError:
            raise HTTPException(410, f"job {job_id}'s output file is gone from {folder}") from None
        return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=f"{job.id}.{fmt}",
                            content_disposition_type="inline")

    @app.delete("/v1/videos/{job_id}", response_model=JobView, summary="Cancel a queued or running job")
    def cancel_video(job_id: str):
        job = find(job_id)
        if job.status in FINISHED:
            raise HTTPException(409, f"job {job_id} already {job.status}; nothing to cancel")
        was = store.cancel(job_id)
        view = JobView.of(find(job_id))
        # a queued job is cancelled now; a running one stops at its next step (202: accepted, not yet done)
        return JSONResponse(view.model_dump(), status_code=200 if was == "queued" else 202)

    # ------------------------------------------------------------------------- what clients and the page need

    @app.get("/v1/modes", summary="The modes: their uploads and what their length counts")
    def list_modes():
        return [{"name": m.name, "uploads": [{"field": f, "kind": k} for f, k in upload_fields(m)],
                 "counts": m.counts, "strength": m.strength, "frames": m.frames} for m in MODES.values()]

    @app.get("/v1/info", summary="Limits, defaults and size presets of this server's model")
    def info():
        cfg = pipe.config
        shown = {k: v for k, v in asdict(limits).items() if k not in ("outputs_dir", "db_path")}
        return {"model": cfg.name, "size_multiple": pipe.size_multiple, "temporal_factor": pipe.temporal_factor,
                "defaults": {"fps": cfg.data.fps, "steps": min(cfg.sample.steps, limits.max_steps),
                             "guidance": cfg.sample.guidance, "seconds": limits.default_seconds},
                "presets": size_presets(pipe, limits), "limits": shown,
                "expand_prompt": not cfg.data.manifest, "workers": len(pipes)}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
