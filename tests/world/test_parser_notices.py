"""Words the world has no place for get a notice naming the word and the choices, instead of being
silently dropped or read as something else; the world's own texts get none."""

import random

import pytest
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.eval.world_prompts import PROMPTS
from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS
from patchflow.world.parser import (
    CaptionParseError,
    parse_caption,
    parse_caption_with_notices,
    prompt_notices,
)
from patchflow.world.scene import sample_scene

BACKGROUNDS = ", ".join(BACKGROUND_COLORS)
COLOURS = ", ".join(OBJECT_COLORS)


@pytest.mark.parametrize("text,word,choices,objects,background", [
    ("a red ball on a white background", "white", BACKGROUNDS, [("red", "circle")], None),
    ("a white background with a red ball", "white", BACKGROUNDS, [("red", "circle")], None),  # not 2 balls
    ("the background is blue. a red box", "blue", BACKGROUNDS, [("red", "square")], None),
    ("a green ball on red", "red", BACKGROUNDS, [("green", "circle")], None),
    ("a purple ball on navy", "purple", COLOURS, [(None, "circle")], "navy"),
    ("a navy box on black", "navy", COLOURS, [(None, "square")], "black"),  # navy is a background
    ("a red hexagon bouncing", "hexagon", "ball/circle/disc, square/box/block, triangle", [("red", None)], None),
    ("a hexagon", "hexagon", "ball/circle/disc, square/box/block, triangle", [], None),
])
def test_a_word_out_of_place_is_a_notice_naming_it_and_the_choices(text, word, choices, objects, background):
    result = parse_caption_with_notices(text)
    assert len(result.notices) == 1, result.notices
    assert f"'{word}'" in result.notices[0] and choices in result.notices[0]
    assert [(o.color, o.shape) for o in result.facts.objects] == objects
    assert result.facts.background == background
    assert prompt_notices(text) == list(result.notices)
    assert result.outside == (() if word in ("white", "blue", "red", "navy") else result.notices)


def test_a_known_word_out_of_place_is_no_longer_read_as_something_else():
    # Before: "white" was held for the next noun and became a second ball.
    assert [o.color for o in parse_caption("a white background with a red ball").objects] == ["red"]


def test_unknown_words_in_no_slot_stay_errors_and_become_a_generate_notice():
    with pytest.raises(CaptionParseError, match="'zooms'"):
        parse_caption_with_notices("a red ball zooms")
    with pytest.raises(CaptionParseError, match="'purple'"):
        parse_caption("a purple ball")  # the oracle's strict reading: it never judges half a caption
    notices = prompt_notices("a red ball zooms and teleports")
    assert notices == ["'zooms', 'teleports' are not in the world's vocabulary (shared/WORLD.md): a model trained "
                       "on the world has never seen it"]
    assert prompt_notices("a red ball bouncing on navy") == []


def test_bench_prompts_and_world_texts_get_no_notices():
    for prompt in PROMPTS:
        assert parse_caption_with_notices(prompt.text).notices == (), prompt
    rng = random.Random(5)
    for _ in range(400):
        spec = sample_scene(rng, feature_prob=0.4)
        for text in (make_caption(spec, rng), make_prompt(spec, rng)):
            result = parse_caption_with_notices(text)
            assert result.notices == () and result.facts == parse_caption(text), text


def test_world_render_prints_the_notice_and_renders(tmp_path):
    out = tmp_path / "still.png"
    result = CliRunner().invoke(app, ["world", "render", "--caption", "a red ball on a white background",
                                      "--frames", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"notice: 'white' is not one of the world's backgrounds ({BACKGROUNDS})" in text
    assert out.stat().st_size > 0


def test_world_render_stops_on_a_word_the_world_lacks_naming_the_choices(tmp_path):
    result = CliRunner().invoke(app, ["world", "render", "--caption", "a purple ball on navy", "--frames", "1",
                                      "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"error: 'purple' is not a colour of the world (colours: {COLOURS})" in text
    assert "Traceback" not in text and not (tmp_path / "x.png").exists()
