"""The trainer on a 2x2 mesh (FSDP2 over 2 data-parallel ranks, each sample's tokens over 2 processes) trains
the debug recipe with the losses of 1 process, and its checkpoint resumes on other layouts.

1 process takes 2 micro-batches per step; the 2x2 mesh has 2 data-parallel ranks of 1 each; a 4-way sequence
split has 1 data-parallel rank and takes 2 again. All see the same samples, times, masks and noise (the
latent cache deals shard k to data-parallel rank k % D; randomness is seeded by the global micro-batch), so
the loss curves agree to float rounding, also across a resume on another layout (parallel/relayout.py).
"""

import shutil
import sys
from pathlib import Path

import pytest
import torch
from spawn_util import spawn

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))  # tiny_world: the trainer tests' small world
from tiny_world import tiny_config, tiny_overrides  # noqa: E402

from patchflow.parallel.mesh import barrier  # noqa: E402
from patchflow.recipes import resolve  # noqa: E402
from patchflow.train.trainer import Trainer  # noqa: E402

STEPS = 4
MESH_2X2 = ("train.parallel=fsdp", "train.sequence_parallel=2")  # data_parallel_shard: the rest, 2


@pytest.fixture(scope="module")
def latent_cache(tmp_path_factory) -> Path:
    from patchflow.data.latent_cache import encode_cache
    from patchflow.text import TextEncoder
    from patchflow.train.batches import build_vae, data_rows

    root = tmp_path_factory.mktemp("tiny_sp")
    cfg = resolve("debug", tiny_overrides(root))
    device = torch.device("cpu")
    encode_cache(cfg, data_rows(cfg, None, True), root / "latents", build_vae(cfg, device), TextEncoder(cfg.text),
                 device)
    return root / "latents"


def _config(root: Path, cache: Path, steps: int, *extra: str):
    return tiny_config(root, cache, f"train.steps={steps}", "train.ckpt_every=2", "train.keep_checkpoints=0", *extra)


def _fit(cfg, resume=False) -> list:
    trainer = Trainer(cfg, show_progress=False, resume=resume)
    trainer.fit()
    return trainer.history


def _worker(rank, root, cache):
    first = _fit(_config(root / "a", cache, 2, *MESH_2X2))  # steps 1-2 on 2x2, checkpoint at 2
    if rank == 0:  # the step-2 run folder, to resume on other layouts
        for copy in ("on1", "on4"):
            shutil.copytree(root / "a" / "run", root / copy / "run")
    barrier()
    rest = _fit(_config(root / "a", cache, STEPS, *MESH_2X2), resume=True)  # steps 3-4, same layout
    on4 = _fit(_config(root / "on4", cache, STEPS, "train.parallel=fsdp", "train.sequence_parallel=4",
                       "train.grad_accum=2"), resume=True)
    if rank == 0:
        torch.save({"2x2": first + rest, "on4": on4}, root / "histories.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, latent_cache):
    root = tmp_path_factory.mktemp("sp_train")
    spawn(_worker, 4, root, latent_cache)
    one = Trainer(_config(root / "one", latent_cache, STEPS, "train.grad_accum=2"), show_progress=False)
    one.fit()
    on1 = _fit(_config(root / "on1", latent_cache, STEPS, "train.grad_accum=2"), resume=True)
    return root, one, on1


def _losses(history):
    return [loss for _, loss in history]


def test_2x2_mesh_trains_like_one_process(runs):
    root, one, _ = runs
    got = torch.load(root / "histories.pt", weights_only=True)["2x2"]
    assert [s for s, _ in got] == [s for s, _ in one.history] == list(range(1, STEPS + 1))
    assert _losses(got) == pytest.approx(_losses(one.history), rel=1e-4)
    assert len({round(loss, 4) for loss in _losses(one.history)}) == STEPS  # the curve moves
    from patchflow.models.dit import DiT

    mesh_dit = DiT.from_pretrained(root / "a" / "run" / "model" / "transformer")
    one_dit = DiT.from_pretrained(one.out_dir / "model" / "transformer")
    for (name, a), (_, b) in zip(mesh_dit.named_parameters(), one_dit.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("layout", ["on1", "on4"])
def test_2x2_checkpoint_resumes_on_another_layout(runs, layout):
    """Saved on 2x2 at step 2; resumed on 1 process and on a 4-way sequence split: steps 3-4 as straight."""
    root, one, on1 = runs
    got = on1 if layout == "on1" else torch.load(root / "histories.pt", weights_only=True)["on4"]
    assert [s for s, _ in got] == [3, 4]
    assert _losses(got) == pytest.approx(_losses(one.history)[2:], rel=1e-4)
