"""Helpers of the server tests: waiting for a job, and `patchflow serve` in a subprocess on a free loopback port.

Imported as `serve_helpers` (a name no other test folder uses), not from conftest: `from conftest import ...`
picks up whichever conftest.py came first when several test folders run together.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

STEPS = 2  # denoising steps a test job takes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, model_dir, folder, *overrides: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "patchflow", "serve", "--model", str(model_dir), "--port", str(self.port),
                "--device", "cpu", "--set", f"serve.outputs_dir={folder}/outputs",
                "--set", f"serve.db_path={folder}/jobs.sqlite"]
        for o in overrides:
            args += ["--set", o]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
        self.log = open(f"{folder}/server.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"patchflow serve exited with {self.process.returncode}: {self.read_log()}")
            try:
                if httpx.get(f"{self.url}/v1/info", timeout=1).status_code in (200, 401):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"patchflow serve did not answer in 60 s: {self.read_log()}")

    def read_log(self) -> str:
        with open(self.log.name) as f:
            return f.read()[-3000:]

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024

    def stop(self, kill: bool = False) -> None:
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        self.process.wait(timeout=60)
        self.log.close()


def wait(client, job_id: str, timeout: float = 30.0) -> dict:
    """Poll a job until it has finished; its last view."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/videos/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
