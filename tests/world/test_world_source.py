"""The world renders once into the cache and is reused until its config changes."""

import json
import sys
import types

from patchflow.config import Config, DataConfig, WorldConfig
from patchflow.world.source import ensure_world_manifest


def fake_world_module(calls):
    """Stands in for patchflow.world.make (owned by the world part): records calls, writes a manifest."""

    def make_dataset(out_dir, n, sizes, frames, fps, seed, feature_prob=0.15):
        calls.append((n, tuple(sizes), tuple(frames), fps, seed, feature_prob))
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = out_dir / "manifest.jsonl"
        manifest.write_text(json.dumps({"path": "v0.mp4", "text": "a red ball"}) + "\n")
        return manifest

    module = types.ModuleType("patchflow.world.make")
    module.make_dataset = make_dataset
    return module


def test_world_is_rendered_once_and_rerendered_when_its_config_changes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "patchflow.world.make", fake_world_module(calls))
    cfg = Config(world=WorldConfig(n=4, sizes=["32x32"], frames=[1, 9]), data=DataConfig(cache_dir=str(tmp_path)))
    first = ensure_world_manifest(cfg)
    assert first.exists() and len(calls) == 1
    assert ensure_world_manifest(cfg) == first and len(calls) == 1  # reused
    stamp = json.loads((first.parent / "world_config.json").read_text())
    assert stamp["world"]["n"] == 4
    cfg.world.n = 5
    second = ensure_world_manifest(cfg)
    assert second != first and len(calls) == 2 and calls[-1][0] == 5
    first.unlink()  # a half-deleted cache renders again
    cfg.world.n = 4
    assert ensure_world_manifest(cfg) == first and len(calls) == 3
