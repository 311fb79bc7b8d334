"""Prompt expansion at generation time: the pipeline's `expand_prompt=` and `patchflow generate --expand-prompt`."""

from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.commands import generate
from patchflow.pipeline import Pipeline
from patchflow.text.world_expander import WorldExpander

runner = CliRunner()
SHORT = "a red ball"
SMALL = dict(height=32, width=32, num_frames=1, num_inference_steps=2)


class Shouting:
    """An Expander of our own: anything with expand(prompt, seed)."""

    def expand(self, prompt: str, seed: int) -> str:
        return f"{prompt.upper()} ON NAVY {seed}"


def test_the_world_model_expands_with_the_world_and_samples_on_the_expansion(pipe):
    out = pipe(SHORT, expand_prompt=True, generator=4, **SMALL)
    expanded = WorldExpander().expand(SHORT, 4)
    assert out.prompt == [expanded] and out.extra["short_prompt"] == [SHORT]
    same = pipe(expanded, generator=4, **SMALL)  # expansion is only a rewrite of the text: same seed, same video
    np.testing.assert_array_equal(out.frames, same.frames)
    assert "short_prompt" not in same.extra


def test_an_expander_object_or_a_name(pipe):
    assert pipe(SHORT, expand_prompt=Shouting(), generator=1, **SMALL).prompt == ["A RED BALL ON NAVY 1"]
    assert pipe.expand(SHORT, 2, "world") == [WorldExpander().expand(SHORT, 2)]
    with pytest.raises(ValueError, match="unknown prompt expander 'gpt'"):
        pipe.expand(SHORT, 0, "gpt")


def test_an_empty_expansion_is_an_error(pipe):
    class Silent:
        def expand(self, prompt, seed):
            return "  "

    with pytest.raises(ValueError, match="returned nothing for 'a red ball'"):
        pipe(SHORT, expand_prompt=Silent(), **SMALL)


def test_a_model_of_real_footage_has_no_built_in_expander(pipe):
    footage = Pipeline(pipe.vae, pipe.transformer, pipe.text_encoder,
                       replace(pipe.config, data=replace(pipe.config.data, manifest="clips.jsonl")))
    with pytest.raises(ValueError, match="no built-in prompt expander; choose one"):
        footage.expand(SHORT, 0)
    assert footage.expand(SHORT, 3, Shouting()) == ["A RED BALL ON NAVY 3"]


@pytest.fixture
def loaded(monkeypatch, pipe, model_dir):
    monkeypatch.setattr(generate, "DEFAULT_MODEL", str(model_dir))
    monkeypatch.setattr(generate.Pipeline, "from_pretrained", classmethod(lambda cls, path, device="cpu": pipe))
    return pipe


def generate_cli(tmp_path, *args):
    return runner.invoke(app, ["generate", "--steps", "2", "--size", "32x32", "--frames", "1",
                               "--out", str(tmp_path / "still.png"), *args])


def test_generate_prints_the_expansion_before_sampling(loaded, tmp_path):
    result = generate_cli(tmp_path, "--prompt", SHORT, "--expand-prompt", "--seed", "6")
    assert result.exit_code == 0, result.output
    expanded = WorldExpander().expand(SHORT, 6)
    said = " ".join(result.output.split())  # rich wraps long lines
    assert f"expanded prompt: {expanded}" in said
    assert said.index("expanded prompt") < said.index("text-to-image")
    assert (tmp_path / "still.png").is_file()


def test_generate_expansion_errors(loaded, tmp_path):
    unknown = generate_cli(tmp_path, "--prompt", "a purple elephant", "--expand-prompt")
    assert unknown.exit_code != 0 and "prompt expansion failed: cannot understand 'elephant'" in unknown.output
    alone = generate_cli(tmp_path, "--prompt", SHORT, "--expander", "world")
    assert alone.exit_code != 0 and "need --expand-prompt" in alone.output
    assert not (tmp_path / "still.png").exists()
