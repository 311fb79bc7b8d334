"""Sampling with the DiT's tokens split over processes: `generate --sequence-parallel P` under torchrun.

    group = start_sampling_group(P, device)   # joins torchrun's processes (a no-op for P = 1 without torchrun)
    group.apply(pipe)                          # the DiT splits its tokens; helpers skip the final decode
    out = pipe(...)                            # every process runs the same sampler on the same latents
    if group.is_main: write(out)               # rank 0 alone decodes and writes
    group.close()

Every process runs the whole pipeline: the same prompts, the same seeded CPU noise and the same
conditions. Only the DiT's blocks are split (sequence_dit.py), and its output is gathered on every
process, so the sampler's latents stay identical everywhere; to be sure of that on GPUs whose kernels
may differ in the last bit, each DiT call takes rank 0's inputs (a broadcast of the small latents).
Long videos in sliding windows decode each window on every process, since the next window is
conditioned on its frames; the final decode is rank 0's alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from patchflow.parallel import mesh
from patchflow.parallel.sequence_dit import apply_sequence_parallel_dit


@dataclass
class SamplingGroup:
    size: int  # processes that share the DiT's tokens (1: no split)
    rank: int = 0
    device: str = "cpu"  # this process's device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def apply(self, pipe) -> None:
        """Split `pipe.transformer`'s tokens over the group; the helper processes draw no bar and skip the
        final decode (rank 0 decodes)."""
        if self.size == 1:
            return
        apply_sequence_parallel_dit(pipe.transformer, broadcast_inputs=True)
        if not self.is_main:
            pipe.progress = False
            pipe.decode = _blank_decode(pipe)  # an instance attribute: the window decodes stay real

    def close(self) -> None:
        """Leave together (rank 0 may still be writing the file)."""
        if self.size > 1:
            mesh.barrier()
            mesh.destroy()


def start_sampling_group(size: int, device: str) -> SamplingGroup:
    """Join torchrun's processes for a split of `size`; ValueError naming the fix when the launch does not fit."""
    if size < 1:
        raise ValueError(f"--sequence-parallel must be at least 1, got {size}")
    launched = mesh.launched_by_torchrun()
    started = int(os.environ["WORLD_SIZE"]) if launched else 1
    if size == 1 and started == 1:
        return SamplingGroup(1, 0, device)
    if not launched:
        raise ValueError(f"--sequence-parallel {size} splits the DiT over {size} processes: launch with "
                         f"torchrun --nproc_per_node {size} -m patchflow generate ... --sequence-parallel {size}")
    if started != size:
        raise ValueError(f"torchrun started {started} processes but --sequence-parallel is {size}: they must be "
                         f"equal (torchrun --nproc_per_node {size})")
    info = mesh.init_distributed(device)  # cuda: this process's GPU, cuda:LOCAL_RANK
    return SamplingGroup(size, info.rank, str(info.device))


def _blank_decode(pipe):
    """Pipeline.decode's stand-in on helper processes: uint8 zeros of the decoded shape (B, F, H, W, 3)."""

    def decode(z: torch.Tensor) -> np.ndarray:
        b, _, t, h, w = z.shape
        s = pipe.vae.spatial_factor
        return np.zeros((b, 1 + pipe.vae.temporal_factor * (t - 1), h * s, w * s, 3), np.uint8)

    return decode
