"""Damaged model folders: every reader and every command that takes one names the damaged file and how it is
damaged, in one line, without a traceback."""

import json
import shutil
import struct

import pytest
import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.model_folder_errors import ModelFolderError
from patchflow.models.dit import DiT
from patchflow.models.vae import load_vae
from patchflow.pipeline import Pipeline

runner = CliRunner()
WEIGHTS = "diffusion_pytorch_model.safetensors"


def flat(text: str) -> str:
    """Output without whitespace: rich wraps long lines (and long paths) at the console's width."""
    return "".join(text.split())


def cut(fraction: float):
    def damage(path):
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
    return damage


def header_only(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    path.write_bytes(data[: 8 + n])


def write(text: str):
    def damage(path):
        path.write_text(text)
    return damage


def remove(path):
    shutil.rmtree(path)


def wider_dit(path):
    """The DiT's settings of another model: the weights no longer fit them."""
    cfg = json.loads(path.read_text())
    path.write_text(json.dumps({**cfg, "width": cfg["width"] * 2}))


# (case, file damaged, how, words the message must hold)
CASES = [
    ("dit weights cut in the data", f"transformer/{WEIGHTS}", cut(0.6), "cut short"),
    ("dit weights cut in the header", f"transformer/{WEIGHTS}", cut(0.0005), "cut short"),
    ("vae weights empty", f"vae/{WEIGHTS}", cut(0.0), "is empty"),
    ("dit weights header only", f"transformer/{WEIGHTS}", header_only, "holds only its header"),
    ("config.json broken", "config.json", write('{"name": "debug",'), "is not valid JSON"),
    ("model_index.json broken", "model_index.json", write("{not json"), "is not valid JSON"),
    ("model_index.json empty", "model_index.json", write(""), "is empty"),
    ("text encoder settings a list", "text_encoder/config.json", write("[1, 2]"), "not an object"),
    ("vae settings unknown key", "vae/config.json", write('{"latent_channelz": 4}'), "does not fit"),
    ("dit settings of another model", "transformer/config.json", wider_dit, "does not fit"),
    ("transformer folder missing", "transformer", remove, "missing"),
    ("vae folder missing", "vae", remove, "missing"),
]


@pytest.fixture
def damaged(model_dir, tmp_path, request):
    """A copy of the debug model folder with one file damaged; yields (folder, damaged file's path)."""
    _, relative, damage, _ = request.param
    folder = shutil.copytree(model_dir, tmp_path / "model")
    damage(folder / relative)
    return folder, folder / relative


def expected_file(folder, relative):
    """The file the message must name: a missing subfolder is named by the file it should have held."""
    path = folder / relative
    return path / "config.json" if relative in ("transformer", "vae") else path


@pytest.mark.parametrize("damaged", CASES, indirect=True, ids=[c[0] for c in CASES])
def test_pipeline_from_pretrained_names_the_damaged_file(damaged, request):
    folder, _ = damaged
    case = next(c for c in CASES if c[0] == request.node.callspec.id)
    with pytest.raises(ModelFolderError) as info:
        Pipeline.from_pretrained(folder)
    message = str(info.value)
    assert str(expected_file(folder, case[1])) in message and case[3] in message
    assert "\n" not in message


@pytest.mark.parametrize("damaged", CASES, indirect=True, ids=[c[0] for c in CASES])
def test_generate_names_the_damaged_file_without_a_traceback(damaged, request, tmp_path):
    folder, _ = damaged
    case = next(c for c in CASES if c[0] == request.node.callspec.id)
    result = runner.invoke(app, ["generate", "--prompt", "a red ball", "--model", str(folder), "--frames", "9",
                                 "--steps", "1", "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2, result.output
    assert flat(str(expected_file(folder, case[1]))) in flat(result.output), result.output
    assert flat(case[3]) in flat(result.output) and "Traceback" not in result.output
    assert not (tmp_path / "x.mp4").exists()


EVAL_CASES = [c for c in CASES if c[0] in ("vae weights empty", "config.json broken", "vae folder missing",
                                           "dit weights cut in the data")]


@pytest.mark.parametrize("damaged", EVAL_CASES, indirect=True, ids=[c[0] for c in EVAL_CASES])
def test_eval_world_and_eval_vae_name_the_damaged_file(damaged, request, tmp_path):
    folder, _ = damaged
    case = next(c for c in CASES if c[0] == request.node.callspec.id)
    commands = [["eval", "world", "--model", str(folder), "--n-per-category", "1", "--out", str(tmp_path / "b")]]
    if case[1] != f"transformer/{WEIGHTS}":  # eval vae reads the VAE and config.json only
        commands.append(["eval", "vae", "--model", str(folder), "--n", "1"])
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert flat(str(expected_file(folder, case[1]))) in flat(result.output), result.output
        assert flat(case[3]) in flat(result.output) and "Traceback" not in result.output


def test_readers_still_load_an_intact_folder_and_missing_folders_stay_file_not_found(model_dir, tmp_path):
    vae = load_vae(model_dir)
    dit = DiT.from_pretrained(model_dir / "transformer")
    reference = Pipeline.from_pretrained(model_dir)
    for mine, theirs in ((vae, reference.vae), (dit, reference.transformer)):
        assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values(),
                                                       strict=True))
    with pytest.raises(FileNotFoundError, match="missing"):  # callers that catch FileNotFoundError still do
        DiT.from_pretrained(tmp_path / "nothing")
    with pytest.raises(ModelFolderError, match="does not exist"):
        Pipeline.from_pretrained(tmp_path / "nothing")
