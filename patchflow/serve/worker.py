"""Workers: one thread per device, each with its own Pipeline, running the store's queued jobs in order.

A worker claims the oldest queued job, reads its stored inputs, runs the pipeline with a step callback that
records "step k of n" and stops the job when DELETE asked (`Cancelled`) or the server is shutting down
(`Stopping`), writes the output, and records how the job ended. A job that fails says why in one line.
"""

from __future__ import annotations

import logging
import math
import threading
import traceback
from pathlib import Path

import torch

from patchflow import media as video_io
from patchflow.diffusion.frame_conditions import latent_frames
from patchflow.pipeline import Pipeline, to_uint8
from patchflow.pipeline.modes import Plan
from patchflow.serve.files import job_folder, write_output
from patchflow.serve.jobs import Job, JobStore
from patchflow.serve.limits import JobRequest

log = logging.getLogger("patchflow.serve")
SHUT_DOWN = "interrupted: the server shut down while this job was running; submit it again"


class Cancelled(Exception):
    """DELETE asked a running job to stop."""


class Stopping(Exception):
    """The server is shutting down."""


def resolve_devices(device: str) -> list[str]:
    """"auto" -> every CUDA device, else the CPU; "cuda:0,cuda:1" -> both."""
    if device == "auto":
        count = torch.cuda.device_count()
        return [f"cuda:{i}" for i in range(count)] if count else ["cpu"]
    return [d.strip() for d in device.split(",") if d.strip()]


def load_pipes(model_dir: str | Path, devices: list[str]) -> list[Pipeline]:
    """One Pipeline per device: each worker owns its model."""
    pipes = []
    for device in devices:
        pipe = Pipeline.from_pretrained(model_dir).to(device)
        pipe.progress = False  # the job's progress goes to the store, not to a terminal bar
        pipes.append(pipe)
    return pipes


def denoising_passes(pipe: Pipeline, plan: Plan) -> int:
    """How many times the sampler runs: once, or once per window for videos longer than
    `sample.window_latent_frames` (the Pipeline's sliding windows: a first window, then extensions)."""
    window, r = pipe.config.sample.window_latent_frames, pipe.temporal_factor
    if not window or latent_frames(plan.num_frames, r) <= window:
        return 1
    context = max(1, min(pipe.config.sample.context_latents, window - 1))
    first = 1 + r * (window - 1)
    return 1 + math.ceil((plan.num_frames - first) / (r * (window - context)))


class Worker(threading.Thread):
    def __init__(self, pipe: Pipeline, store: JobStore, outputs_dir: str | Path, wake: threading.Condition,
                 stop: threading.Event):
        super().__init__(name="patchflow-worker", daemon=True)
        self.pipe, self.store, self.outputs_dir, self.wake, self.stop = pipe, store, Path(outputs_dir), wake, stop

    def run(self) -> None:
        while not self.stop.is_set():
            job = self.store.claim()
            if job is None:
                with self.wake:
                    self.wake.wait(timeout=1.0)  # a submission notifies; the timeout covers a missed notice
                continue
            self.run_job(job)

    def run_job(self, job: Job) -> None:
        """Run one claimed (running) job to its end; never raises."""
        try:
            output, result = self._generate(job)
        except Cancelled:
            self.store.finish(job.id, "cancelled", error="cancelled while running")
        except Stopping:
            self.store.finish(job.id, "failed", error=SHUT_DOWN)
        except (ValueError, video_io.MediaError) as e:
            self.store.finish(job.id, "failed", error=str(e))
        except torch.cuda.OutOfMemoryError:
            self.store.finish(job.id, "failed", error="out of device memory: ask for a smaller size or fewer seconds")
        except Exception as e:  # a bug: the job says what broke, the log has the traceback, the worker goes on
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            self.store.finish(job.id, "failed", error=f"internal error: {type(e).__name__}: {e}")
        else:
            self.store.finish(job.id, "succeeded", output=output, result=result)

    def _generate(self, job: Job) -> tuple[str, dict]:
        request = JobRequest(**job.request)
        folder = job_folder(self.outputs_dir, job.id)
        media = [video_io.read_video(folder / name)[0] for name in job.inputs]  # uint8 (T, H, W, 3) each
        prompt = request.prompt
        if request.expand_prompt:  # the model's own expander, seeded by the job: the caption checked at submission
            prompt = self.pipe.expand(prompt, request.seed)[0]
        plan = self.pipe.plan_for(request.mode, media, request.frames, request.height, request.width,
                                  request.strength)
        total = request.steps * denoising_passes(self.pipe, plan)
        done = 0
        self.store.progress(job.id, 0, total)

        def on_step(pipe, i, t, tensors):
            nonlocal done
            done += 1
            if self.store.progress(job.id, min(done, total), total):
                raise Cancelled
            if self.stop.is_set():
                raise Stopping

        out = self.pipe(prompt, negative_prompt=request.negative_prompt, height=request.height,
                        width=request.width, fps=request.fps, num_inference_steps=request.steps,
                        guidance_scale=request.guidance, generator=request.seed, plan=plan,
                        callback_on_step_end=on_step)
        frames = to_uint8(out.frames[0])  # (T, H, W, 3): the whole output, the mode's inputs included
        output = write_output(folder, frames, request.fps)
        result = {**out.metadata(), "prompt": prompt, "num_frames": len(frames)}
        return output, result
