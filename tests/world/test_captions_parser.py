"""Captions and prompts, and parsing them back to the facts of the scene."""

import random

import pytest

from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.parser import CaptionParseError, parse_caption
from patchflow.world.scene import ObjectSpec, SceneSpec, complete, sample_scene

FIELDS = ("color", "shape", "size", "motion", "speed")


def stated_speed(obj: ObjectSpec):
    return None if obj.motion in ("still", "fall") else obj.speed  # speed is said only where it matters


def test_captions_parse_back_to_every_fact_of_the_scene():
    rng = random.Random(0)
    for _ in range(600):
        spec = sample_scene(rng, feature_prob=0.4)
        caption = make_caption(spec, rng)
        facts = parse_caption(caption)
        assert facts.background == spec.background, caption
        if spec.pong:
            assert facts.pong and facts.objects == (), caption
            continue
        assert not facts.pong, caption
        assert bool(facts.pillar) == spec.pillar, caption
        assert facts.paint == spec.paint, caption
        assert facts.pan == (spec.pan or "static"), caption  # captions always say what the camera does
        assert facts.count in (None, len(spec.objects)), caption
        by_color = {o.color: o for o in facts.objects}
        assert set(by_color) == {o.color for o in spec.objects} and len(facts.objects) == len(spec.objects), caption
        for obj in spec.objects:
            got = by_color[obj.color]
            assert (got.shape, got.size, got.motion, got.speed) == (obj.shape, obj.size, obj.motion,
                                                                     stated_speed(obj)), caption


def test_prompts_parse_to_a_consistent_subset_of_the_scene():
    rng = random.Random(1)
    lengths = []
    for _ in range(600):
        spec = sample_scene(rng, feature_prob=0.4)
        prompt = make_prompt(spec, rng)
        facts = parse_caption(prompt)
        lengths.append(len(prompt.split()))
        assert lengths[-1] < len(make_caption(spec, rng).split()), prompt
        assert facts.background in (None, spec.background), prompt
        assert bool(facts.pong) == spec.pong, prompt
        if spec.pong:
            continue
        assert facts.pillar in (None, spec.pillar) and facts.paint in (None, spec.paint), prompt
        assert facts.pan in (None, spec.pan or "static"), prompt
        assert facts.count in (None, len(spec.objects)), prompt
        for got in facts.objects:
            assert any(all(getattr(got, f) in (None, getattr(o, f)) for f in FIELDS) for o in spec.objects), prompt
    assert sorted(lengths)[len(lengths) // 2] <= 8  # short, as people type


def test_texts_vary_in_words_and_order():
    spec = SceneSpec(objects=(ObjectSpec("red", "circle", "small", "right", "fast"),
                              ObjectSpec("blue", "square", "large", "still", "slow")), background="navy")
    rng = random.Random(2)
    captions = {make_caption(spec, rng) for _ in range(200)}
    assert len(captions) > 150
    text = " ".join(captions).lower()
    for synonym in ("ball", "circle", "disc", "square", "box", "block", "quickly", "rapidly", "stays still", "rests"):
        assert synonym in text
    # The background sentence is not always in the same place.
    assert len({c.lower().split(".")[0].count("navy") for c in captions}) == 2
    prompts = {make_prompt(spec, rng) for _ in range(200)}
    assert len(prompts) > 30 and max(map(len, prompts)) < min(map(len, captions))


@pytest.mark.parametrize("text,expect", [
    ("a red ball bouncing", dict(objects=[dict(color="red", shape="circle", motion="bounce")])),
    ("two boxes on gray", dict(count=2, background="gray", objects=[dict(shape="square")] * 2)),
    ("Three shapes bounce around on navy.", dict(count=3, background="navy", objects=[dict(motion="bounce")] * 3)),
    ("one big yellow disc falling", dict(count=1, objects=[dict(color="yellow", size="large", motion="fall")])),
    ("red and blue balls falling", dict(objects=[dict(color="red", motion="fall"), dict(color="blue", motion="fall")])),
    ("a fast green triangle and a slow white block moving left",
     dict(objects=[dict(color="green", speed="fast"), dict(color="white", speed="slow", motion="left")])),
    ("A magenta box slides to the right behind a pillar. The camera pans left.",
     dict(pillar=True, pan="left", objects=[dict(color="magenta", shape="square", motion="right")])),
    ("a cyan circle drifting up slowly on dark green, static camera",
     dict(background="dark green", pan="static", objects=[dict(motion="up", speed="slow")])),
    ("an orange ball bouncing. the ball leaves a trail", dict(paint="orange", objects=[dict(color="orange")])),
    ("a game of pong on maroon", dict(pong=True, background="maroon", objects=[])),
    ("on grey, a small red square that does not move, and no pillar",
     dict(pillar=False, background="gray", objects=[dict(color="red", motion="still", size="small")])),
])
def test_user_phrasings(text, expect):
    facts = parse_caption(text)
    objects = expect.pop("objects")
    assert len(facts.objects) == len(objects), facts
    for got, want in zip(facts.objects, objects, strict=True):
        for key, value in want.items():
            assert getattr(got, key) == value, (text, facts)
    for key, value in expect.items():
        assert getattr(facts, key) == value, (text, facts)


@pytest.mark.parametrize("text,words", [
    ("a purple ball", ["purple"]),
    ("a red ball zooms and teleports", ["zooms", "teleports"]),
    ("a red hexagon on navy", ["hexagon"]),
])
def test_unknown_words_are_quoted_in_the_error(text, words):
    with pytest.raises(CaptionParseError) as err:
        parse_caption(text)
    for word in words:
        assert f"'{word}'" in str(err.value)
    assert "'red'" not in str(err.value) and "'a'" not in str(err.value)  # known words and filler are not blamed


def test_parsed_facts_complete_to_a_scene_that_keeps_them():
    facts = parse_caption("a small red ball moves quickly to the right while a large blue box rests; the camera "
                          "pans left. the background is maroon. a pillar stands in front.")
    spec = complete(facts, seed=3)
    red, blue = spec.objects
    assert (red.color, red.shape, red.size, red.motion, red.speed) == ("red", "circle", "small", "right", "fast")
    assert (blue.color, blue.shape, blue.size, blue.motion) == ("blue", "square", "large", "still")
    assert (spec.background, spec.pan, spec.pillar) == ("maroon", "left", True)
