"""Training clips open with the motion their captions state (truthful.py, make.py's re-roll)."""

import json
import random

import numpy as np
import pytest

from patchflow.world import make
from patchflow.world.make import make_dataset, render_truthful
from patchflow.world.render import render_scene
from patchflow.world.scene import ObjectSpec, SceneSpec
from patchflow.world.truthful import KINDS, opening_frames, stated_motion_holds, world_positions

SIZE = (64, 64)  # short side 64 px: positions in short-sides are truth px / 64


def scene(*objects, **features) -> SceneSpec:
    return SceneSpec(objects=tuple(ObjectSpec(*o) for o in objects), background="black", **features)


def first_seed(spec: SceneSpec, frames: int, wanted) -> tuple[int, dict]:
    """The first seed below 2000 whose frame-0 truth satisfies `wanted(truth)`: a scene placed by hand."""
    for seed in range(2000):
        _, truth = render_scene(spec, *SIZE, frames, 8, seed)
        if wanted(truth):
            return seed, truth
    raise AssertionError("no seed places the scene as the test needs")


HEAD_ON = scene(("red", "circle", "large", "right", "fast"), ("blue", "circle", "large", "left", "fast"))


def adjacent(truth) -> bool:
    """Red just left of blue at one height, closer than one frame of their closing travel (2 x 0.075)."""
    red, blue = truth["objects"]
    gap = (blue["x"][0] - red["x"][0]) / 64 - 0.30  # between their edges, short-sides
    return 0 < gap < 0.1 and abs(blue["y"][0] - red["y"][0]) < 0.05 * 64


def test_opening_is_half_a_second_at_least_two_frames_at_most_the_clip():
    assert opening_frames(33, 8) == 5 and opening_frames(3, 8) == 3 and opening_frames(1, 8) == 1
    assert opening_frames(100, 1) == 2 and opening_frames(100, 30) == 16


def test_balls_placed_to_collide_at_once_are_rejected():
    _, truth = first_seed(HEAD_ON, 9, adjacent)
    verdict = stated_motion_holds(HEAD_ON, truth)
    assert not verdict.ok and verdict.kind == "collision"
    assert "red" in verdict.reason or "blue" in verdict.reason
    # The clip really shows it: within the opening one of them already travels against its stated way.
    x = np.array([o["x"] for o in truth["objects"]]).T[:5]  # (5, 2) px
    assert (np.diff(x[:, 0]) < 0).any() or (np.diff(x[:, 1]) > 0).any()
    # An image of the same scene states no motion it could contradict.
    image = {**truth, "num_frames": 1, "objects": [{**o, "x": o["x"][:1], "y": o["y"][:1],
                                                     "visible": o["visible"][:1]} for o in truth["objects"]]}
    assert stated_motion_holds(HEAD_ON, image).ok


def test_moving_up_from_against_the_top_wall_is_rejected():
    spec = scene(("green", "square", "small", "up", "fast"))
    _, truth = first_seed(spec, 9, lambda t: t["objects"][0]["y"][0] / 64 - 0.075 < 0.02)  # top gap < 0.02
    verdict = stated_motion_holds(spec, truth)
    assert not verdict.ok and verdict.kind == "wall" and "first step" in verdict.reason
    assert truth["objects"][0]["y"][1] > truth["objects"][0]["y"][0]  # it is shown moving down


def test_plain_scenes_pass():
    still = scene(("red", "circle", "large", "still", "slow"))
    assert all(stated_motion_holds(still, render_scene(still, *SIZE, 17, 8, s)[1]).ok for s in range(10))
    slide = scene(("blue", "square", "small", "right", "slow"))
    _, truth = first_seed(slide, 17, lambda t: 1 - t["objects"][0]["x"][0] / 64 - 0.075 > 0.2)  # room to the right
    assert stated_motion_holds(slide, truth) == (True, "", "")
    pong = SceneSpec(objects=(), background="gray", pong=True)
    assert stated_motion_holds(pong, render_scene(pong, *SIZE, 9, 8, 0)[1]).ok


@pytest.mark.parametrize("pan", ["left", "right"])
def test_a_pan_is_taken_out_of_the_motion(pan):
    """A still box slides across the view when the camera pans, but it does not move in the world."""
    spec = scene(("yellow", "square", "large", "still", "slow"), ("cyan", "circle", "small", "down", "slow"), pan=pan)
    _, truth = first_seed(spec, 9, lambda t: t["objects"][1]["y"][0] / 64 < 0.5)  # room to go down
    x, _ = world_positions(truth)
    assert np.ptp(truth["objects"][0]["x"]) > 1 and np.ptp(x[:, 0]) < 1e-3
    assert stated_motion_holds(spec, truth).ok


def test_an_object_behind_the_pillar_is_rejected():
    spec = scene(("magenta", "circle", "small", "still", "slow"), pillar=True)
    _, truth = first_seed(spec, 1, lambda t: abs(t["objects"][0]["x"][0] - t["pillar"]["x"]) < 1)
    verdict = stated_motion_holds(spec, truth)
    assert not verdict.ok and verdict.kind == "hidden" and "pillar" in verdict.reason
    _, seen = first_seed(spec, 1, lambda t: abs(t["objects"][0]["x"][0] - t["pillar"]["x"]) > 15)
    assert stated_motion_holds(spec, seen).ok


def test_truth_of_another_scene_is_refused():
    _, truth = render_scene(HEAD_ON, *SIZE, 5, 8, 0)
    with pytest.raises(ValueError, match="not the spec's"):
        stated_motion_holds(scene(("green", "circle", "large", "right", "fast")), truth)


def test_rerolls_are_bounded_with_a_clear_error(monkeypatch):
    crowded = scene(("red", "circle", "large", "down", "fast"), ("blue", "square", "large", "down", "fast"),
                    ("green", "triangle", "large", "up", "fast"))  # about one placement in six holds
    monkeypatch.setattr(make, "MAX_TRIES", 1)
    for seed in range(100):
        try:
            render_truthful(crowded, *SIZE, 9, 8, random.Random(seed))
        except RuntimeError as e:
            assert "1 placements" in str(e) and "MAX_TRIES" in str(e)
            return
    raise AssertionError("every first placement held")


def test_make_dataset_rerolls_deterministically_and_every_row_holds(tmp_path):
    args = dict(n=10, sizes=["32x32", "40x24"], frames=[1, 9], seed=4, quiet=True)
    a, b = make_dataset(tmp_path / "a", **args), make_dataset(tmp_path / "b", **args)
    assert a.read_text() == b.read_text()
    stats = json.loads((a.parent / "render_stats.json").read_text())
    assert stats == json.loads((b.parent / "render_stats.json").read_text())
    assert stats["samples"] == 10 and stats["rerolled"] >= 1  # this seed's first draws include undone motion
    assert set(stats["reasons"]) == set(KINDS) and sum(stats["reasons"].values()) == stats["rejected_renders"]
    for line in a.read_text().splitlines():
        row = json.loads(line)
        truth = json.loads((a.parent / row["truth"]).read_text())
        assert truth == json.loads((b.parent / row["truth"]).read_text())
        verdict = stated_motion_holds(SceneSpec.from_dict(truth["spec"]), truth)
        assert verdict.ok, verdict.reason
