"""The model folder is written one way (atomically) and names each component by the class its config.json names."""

import json
import shutil

import pytest

from patchflow.model_folder_errors import ModelFolderError
from patchflow.models.vae import load_vae
from patchflow.pipeline import Pipeline


def test_model_index_names_the_classes_the_subfolders_name(model_dir):
    index = json.loads((model_dir / "model_index.json").read_text())
    for component in ("vae", "transformer", "text_encoder"):
        saved = json.loads((model_dir / component / "config.json").read_text())
        assert index[component] == ["patchflow", saved["_class_name"]]
    assert "scheduler" not in index  # the scheduler folder holds settings; there is no scheduler class
    assert not list(model_dir.parent.glob(".tmp-*")) and not list(model_dir.parent.glob(".old-*"))


def test_saving_over_a_folder_replaces_it_whole(pipe, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("from an older save")
    assert pipe.save_pretrained(target) == target
    assert not (target / "stale.txt").exists() and (target / "transformer" / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it
    assert Pipeline.from_pretrained(target).config == pipe.config


@pytest.mark.parametrize("name", ["AutoencoderKLNoSuchVAE", "DiT"])
def test_a_vae_class_nobody_loads_is_named(model_dir, tmp_path, name):
    folder = shutil.copytree(model_dir / "vae", tmp_path / "vae")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "_class_name": name}))
    with pytest.raises(ModelFolderError, match=f"VAE class '{name}' is not one patchflow loads"):
        load_vae(folder)
