"""`patchflow eval world --expand-prompt`: the bench's prompts expanded before sampling, their own facts judged."""

import json

import numpy as np
import typer
from tiny_models import tiny_model_folder
from typer.testing import CliRunner

from patchflow.commands.eval_world import world
from patchflow.eval.world_bench import pipeline_generator
from patchflow.text.expand import expand_prompt


def cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_expanded_bench_samples_on_the_expanded_prompt(tmp_path):
    folder = tiny_model_folder(tmp_path / "model", seed=0)
    prompt = "a red ball moves to the right"
    plain = pipeline_generator(folder, steps=2)(prompt, 32, 32, 5, 8.0, 7)
    expanded = pipeline_generator(folder, steps=2, expand_prompt="world")(prompt, 32, 32, 5, 8.0, 7)
    by_hand = pipeline_generator(folder, steps=2)(expand_prompt(prompt, 7, "world"), 32, 32, 5, 8.0, 7)
    assert expanded.shape == plain.shape == (5, 32, 32, 3)
    assert not np.array_equal(expanded, plain)  # another text, another video
    np.testing.assert_array_equal(expanded, by_hand)  # the prompt's own seed picks the expansion

    out = tmp_path / "bench"
    result = CliRunner().invoke(cli(), ["world", "--model", str(folder), "--category", "color", "--n-per-category",
                                        "1", "--steps", "2", "--expand-prompt", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"].endswith("(prompts expanded by world)")
    assert summary["samples"] and summary["samples"][0]["judged"] >= 1


def test_expand_prompt_errors(tmp_path):
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--expand-prompt", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "renders the prompt's facts themselves" in " ".join(result.output.split())
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--expand-prompt", "--expander", "gpt",
                                        "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--expander must be one of world, openai, hf" in " ".join(result.output.split())
