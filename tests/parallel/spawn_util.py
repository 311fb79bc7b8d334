"""Run a function in N gloo processes (torch.multiprocessing.spawn), as torchrun would set them up."""

import gc
import os
import socket

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, world_size, port, fn, args):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size), OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
    )
    import torch

    torch.set_num_threads(1)
    from patchflow.parallel.mesh import barrier, destroy, init_distributed

    init_distributed("cpu")
    try:
        fn(rank, *args)
        # Leave together: a rank that closes its sockets while a peer's gloo threads still read
        # from them can abort that peer (CI saw a SIGABRT at teardown).
        barrier()
    finally:
        gc.collect()  # drop DDP reducers and FSDP hooks (they hold the group) before it goes
        destroy()


def spawn(fn, world_size: int = 2, *args) -> None:
    mp.spawn(_entry, args=(world_size, free_port(), fn, args), nprocs=world_size, join=True)
