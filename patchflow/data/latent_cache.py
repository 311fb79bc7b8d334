"""A latent cache: VAE latents and text embeddings computed once (`patchflow data encode`), read by training.

    DIR/index.json                 what the cache holds and which VAE / text encoder made it
    DIR/empty_text.safetensors     the embedding of "" (text dropout swaps it in)
    DIR/shard_000000.safetensors   one batch of one bucket: latents (B, C, T', H', W'), text (B, L, D),
                                   text_mask (B, L); its prompts and paths in the file's metadata

Each shard is one batch as the data loader plans it (seed and buckets fixed), written to a temp
file and renamed, so an interrupted encode resumes by skipping the shards already on disk. The
index is written last and marked complete; training refuses an incomplete cache.
Training reads whole shards as one global sequence, batch g on rank g % world, images and videos each
shuffled per epoch and mixed at data.image_ratio (CachedLatents).
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


class ShardStream:
    """One kind of shard (images, or videos) as one global sequence: epoch after epoch, each shuffled and padded.

    Item n of the sequence is what the n-th batch of this kind taken by any rank is. Each epoch is a
    permutation (seed, key, epoch) padded by its first shards to a multiple of the world size, so with one
    kind and global index g = call * world + rank, every rank takes the shards it was always dealt.
    """

    def __init__(self, files: list[str], key: int, world: int, seed: int):
        self.files, self.key, self.world, self.seed = files, key, world, seed
        self.per_epoch = -(-len(files) // world) * world
        self._cached: tuple[int, list[str]] | None = None

    def epoch_plan(self, epoch: int) -> list[str]:
        if self._cached is None or self._cached[0] != epoch:
            order = np.random.default_rng([self.seed, self.key, epoch]).permutation(len(self.files))
            self._cached = (epoch, [self.files[order[i % len(order)]] for i in range(self.per_epoch)])
        return self._cached[1]

    def file_at(self, n: int) -> str:
        epoch, i = divmod(n, self.per_epoch)
        return self.epoch_plan(epoch)[i]


# shuffle keys of the streams; the video key is the one the single stream of older versions used, so a cache
# of one kind gives the batches it always gave
VIDEO_KEY, IMAGE_KEY, ALL_KEY = 3, 4, 3
IMAGES, VIDEOS = "images", "videos"


class CachedLatents:
    """Training batches from a latent cache: whole shards, images and videos mixed at `image_ratio`.

    Batches form one global sequence, batch g going to rank g % world (g = call * world + rank): whichever
    way a run is split over processes and micro-batches (1 process with grad_accum 2, or 2 processes),
    it trains on the same batches. When the cache holds both kinds, batch g is an image shard with
    probability `image_ratio` (a draw from (seed, g), like the on-the-fly sampler's, data/sampler.py), the
    next shard of its kind's stream. Without the mix a cache's kinds arrive in proportion to their shards:
    a batch of 32 images weighs as much as one of 3 clips, so images would be a few percent of the steps
    whatever data.image_ratio says (world_tiny's cache: 43 image shards of 1493, 2.9 %).
    """

    def __init__(self, cache_dir: Path, device: torch.device, rank: int = 0, world: int = 1, seed: int = 0,
                 image_ratio: float = 0.0):
        if not 0.0 <= image_ratio <= 1.0:
            raise ValueError(f"data.image_ratio must be in [0, 1], got {image_ratio}")
        self.dir, self.device, self.rank, self.world, self.seed = Path(cache_dir), device, rank, world, seed
        self.image_ratio = image_ratio
        self.index = read_index(self.dir)
        self.files = [s["file"] for s in self.index["shards"]]
        is_image = {s["file"]: s["bucket"].split("x")[0] == "1" for s in self.index["shards"]}  # "1xHxW"
        self.streams = {IMAGES: ShardStream([f for f in self.files if is_image[f]], IMAGE_KEY, world, seed),
                        VIDEOS: ShardStream([f for f in self.files if not is_image[f]], VIDEO_KEY, world, seed)}
        self.mixed = all(stream.files for stream in self.streams.values())
        self._all = ShardStream(self.files, ALL_KEY, world, seed)
        self.legacy = False  # a checkpoint from before the mix: one stream over every shard (load_state_dict)
        self.calls = 0  # batches this rank has taken
        self._tally = {IMAGES: 0, VIDEOS: 0, "next": 0}  # batches of each kind among global indices < next
        empty = load_file(str(self.dir / EMPTY_TEXT))
        self._empty = (empty["text"], empty["text_mask"].bool())

    @property
    def latent_channels(self) -> int:
        return int(self.index["vae"]["latent_channels"])

    def empty_text(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._empty

    def _kind(self, g: int) -> str:
        if not self.mixed:
            return IMAGES if self.streams[IMAGES].files else VIDEOS
        return IMAGES if np.random.default_rng([self.seed, 2, g]).random() < self.image_ratio else VIDEOS

    def _file(self, g: int) -> str:
        """The shard of global batch g: the n-th of its kind, n = batches of that kind before g."""
        if self.legacy:
            return self._all.file_at(g)
        tally = self._tally
        if tally["next"] > g:  # only forward: recount from the start (loading a state does this once)
            tally = self._tally = {IMAGES: 0, VIDEOS: 0, "next": 0}
        for earlier in range(tally["next"], g):  # the other ranks' batches since this rank's last one
            tally[self._kind(earlier)] += 1
        kind = self._kind(g)
        name = self.streams[kind].file_at(tally[kind])
        tally[kind] += 1
        tally["next"] = g + 1
        return name

    def __next__(self) -> dict:
        name = self._file(self.calls * self.world + self.rank)
        self.calls += 1
        path = self.dir / name
        shard = load_file(str(path), device=str(self.device))
        meta = _shard_meta(path)
        return {"latents": shard["latents"], "text": shard["text"], "text_mask": shard["text_mask"].bool(),
                "prompts": meta["prompts"], "bucket": meta["bucket"]}

    def state_dict(self) -> dict:
        return {"calls": self.calls, "legacy": self.legacy, "rank": self.rank, "world": self.world}

    def load_state_dict(self, state: dict) -> None:
        if (state["rank"], state["world"]) != (self.rank, self.world):
            raise ValueError(f"cache position saved for rank {state['rank']} of {state['world']}; "
                             f"this is rank {self.rank} of {self.world}")
        if "calls" in state:
            self.calls, self.legacy = state["calls"], state["legacy"]
        else:  # saved before the mix as (epoch, position) of one stream over every shard, dealt to the ranks
            per_rank = -(-len(self.files) // self.world)
            self.calls, self.legacy = state["epoch"] * per_rank + state["position"], self.mixed
