"""`patchflow train` (encoding on the fly, resume) and the latent cache (`data encode`): resumable, dealt to ranks."""

import json

import torch
import typer
from safetensors.torch import load_file
from tiny_world import tiny_overrides
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.latent_cache import CachedLatents, read_index


def _sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def test_train_command_on_the_fly_then_resume(tmp_path, tiny_root):
    # The world render is shared with the cache fixture (same world config -> same folder).
    overrides = [o for o in tiny_overrides(tiny_root) if not o.startswith("train.out_dir")]
    overrides += [f"train.out_dir={tmp_path}/run", "train.steps=2", "train.ckpt_every=1", "train.sample_every=2",
                  "train.sample_height=32", "train.sample_width=32", "train.sample_num_frames=5", "sample.steps=2"]
    result = CliRunner().invoke(app, ["train", "--recipe", "debug", *_sets(overrides)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model" / "model_index.json").is_file()
    assert len(list((tmp_path / "run").glob("checkpoints/step_*"))) == 2
    from patchflow.media import read_video

    frames, _ = read_video(tmp_path / "run" / "samples" / "step00000002_0.mp4")
    assert frames.shape == (5, 32, 32, 3)

    result = CliRunner().invoke(app, ["train", "--recipe", "debug", *_sets(overrides + ["train.steps=3"]), "--resume"])
    assert result.exit_code == 0, result.output
    assert "at step 2" in result.output.replace("\n", "")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]

    result = CliRunner().invoke(app, ["train", "--recipe", "debug", "--set", f"train.out_dir={tmp_path}/none",
                                      "--resume"])
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_encode_command_resumes_and_skips_finished_shards(tmp_path, tiny_root, latent_cache):
    from patchflow.commands.data_encode import encode

    group = typer.Typer()
    group.command()(encode)
    group.callback()(lambda: None)
    out = tmp_path / "latents"
    out.mkdir()
    shards = sorted(p.name for p in latent_cache.glob("shard_*"))
    for name in shards[1:]:  # as if the first run died after writing all but the first shard
        (out / name).write_bytes((latent_cache / name).read_bytes())
    stamps = {name: (out / name).stat().st_mtime_ns for name in shards[1:]}
    result = CliRunner().invoke(group, ["encode", "--out", str(out), *_sets(tiny_overrides(tiny_root))])
    assert result.exit_code == 0, result.output
    assert {name: (out / name).stat().st_mtime_ns for name in shards[1:]} == stamps  # untouched
    rewritten, original = (load_file(str(d / shards[0])) for d in (out, latent_cache))
    assert all(torch.equal(rewritten[k], original[k]) for k in original)  # the missing shard, made again the same
    index = read_index(out)
    assert [s["file"] for s in index["shards"]] == shards
    assert index["samples"] == sum(s["size"] for s in index["shards"])


def test_cached_latents_deal_every_shard_once_per_epoch(latent_cache):
    n = len(read_index(latent_cache)["shards"])

    ranks = [CachedLatents(latent_cache, torch.device("cpu"), r, 2, seed=0, image_ratio=0.3) for r in range(2)]
    assert ranks[0].mixed  # the tiny world has images and clips
    images, videos = (set(ranks[0].streams[kind].files) for kind in ("images", "videos"))
    assert images.isdisjoint(videos) and len(images | videos) == n  # every shard is of one kind
    assert images | videos == {p.name for p in latent_cache.glob("shard_*")}
    for stream in ranks[0].streams.values():  # an epoch of a kind holds each of its shards (padded to the world)
        plan = stream.epoch_plan(0)
        assert set(plan) == set(stream.files) and len(plan) == -(-len(stream.files) // 2) * 2
    batch = next(ranks[0])
    assert batch["latents"].dim() == 5 and batch["text_mask"].dtype == torch.bool
    assert len(batch["prompts"]) == batch["latents"].shape[0]
    state = ranks[0].state_dict()
    again = CachedLatents(latent_cache, torch.device("cpu"), 0, 2, seed=0, image_ratio=0.3)
    again.load_state_dict(state)
    assert torch.equal(next(again)["latents"], next(ranks[0])["latents"])


def test_encode_counts_and_warns_about_captions_cut_by_the_text_length(tmp_path, tiny_root):
    from patchflow.commands.data_encode import encode

    group = typer.Typer()
    group.command()(encode)
    group.callback()(lambda: None)
    out = tmp_path / "latents"
    result = CliRunner().invoke(group, ["encode", "--out", str(out), *_sets(tiny_overrides(tiny_root)),
                                        "--set", "text.max_length=8"])
    assert result.exit_code == 0, result.output
    cut = read_index(out)["text_cut"]
    assert cut["max_length"] == 8 and cut["texts"] == 8 and 0 < cut["cut"] <= 8 and cut["longest"] > 8
    assert f"{cut['cut']} of 8 texts are longer than text.max_length=8" in result.output
    assert f"--set text.max_length={cut['longest']}" in result.output


def test_world_tiny_text_length_holds_every_caption_the_world_writes():
    import random

    from patchflow.recipes import resolve
    from patchflow.text import TextEncoder
    from patchflow.world.captions import make_caption, make_prompt
    from patchflow.world.scene import sample_scene

    cfg = resolve("world_tiny")
    encoder = TextEncoder(cfg.text)
    rng = random.Random(0)
    texts = [make(sample_scene(random.Random(seed), feature_prob=1.0), rng) for seed in range(2000)
             for make in (make_caption, make_prompt)]
    assert max(encoder.token_counts(texts)) <= cfg.text.max_length


def test_training_refuses_a_cache_embedded_by_another_text_encoder(tmp_path, latent_cache):
    import pytest
    from tiny_world import tiny_config

    from patchflow.train.trainer import Trainer

    with pytest.raises(ValueError, match="holds text embedded by"):
        Trainer(tiny_config(tmp_path, latent_cache, f"text.encoder={tmp_path / 'other-encoder'}"),
                show_progress=False)
