"""The process group: started from torchrun's environment, a no-op otherwise.

`torchrun --nproc_per_node N` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; `init_distributed()` reads them and joins the group (gloo on CPU,
NCCL on GPU). A plain `python` run has no WORLD_SIZE and stays a single process:
every helper below then answers as rank 0 of 1, so the trainer has one code path.
Only `parallel/` imports torch.distributed.

`build_layout` turns the config's degrees into one named mesh (data-parallel
replicate x data-parallel shard x sequence parallel, their product the world size):

    layout = build_layout(cfg.train, info, heads=cfg.dit.heads)
    layout.dp_rank, layout.dp_size      # which samples this rank loads (one sequence group: the same)
    layout.sp_group()                   # the processes that share a sample's tokens
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group (once); pick this process's device."""
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return DistInfo(rank=rank(), world_size=world_size(), local_rank=local_rank, device=dev)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of `x` over all processes (a copy; `x` itself is left alone)."""
    if not is_distributed():
        return x.clone()
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    if not is_distributed():
        return x.clone()
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def broadcast_object(obj):
    """Rank 0's Python object on every rank (e.g. a resume step)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj) -> list:
    """Every rank's Python object, in rank order (e.g. each rank's data loader position)."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def device_mesh(device: torch.device):
    """A 1-D mesh over all processes, for FSDP2."""
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device.type, (world_size(),))


# ----------------------------------------------------------------------------- the layout of the processes

DIMS = ("dp_replicate", "dp_shard", "sp")  # outermost first: one sequence group is consecutive ranks


def resolve_degrees(parallel: str, replicate: int, shard: int, sequence: int, world: int,
                    heads: int | None = None) -> tuple[int, int, int]:
    """(dp_replicate, dp_shard, sp) from train.data_parallel_replicate / _shard / sequence_parallel (0 = the
    rest of the processes) and train.parallel; ValueError naming the keys and the fix when they cannot hold."""
    if sequence < 1:
        raise ValueError(f"train.sequence_parallel must be at least 1, got {sequence}")
    if heads is not None and heads % sequence:
        ok = [p for p in range(1, heads + 1) if heads % p == 0]
        raise ValueError(f"train.sequence_parallel={sequence} does not divide dit.heads={heads} (each process "
                         f"attends with heads / sequence_parallel heads): choose one of {ok}")
    if world % sequence:
        raise ValueError(f"train.sequence_parallel={sequence} splits each sample over {sequence} processes, but "
                         f"there are {world}: launch a multiple of {sequence} with torchrun --nproc_per_node")
    if replicate < 0 or shard < 0:
        raise ValueError("train.data_parallel_replicate and train.data_parallel_shard must be 0 (the rest) or more")
    if shard > 1 and parallel != "fsdp":
        raise ValueError(f"train.data_parallel_shard={shard} shards weights with FSDP2: set train.parallel=fsdp "
                         "(or leave data_parallel_shard at 0)")
    rest = world // sequence
    if parallel == "fsdp":
        replicate = replicate or 1
        shard = shard or max(1, rest // replicate)
    else:
        shard = 1
        replicate = replicate or rest
    if replicate * shard * sequence != world:
        raise ValueError(
            f"train.data_parallel_replicate x train.data_parallel_shard x train.sequence_parallel = {replicate} x "
            f"{shard} x {sequence} = {replicate * shard * sequence}, but there are {world} processes: make the "
            f"product {world}, or leave a data-parallel degree at 0 to take the rest")
    return replicate, shard, sequence


@dataclass
class Layout:
    """How the processes split the work. Rank = ((replica * dp_shard) + shard) * sp + sequence position."""

    dp_replicate: int = 1
    dp_shard: int = 1
    sp: int = 1
    rank: int = 0
    mesh: object = None  # the DeviceMesh named DIMS; None in a single process

    @property
    def world_size(self) -> int:
        return self.dp_replicate * self.dp_shard * self.sp

    @property
    def dp_size(self) -> int:
        """Data-parallel ranks: groups of processes that load different samples."""
        return self.dp_replicate * self.dp_shard

    @property
    def dp_rank(self) -> int:
        """Which samples this process loads: the same for every process of one sequence group."""
        return self.rank // self.sp

    @property
    def sp_rank(self) -> int:
        """This process's place in its sequence group: it holds that slice of every sample's tokens."""
        return self.rank % self.sp

    def sp_group(self):
        """The process group of this rank's sequence group (None without sequence parallelism)."""
        return self.mesh["sp"].get_group() if self.sp > 1 else None

    def fsdp_mesh(self):
        """FSDP2's mesh: weights sharded over dp_shard x sp (the processes of one sequence group hold the same
        weights, so they share the shards too), replicated over dp_replicate (HSDP when more than 1)."""
        from torch.distributed.device_mesh import init_device_mesh

        device_type = self.mesh.device_type
        if self.dp_replicate == 1:
            return init_device_mesh(device_type, (self.dp_shard * self.sp,), mesh_dim_names=("dp_shard_sp",))
        return init_device_mesh(device_type, (self.dp_replicate, self.dp_shard * self.sp),
                                mesh_dim_names=("dp_replicate", "dp_shard_sp"))

    def describe(self) -> str:
        return f"{self.dp_replicate} replicate x {self.dp_shard} shard x {self.sp} sequence"


def build_layout(train_cfg, info: DistInfo, heads: int | None = None) -> Layout:
    """The layout of cfg.train's degrees over the processes torchrun started (collective: builds the mesh)."""
    replicate, shard, sequence = resolve_degrees(
        train_cfg.parallel, train_cfg.data_parallel_replicate, train_cfg.data_parallel_shard,
        train_cfg.sequence_parallel, info.world_size, heads)
    if info.world_size == 1:
        return Layout()
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(info.device.type, (replicate, shard, sequence), mesh_dim_names=DIMS)
    return Layout(replicate, shard, sequence, info.rank, mesh)


def destroy() -> None:
    """Leave the group. No barrier here: after an error on one rank the others would wait on it."""
    if is_distributed():
        dist.destroy_process_group()
