"""A latent cache: VAE latents and text embeddings computed once (`patchflow data encode`), read by training.

    DIR/index.json                 what the cache holds and which VAE / text encoder made it
    DIR/empty_text.safetensors     the embedding of "" (text dropout swaps it in)
    DIR/shard_000000.safetensors   one batch of one bucket: latents (B, C, T', H', W'), text (B, L, D),
                                   text_mask (B, L); its prompts and paths in the file's metadata

Each shard is one batch as the data loader plans it (seed and buckets fixed), written to a temp
file and renamed, so an interrupted encode resumes by skipping the shards already on disk. The
index is written last and marked complete; training refuses an incomplete cache.
Training reads whole shards in an order shuffled per epoch, dealt round-robin to the ranks.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from patchflow.config import Config

INDEX = "index.json"
EMPTY_TEXT = "empty_text.safetensors"
VERSION = 1


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _shard_meta(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        shape = f.get_slice("latents").get_shape()
    return {"file": path.name, "bucket": meta["bucket"], "size": shape[0], "latent_shape": shape[1:],
            "prompts": json.loads(meta["prompts"]), "paths": json.loads(meta["paths"])}


def batch_plans(loader) -> list:
    """Every batch of one epoch of both streams (images, then videos) on a single rank, without decoding."""
    from patchflow.data.sampler import BatchPlan

    plans = []
    for stream in (loader.sampler.images, loader.sampler.videos):
        if stream.empty:
            continue
        for _ in range(len(stream)):
            bucket, indices, epoch = stream.next_batch()
            plans.append(BatchPlan(bucket, indices, epoch, {}))
    return plans


@torch.no_grad()
def encode_cache(cfg: Config, rows: list[dict], out_dir: str | Path, vae, text_encoder, device, progress=None) -> Path:
    """Encode every batch of one epoch into `out_dir` (skipping shards already there); returns the index path."""
    from patchflow.data.loader import build_loader

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spatial_multiple = vae.spatial_factor * max(cfg.dit.patch_size[1:])
    loader = build_loader(cfg.data, rows, vae.temporal_factor, spatial_multiple, 0, 1, cfg.train.seed)
    plans = batch_plans(loader)
    task = progress.add_task("encode", total=len(plans)) if progress is not None else None
    empty, empty_mask = text_encoder([""])
    _atomic_save({"text": empty, "text_mask": empty_mask}, out / EMPTY_TEXT)
    shards = []
    for k, plan in enumerate(plans):
        path = out / f"shard_{k:06d}.safetensors"
        if not path.exists():  # resumable: finished shards are skipped without decoding
            batch = loader.dataset.load_batch(plan)
            latents = vae.encode(batch["video"].to(device)).float()  # (B, 3, T, H, W) -> (B, C, T', H', W')
            text, text_mask = text_encoder(batch["text"])
            meta = {"bucket": batch["bucket"], "prompts": json.dumps(batch["text"]), "paths": json.dumps(batch["path"])}
            _atomic_save({"latents": latents, "text": text, "text_mask": text_mask}, path, meta)
        shards.append(_shard_meta(path))
        if task is not None:
            progress.update(task, advance=1)
    index = {
        "version": VERSION, "complete": True, "seed": cfg.train.seed,
        "vae": {"path": cfg.train.vae_path or cfg.vae.pretrained, "config": asdict(cfg.vae),
                "latent_channels": vae.latent_channels, "temporal_factor": vae.temporal_factor,
                "spatial_factor": vae.spatial_factor},
        "text": asdict(cfg.text), "text_dim": int(empty.shape[-1]), "text_cut": text_cut(shards, text_encoder),
        "samples": sum(s["size"] for s in shards), "shards": shards,
    }
    tmp = out / f".tmp-{INDEX}"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / INDEX)
    return out / INDEX


def text_cut(shards: list[dict], text_encoder) -> dict:
    """How many of the cache's texts text.max_length cut (the model never sees their ends), and the longest."""
    counts = text_encoder.token_counts([p for s in shards for p in s["prompts"]])
    limit = text_encoder.cfg.max_length
    return {"max_length": limit, "texts": len(counts), "cut": sum(c > limit for c in counts),
            "longest": max(counts, default=0)}


def read_index(cache_dir: str | Path) -> dict:
    path = Path(cache_dir) / INDEX
    if not path.is_file():
        raise FileNotFoundError(f"{cache_dir} is no finished latent cache (no {INDEX}); run `patchflow data encode`")
    index = json.loads(path.read_text())
    if not index.get("complete") or not index["shards"]:
        raise ValueError(f"latent cache {cache_dir} is incomplete or empty; run `patchflow data encode` again")
    return index


class CachedLatents:
    """Training batches from a latent cache: whole shards, shuffled per epoch, round-robin over ranks."""

    def __init__(self, cache_dir: Path, device: torch.device, rank: int = 0, world: int = 1, seed: int = 0):
        self.dir, self.device, self.rank, self.world, self.seed = Path(cache_dir), device, rank, world, seed
        self.index = read_index(self.dir)
        self.files = [s["file"] for s in self.index["shards"]]
        self.epoch, self.position = 0, 0  # position = shards this rank has taken in this epoch
        empty = load_file(str(self.dir / EMPTY_TEXT))
        self._empty = (empty["text"], empty["text_mask"].bool())

    @property
    def latent_channels(self) -> int:
        return int(self.index["vae"]["latent_channels"])

    def empty_text(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._empty

    def _epoch_plan(self) -> list[str]:
        order = np.random.default_rng([self.seed, 3, self.epoch]).permutation(len(self.files))
        padded = -(-len(order) // self.world) * self.world  # every rank takes the same number of shards
        order = [order[i % len(order)] for i in range(padded)]
        return [self.files[i] for i in order[self.rank:: self.world]]

    def __next__(self) -> dict:
        plan = self._epoch_plan()
        if self.position >= len(plan):
            self.epoch, self.position = self.epoch + 1, 0
            plan = self._epoch_plan()
        name = plan[self.position]
        self.position += 1
        path = self.dir / name
        shard = load_file(str(path), device=str(self.device))
        meta = _shard_meta(path)
        return {"latents": shard["latents"], "text": shard["text"], "text_mask": shard["text_mask"].bool(),
                "prompts": meta["prompts"], "bucket": meta["bucket"]}

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "rank": self.rank, "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        if (state["rank"], state["world"]) != (self.rank, self.world):
            raise ValueError(f"cache position saved for rank {state['rank']} of {state['world']}; "
                             f"this is rank {self.rank} of {self.world}")
        self.epoch, self.position = state["epoch"], state["position"]
