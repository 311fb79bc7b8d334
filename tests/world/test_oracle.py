"""The oracle reads the world back from pixels: it agrees with the renderer's ground truth on
random scenes (also after H.264), and it fails the facts a wrong video breaks."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace

import numpy as np
import pytest

from patchflow.media import read_video, write_video
from patchflow.world.captions import make_caption
from patchflow.world.oracle import facts_of, observe, score, score_video
from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS, PILLAR_COLOR
from patchflow.world.parser import parse_caption
from patchflow.world.render import render_scene
from patchflow.world.scene import ObjectFacts, ObjectSpec, SceneFacts, SceneSpec, sample_scene

# Both aspects, from the smallest (a small object is 4.8 px) to 256x144.
SIZES = [(32, 32), (48, 32), (32, 48), (64, 64), (64, 36), (36, 64), (96, 64), (128, 72), (72, 128), (256, 144)]
FRAME_COUNTS = [1, 2, 9, 17, 33]


def random_videos(n: int, seed: int):
    """n random scenes (features more often than the default, to test them), rendered."""
    rng = random.Random(seed)
    for i in range(n):
        spec = sample_scene(rng, feature_prob=0.3)
        width, height = SIZES[i % len(SIZES)]
        frames, _ = render_scene(spec, width, height, rng.choice(FRAME_COUNTS), 8.0, seed=seed * 1000 + i)
        yield spec, frames


def h264(frames: np.ndarray, tmp_path, name="v.mp4") -> np.ndarray:
    path = write_video(tmp_path / name, frames, 8.0)
    return read_video(path)[0]


def agreement(results) -> tuple[float, int, list[str]]:
    facts = [f for r in results for f in r.facts]
    failed = [f"{f.name}: {f.detail}" for f in facts if not f.passed]
    return 1 - len(failed) / len(facts), len(facts), failed


# ---- reading pixels ----------------------------------------------------------------------------------


def test_observe_hand_drawn_frames():
    """Frames drawn here, without the renderer: background, pillar, an object's place and shape."""
    t, h, w = 5, 48, 64
    frames = np.empty((t, h, w, 3), np.uint8)
    frames[:] = BACKGROUND_COLORS["navy"]
    for k in range(t):
        frames[k, 10:24, 5 + 3 * k:19 + 3 * k] = OBJECT_COLORS["red"]  # a 14 px square moving right
    frames[:, :, 50:57] = PILLAR_COLOR
    obs = observe(frames, fps=8.0)
    assert obs.background == "navy"
    assert obs.has_pillar and tuple(obs.pillar[0]) == (50, 56)
    assert list(obs.tracks) == ["red"]
    red = obs.tracks["red"]
    np.testing.assert_allclose(red.cx, 11.5 + 3 * np.arange(t))
    np.testing.assert_allclose(red.cy, 16.5)
    assert red.pixels.tolist() == [14 * 14] * t
    facts = SceneFacts(objects=(ObjectFacts("red", "square", "large", "right"),), background="navy", pillar=True)
    report = score(frames, facts, fps=8.0)
    assert {f.name: f.passed for f in report.facts} == {
        "background": True, "count": True, "object[red].color": True, "object[red].shape": True,
        "object[red].size": True, "object[red].motion": True, "pillar": True,
    }


def test_observe_is_fast():
    spec = SceneSpec(objects=(ObjectSpec("red", "circle", "large", "bounce", "fast"),
                              ObjectSpec("blue", "square", "small", "right", "slow"),
                              ObjectSpec("green", "triangle", "small", "fall", "slow")),
                     background="navy", pillar=True, paint="red")
    frames, _ = render_scene(spec, 64, 64, 33, 8.0, seed=3)
    observe(frames, 8.0)
    best = min(_timed(lambda: observe(frames, 8.0)) for _ in range(3))
    assert best < 0.5, f"observe took {best:.3f} s on 64x64x33"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- agreement with the ground truth ------------------------------------------------------------------


def test_agrees_with_truth_on_200_random_scenes():
    results = [score(frames, facts_of(spec), 8.0) for spec, frames in random_videos(200, seed=1)]
    rate, judged, failed = agreement(results)
    assert judged > 1500  # most facts are judged, not skipped
    assert rate >= 0.99, failed
    judged_kinds = {f.name.split(".")[-1] for r in results for f in r.facts}
    assert {"shape", "size", "motion", "speed", "walls", "background", "count", "pan", "paint"} <= judged_kinds
    assert sum(r.appearances + r.disappearances for r in results) == 0


def test_agrees_with_truth_after_h264(tmp_path):
    results = []
    for i, (spec, frames) in enumerate(random_videos(24, seed=2)):
        decoded = h264(frames, tmp_path, f"{i}.mp4") if len(frames) > 1 else frames
        assert len(frames) == 1 or np.abs(decoded.astype(int) - frames).max() > 0  # really lossy
        results.append(score(decoded, facts_of(spec), 8.0))
    rate, judged, failed = agreement(results)
    assert judged > 150
    assert rate >= 0.99, failed


def test_agrees_with_its_own_caption():
    """Scored against what the caption says (through the parser), not the spec."""
    rng = random.Random(7)
    results = [score(frames, parse_caption(make_caption(spec, rng)), 8.0) for spec, frames in random_videos(20, 3)]
    rate, judged, failed = agreement(results)
    assert judged > 150
    assert rate >= 0.99, failed


# ---- wrong videos fail ---------------------------------------------------------------------------------

BASE = SceneSpec(objects=(ObjectSpec("red", "triangle", "large", "right", "slow"),
                          ObjectSpec("blue", "circle", "small", "still", "slow")), background="navy")


def verdicts(spec: SceneSpec, stated: SceneSpec, size=(64, 48), frames=17) -> dict[str, bool]:
    video, _ = render_scene(spec, *size, frames, 8.0, seed=1)
    return {f.name: f.passed for f in score(video, facts_of(stated), 8.0).facts}


def test_true_video_passes_every_fact():
    assert all(verdicts(BASE, BASE).values())


@pytest.mark.parametrize(
    ("change", "fails"),
    [
        ({"color": "green"}, "object[red].color"),
        ({"shape": "square"}, "object[red].shape"),
        ({"size": "small"}, "object[red].size"),
        ({"motion": "left"}, "object[red].motion"),
        ({"motion": "still"}, "object[red].motion"),
        ({"motion": "fall"}, "object[red].motion"),
        ({"speed": "fast"}, "object[red].speed"),
    ],
)
def test_wrong_object_fails_that_fact(change, fails):
    red = replace(BASE.objects[0], **change)
    wrong = replace(BASE, objects=(red, BASE.objects[1]))
    result = verdicts(wrong, BASE)
    assert result.get(fails) is False, result
    assert result["background"] and result["object[blue].shape"]  # the rest still holds


def test_wrong_scene_features_fail():
    assert verdicts(replace(BASE, background="maroon"), BASE)["background"] is False
    assert verdicts(replace(BASE, pan="left"), BASE)["pan"] is False  # stated static
    assert verdicts(replace(BASE, pan="left"), replace(BASE, pan="right"))["pan"] is False
    assert verdicts(replace(BASE, pan="right"), replace(BASE, pan="right"))["pan"] is True
    assert verdicts(BASE, replace(BASE, pillar=True))["pillar"] is False
    assert verdicts(BASE, replace(BASE, paint="red"))["paint"] is False  # no trail
    extra = replace(BASE, objects=(*BASE.objects, ObjectSpec("yellow", "square", "small", "still", "slow")))
    assert verdicts(extra, BASE)["count"] is False


def test_vanishing_object_breaks_permanence():
    spec = replace(BASE, pillar=True)
    video, truth = render_scene(spec, 64, 48, 17, 8.0, seed=6)
    assert score(video, facts_of(spec), 8.0).to_dict()["disappearances"] == 0
    # The blue still object vanishes in the middle of the video, away from the pillar and the edges.
    assert abs(truth["objects"][1]["x"][0] - truth["pillar"]["x"]) > 15
    blue = np.all(video == OBJECT_COLORS["blue"], axis=-1)
    assert blue[6:11].any()
    video = video.copy()
    video[6:11][blue[6:11]] = BACKGROUND_COLORS["navy"]
    report = score(video, facts_of(spec), 8.0)
    assert (report.appearances, report.disappearances) == (1, 1)
    assert {f.name: f.passed for f in report.facts}["permanence"] is False


def test_pong():
    pong = SceneSpec(objects=(), background="gray", pong=True)
    video, _ = render_scene(pong, 96, 64, 33, 8.0, seed=1)
    result = {f.name: f.passed for f in score(video, facts_of(pong), 8.0).facts}
    assert result == {"background": True, "pong.paddles": True, "pong.ball": True, "pong.bounce": True}
    other, _ = render_scene(BASE, 96, 64, 33, 8.0, seed=1)
    result = {f.name: f.passed for f in score(other, facts_of(pong), 8.0).facts}
    assert not result["pong.paddles"] and not result["pong.ball"]


# ---- files and reports ---------------------------------------------------------------------------------


def test_score_video_reads_a_file_and_a_caption(tmp_path):
    video, _ = render_scene(BASE, 64, 48, 17, 8.0, seed=5)
    path = write_video(tmp_path / "v.mp4", video, 8.0)
    caption = make_caption(BASE, random.Random(0))
    report = score_video(path, caption)
    assert report.pass_rate == 1.0
    wrong = score_video(path, caption.replace("navy", "maroon"))
    assert wrong.pass_rate < 1.0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["judged"] == len(report.facts) and data["appearances"] == 0
    assert {o["color"] for o in data["objects"]} == {"red", "blue"}


def test_one_frame_skips_motion():
    video, _ = render_scene(BASE, 64, 48, 1, 8.0, seed=5)
    report = score(video, facts_of(BASE), 8.0)
    assert all(f.passed for f in report.facts)
    skipped = {f.name for f in report.skipped}
    assert {"object[red].motion", "object[blue].motion", "pan"} <= skipped
