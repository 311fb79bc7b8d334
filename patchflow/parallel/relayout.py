"""A checkpoint written on one layout of processes, resumed on another (2x2 -> 1, 2x2 -> 4, ...).

Weights, EMA and optimizer state are saved full (parallelize.py), so they load on any layout. What is
per process is the data position: each rank's loader state (data/sampler.py, data/latent_cache.py) says
how far it got through its share of an epoch, whose batches are dealt round-robin to the data-parallel
ranks (`plan[rank::world]`). The processes of one sequence group load the same samples, so only the
data-parallel ranks count.

On the same number of data-parallel ranks each one gets its own saved position back: the run continues
exactly as a straight one would (a changed sequence degree does not change the samples). On another
number the position is rebased: D ranks that each took `position` batches consumed the first D x position
batches of the epoch, so D' ranks continue from position D x position // D' (up to D' - 1 batches of that
epoch are seen once more). The samples of later steps then differ from a straight run's, as they must
with a different global batch.
"""

from __future__ import annotations

import copy

SAVED_LAYOUT = "layout"  # the key of the trainer state that records {"dp_size", "sp"}


def saved_layout(state: dict) -> tuple[int, int]:
    """(data-parallel ranks, sequence degree) of the run that wrote `state` (older checkpoints: sp = 1)."""
    layout = state.get(SAVED_LAYOUT)
    if layout is None:
        return int(state["world_size"]), 1
    return int(layout["dp_size"]), int(layout["sp"])


def data_state_for(saved: list[dict], saved_sp: int, dp_rank: int, dp_size: int) -> tuple[dict, bool]:
    """This data-parallel rank's loader state from every saved rank's (in rank order); True when exact."""
    per_dp_rank = saved[::saved_sp]  # the first process of each sequence group speaks for its group
    if len(per_dp_rank) == dp_size:
        return per_dp_rank[dp_rank], True
    return rebase(per_dp_rank[0], len(per_dp_rank), dp_rank, dp_size), False


def rebase(state, old_world: int, rank: int, world: int):
    """A copy of a loader state with every round-robin position moved from `old_world` ranks to `world`.

    A position is any dict holding "position" or "calls" and "rank" with "world_size" (sampler) or "world"
    (latent cache); nested states (the mixed sampler's two streams) are rebased alike.
    """
    if isinstance(state, list):
        return [rebase(v, old_world, rank, world) for v in state]
    if not isinstance(state, dict):
        return copy.deepcopy(state)
    out = {k: rebase(v, old_world, rank, world) for k, v in state.items()}
    world_key = next((k for k in ("world_size", "world") if k in state), None)
    # "position": batches a rank took of its share of an epoch (sampler, older caches); "calls": batches a
    # rank took of the cache's global sequence (batch g on rank g % world), rebased the same way
    count_key = next((k for k in ("position", "calls") if k in state), None)
    if world_key is not None and count_key is not None and "rank" in state:
        out[count_key] = old_world * int(state[count_key]) // world
        out["rank"], out[world_key] = rank, world
    return out
