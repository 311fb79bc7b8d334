"""A tiny world rendered and encoded once per session: the latent cache most trainer tests train from."""

from pathlib import Path

import pytest
import torch
from tiny_world import tiny_overrides

from patchflow.recipes import resolve


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="session")
def latent_cache(tiny_root) -> Path:
    from patchflow.data.latent_cache import encode_cache
    from patchflow.text import TextEncoder
    from patchflow.train.batches import build_vae, data_rows

    cfg = resolve("debug", tiny_overrides(tiny_root))
    device = torch.device("cpu")
    encode_cache(cfg, data_rows(cfg, None, True), tiny_root / "latents", build_vae(cfg, device),
                 TextEncoder(cfg.text), device)
    return tiny_root / "latents"
