"""`patchflow serve` as a process: killed in the middle of a job and started again, it keeps its finished jobs,
fails the interrupted one with the reason and runs the one that was waiting; the API key comes from the
environment."""

import time

import httpx
from serve_helpers import ServerProcess
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.serve.jobs import INTERRUPTED

QUICK = {"prompt": "a red ball", "steps": "2", "width": "32", "height": "32", "frames": "9"}
LONG = {"prompt": "a long one", "steps": "400", "width": "64", "height": "64", "frames": "25"}


def wait(http, job_id, until=("succeeded", "failed", "cancelled"), timeout=30.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = http.get(f"/v1/videos/{job_id}").json()
        if job["status"] in until and (job["status"] != "running" or job["progress"]["step"] >= 1):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']} after {timeout} s")


def test_a_killed_server_restarts_with_its_jobs(model_dir, tmp_path):
    server = ServerProcess(model_dir, tmp_path, "serve.max_steps=400")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        done = wait(http, http.post("/v1/videos", data=QUICK).json()["id"])
        long_id = http.post("/v1/videos", data=LONG).json()["id"]
        waiting_id = http.post("/v1/videos", data=QUICK).json()["id"]
        wait(http, long_id, until=("running",))
    server.stop(kill=True)  # SIGKILL: no shutdown code runs

    again = ServerProcess(model_dir, tmp_path, "serve.max_steps=400", env={"PATCHFLOW_API_KEY": "k3y"})
    try:
        assert httpx.get(f"{again.url}/v1/videos").status_code == 401
        with httpx.Client(base_url=again.url, timeout=30, headers={"Authorization": "Bearer k3y"}) as http:
            kept = http.get(done["url"]).json()
            assert kept["status"] == "succeeded" and http.get(kept["content_url"]).content[4:8] == b"ftyp"
            interrupted = http.get(f"/v1/videos/{long_id}").json()
            assert interrupted["status"] == "failed" and interrupted["error"] == INTERRUPTED
            assert 1 <= interrupted["progress"]["step"] < 400
            assert wait(http, waiting_id)["status"] == "succeeded"
    finally:
        again.stop()
    assert "Traceback" not in again.read_log()


def test_serve_takes_serve_overrides_only(model_dir):
    result = CliRunner().invoke(app, ["serve", "--model", str(model_dir), "--set", "sample.steps=3"])
    assert result.exit_code == 2
    assert "serve takes serve.* keys only" in result.output
