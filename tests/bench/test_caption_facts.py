"""bench/caption_facts.py judges a manifest's captions against the world's truth files."""

import importlib.util
import json
from pathlib import Path

import pytest

from patchflow.world.make import make_dataset

spec = importlib.util.spec_from_file_location("caption_facts", Path(__file__).parents[2] / "bench" / "caption_facts.py")
caption_facts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(caption_facts)


def test_true_captions_score_all_and_a_wrong_background_is_caught(tmp_path):
    manifest = make_dataset(tmp_path / "world", 6, sizes=["32x32"], frames=[5], seed=1, quiet=True, rung=2)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row in rows:  # the world's background, swapped for another one, in a new column
        truth = json.loads((manifest.parent / row["truth"]).read_text())
        background = truth["spec"]["background"]  # background names are no object colours
        other = "navy" if background != "navy" else "black"
        assert background in row["text"]
        row["wrong"] = row["text"].replace(background, other)
        row["gibberish"] = "zzz qqq"
    edited = manifest.parent / "edited.jsonl"  # relative paths are read from the manifest's folder
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = caption_facts.score(edited, ["text", "wrong", "gibberish"])
    assert scores["text"]["right"] == scores["text"]["judged"] > 0
    assert scores["wrong"]["kinds"]["background"] == [0, 6]
    assert scores["wrong"]["kinds"]["color"] == [6, 6]  # the rest of the caption still told
    assert scores["gibberish"]["right"] < scores["gibberish"]["judged"] / 2  # a text that tells nothing
    table = caption_facts.table(scores)
    assert "| background | 100.0% (6/6) | 0.0% (0/6) |" in table


def test_a_manifest_without_truth_is_refused_by_name(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.mp4", "text": "a red ball"}) + "\n")
    with pytest.raises(ValueError, match="no truth file"):
        caption_facts.score(manifest, ["text"])
    with pytest.raises(SystemExit):
        caption_facts.main([str(tmp_path / "missing.jsonl")])


def test_a_manifest_written_elsewhere_finds_the_truth_beside_its_absolute_media(tmp_path):
    manifest = make_dataset(tmp_path / "world", 2, sizes=["32x32"], frames=[5], seed=2, quiet=True, rung=2)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row in rows:  # what `patchflow data caption --out` elsewhere writes: absolute media, relative truth
        row["path"] = str(manifest.parent / row["path"])
    elsewhere = tmp_path / "other" / "captioned.jsonl"
    elsewhere.parent.mkdir()
    elsewhere.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = caption_facts.score(elsewhere, ["text"])
    assert scores["text"]["right"] == scores["text"]["judged"] > 0
