"""The queue: bounded (429), cancellable, and kept in SQLite so a restart loses no finished or waiting job and
fails the interrupted ones with the reason."""

import threading
import time
from dataclasses import replace

from fastapi.testclient import TestClient
from serve_helpers import STEPS, wait

from patchflow.serve import create_app
from patchflow.serve.jobs import INTERRUPTED, JobStore
from patchflow.serve.worker import Worker

JOB = {"prompt": "a red ball", "frames": "9", "steps": str(STEPS), "width": "32", "height": "32"}


def test_a_full_queue_answers_429(pipe, limits):
    """Without the lifespan no worker runs, so jobs wait: two fit, the third is refused, a cancel frees a place."""
    client = TestClient(create_app([pipe], replace(limits, queue_size=2)))
    first, second = (client.post("/v1/videos", data=JOB) for _ in range(2))
    assert first.status_code == second.status_code == 202
    refused = client.post("/v1/videos", data=JOB)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    assert refused.json()["detail"].startswith("the queue is full (serve.queue_size=2 jobs waiting)")
    cancelled = client.delete(first.json()["url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post("/v1/videos", data=JOB).status_code == 202
    assert client.delete(first.json()["url"]).status_code == 409  # already cancelled: nothing to cancel


def test_cancelling_a_running_job_stops_it_at_its_next_step(pipe, limits):
    app = create_app([pipe], limits)
    client = TestClient(app)  # no lifespan: this test runs the worker's job itself
    job_id = client.post("/v1/videos", data=JOB).json()["id"]
    store = app.state.store
    claimed = store.claim()
    assert claimed.id == job_id and client.get(f"/v1/videos/{job_id}").json()["status"] == "running"
    answer = client.delete(f"/v1/videos/{job_id}")
    assert answer.status_code == 202 and answer.json()["status"] == "running"
    Worker(pipe, store, limits.outputs_dir, threading.Condition(), threading.Event()).run_job(claimed)
    job = client.get(f"/v1/videos/{job_id}").json()
    assert job["status"] == "cancelled" and job["error"] == "cancelled while running"
    assert job["progress"] == {"step": 1, "steps": STEPS}  # stopped after its first step
    assert client.get(f"/v1/videos/{job_id}/content").status_code == 409


def test_a_restart_keeps_finished_jobs_and_fails_interrupted_ones(pipe, limits):
    with TestClient(create_app([pipe], limits)) as client:
        done = wait(client, client.post("/v1/videos", data=JOB).json()["id"])
        assert done["status"] == "succeeded"
    # a server that died mid-job: one job left running, one still waiting
    store = JobStore(limits.db_path)
    store.add("a" * 32, done["settings"] | {"prompt": "interrupted", "mode": "text-to-video"}, [], 8)
    store.add("b" * 32, done["settings"] | {"prompt": "waiting", "mode": "text-to-video"}, [], 8)
    assert store.claim().id == "a" * 32
    store.close()

    with TestClient(create_app([pipe], limits)) as client:
        kept = client.get(f"/v1/videos/{done['id']}").json()
        assert kept["status"] == "succeeded" and kept["output"] == done["output"]
        assert client.get(kept["content_url"]).content[4:8] == b"ftyp"
        interrupted = client.get(f"/v1/videos/{'a' * 32}").json()
        assert interrupted["status"] == "failed" and interrupted["error"] == INTERRUPTED
        assert wait(client, "b" * 32)["status"] == "succeeded"  # the waiting job runs after the restart
        assert [j["id"] for j in client.get("/v1/videos").json()["jobs"]] == ["b" * 32, "a" * 32, done["id"]]


def test_a_shutdown_fails_the_running_job_with_the_reason(pipe, limits):
    with TestClient(create_app([pipe], replace(limits, max_steps=200))) as client:
        job_id = client.post("/v1/videos", data=JOB | {"steps": "200", "frames": "25", "width": "64",
                                                      "height": "64"}).json()["id"]
        while client.get(f"/v1/videos/{job_id}").json()["progress"]["step"] < 1:
            time.sleep(0.02)
    store = JobStore(limits.db_path)
    job = store.get(job_id)
    assert job.status == "failed" and job.error.startswith("interrupted: the server shut down")
    assert 1 <= job.step < 200 and job.steps == 200
