"""The job store: every job of the server in one SQLite table, so nothing lives only in memory.

A job goes queued -> running -> succeeded | failed | cancelled. The table is also the queue: workers claim the
oldest queued job. At start the store fails the jobs a stopped server left running (with the reason) and keeps
the queued ones queued, so a restart loses no finished job and no waiting one. One connection behind a lock:
the server is one process, and the store's writes are small.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
INTERRUPTED = "interrupted: the server stopped while this job was running; submit it again"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: the queue's order
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    request TEXT NOT NULL,                  -- JSON: the checked settings (limits.JobRequest)
    inputs TEXT NOT NULL,                   -- JSON: stored upload file names, in the mode's order
    step INTEGER NOT NULL DEFAULT 0,
    steps INTEGER NOT NULL DEFAULT 0,
    cancel INTEGER NOT NULL DEFAULT 0,      -- 1: DELETE asked a running job to stop
    error TEXT,
    output TEXT,                            -- the output's file name in the job's folder
    result TEXT                             -- JSON: what the pipeline reported (frames, seed, shift, ...)
)
"""


class QueueFull(Exception):
    """More jobs are waiting than `serve.queue_size` allows."""


@dataclass
class Job:
    seq: int
    id: str
    status: str
    created: float
    started: float | None
    finished: float | None
    request: dict
    inputs: list[str]
    step: int
    steps: int
    cancel: bool
    error: str | None
    output: str | None
    result: dict | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        d = dict(row)
        d["request"], d["inputs"] = json.loads(d["request"]), json.loads(d["inputs"])
        d["result"] = json.loads(d["result"]) if d["result"] else None
        d["cancel"] = bool(d["cancel"])
        return cls(**d)


def new_job_id() -> str:
    """Generated, never taken from a request: it names the job's folder."""
    return uuid.uuid4().hex


def is_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


class JobStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")  # readers never wait on the worker's progress writes
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def recover(self) -> int:
        """At start: jobs a stopped server left running failed with the reason; returns how many."""
        with self.lock:
            cur = self.db.execute("UPDATE jobs SET status='failed', error=?, finished=? WHERE status='running'",
                                  (INTERRUPTED, time.time()))
            return cur.rowcount

    # ------------------------------------------------------------------------- the API's side

    def add(self, job_id: str, request: dict, inputs: list[str], queue_size: int) -> Job:
        """Queue a job, or raise QueueFull when `queue_size` jobs are already waiting."""
        with self.lock:
            waiting = self.db.execute("SELECT COUNT(*) FROM jobs WHERE status='queued'").fetchone()[0]
            if waiting >= queue_size:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting, serve.queue_size={queue_size}); "
                                "try again when a job has finished")
            self.db.execute("INSERT INTO jobs (id, status, created, request, inputs) VALUES (?, 'queued', ?, ?, ?)",
                            (job_id, time.time(), json.dumps(request), json.dumps(inputs)))
        return self.get(job_id)

    def waiting(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM jobs WHERE status='queued'").fetchone()[0]

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            row = self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def recent(self, limit: int, status: str | None = None) -> list[Job]:
        """Newest first."""
        query, args = "SELECT * FROM jobs", []
        if status:
            query, args = query + " WHERE status=?", [status]
        with self.lock:
            rows = self.db.execute(query + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [Job.from_row(r) for r in rows]

    def cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one is asked to stop at its next step.
        Returns the status it had."""
        with self.lock:
            row = self.db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            if row["status"] == "queued":
                self.db.execute("UPDATE jobs SET status='cancelled', error='cancelled before it started', "
                                "finished=? WHERE id=?", (time.time(), job_id))
            elif row["status"] == "running":
                self.db.execute("UPDATE jobs SET cancel=1 WHERE id=?", (job_id,))
            return row["status"]

    # ------------------------------------------------------------------------- the workers' side

    def claim(self) -> Job | None:
        """The oldest queued job, now running; None when none waits."""
        with self.lock:
            row = self.db.execute("SELECT id FROM jobs WHERE status='queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self.db.execute("UPDATE jobs SET status='running', started=? WHERE id=?", (time.time(), row["id"]))
        return self.get(row["id"])

    def progress(self, job_id: str, step: int, steps: int) -> bool:
        """Record step k of n; returns True when the job was asked to stop."""
        with self.lock:
            self.db.execute("UPDATE jobs SET step=?, steps=? WHERE id=?", (step, steps, job_id))
            return bool(self.db.execute("SELECT cancel FROM jobs WHERE id=?", (job_id,)).fetchone()[0])

    def finish(self, job_id: str, status: str, error: str | None = None, output: str | None = None,
               result: dict | None = None) -> None:
        assert status in FINISHED, status
        with self.lock:
            self.db.execute("UPDATE jobs SET status=?, error=?, output=?, result=?, finished=? WHERE id=?",
                            (status, error, output, json.dumps(result) if result else None, time.time(), job_id))
