"""Rendering: palette values to the pixel, pillar in front, trails, stripes, sizes, truth, speed."""

import time

import numpy as np
import pytest

from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS, PILLAR_COLOR, STRIPE_DELTA, trail_color
from patchflow.world.render import render_scene
from patchflow.world.scene import ObjectSpec, SceneSpec


def scene(*objects, background="navy", **features) -> SceneSpec:
    return SceneSpec(objects=tuple(ObjectSpec(*o) for o in objects), background=background, **features)


def color_mask(frame: np.ndarray, rgb) -> np.ndarray:
    return np.all(frame == np.asarray(rgb, np.uint8), axis=-1)


STILL_TRIO = scene(("red", "circle", "large", "still", "slow"), ("green", "square", "large", "still", "slow"),
                   ("blue", "triangle", "large", "still", "slow"))


def test_palette_is_exact_at_centres_and_truth_is_the_pixel_centroid():
    frames, truth = render_scene(STILL_TRIO, 160, 120, 3, 8, seed=1)
    for obj in truth["objects"]:
        x, y = obj["x"][0], obj["y"][0]
        assert tuple(frames[0, round(y), round(x)]) == OBJECT_COLORS[obj["color"]]
        ys, xs = np.nonzero(color_mask(frames[0], OBJECT_COLORS[obj["color"]]))
        assert xs.mean() == pytest.approx(x, abs=0.5) and ys.mean() == pytest.approx(y, abs=0.5)
        # Area of the drawn shape matches its geometry (side 0.3 of the 120 px short side = 36 px).
        side = 0.3 * 120
        area = {"circle": np.pi * side**2 / 4, "square": side**2, "triangle": np.sqrt(3) / 4 * side**2}[obj["shape"]]
        assert len(xs) == pytest.approx(area, rel=0.06)


def test_every_pixel_is_a_palette_value():
    spec = scene(("red", "circle", "large", "bounce", "fast"), ("cyan", "triangle", "small", "fall", "slow"),
                 background="maroon", pillar=True, paint="red", pan="right")
    frames, _ = render_scene(spec, 72, 40, 17, 8, seed=3)
    bg = np.asarray(BACKGROUND_COLORS["maroon"])
    allowed = {tuple(np.clip(bg + d, 0, 255)) for d in (STRIPE_DELTA, -STRIPE_DELTA)}
    allowed |= {PILLAR_COLOR, OBJECT_COLORS["red"], OBJECT_COLORS["cyan"], trail_color(OBJECT_COLORS["red"])}
    seen = {tuple(int(v) for v in c) for c in np.unique(frames.reshape(-1, 3), axis=0)}
    assert seen <= allowed
    assert trail_color(OBJECT_COLORS["red"]) in seen and PILLAR_COLOR in seen


def test_pillar_is_drawn_in_front_and_hides_objects():
    spec = scene(("orange", "square", "small", "right", "fast"), pillar=True)
    frames, truth = render_scene(spec, 64, 64, 40, 8, seed=4)
    pillar = truth["pillar"]
    left = round(pillar["x"] - (pillar["width"] - 1) / 2)
    assert pillar["width"] == round(0.15 * 64)
    columns = frames[:, :, left:left + pillar["width"]]
    assert np.all(columns == np.asarray(PILLAR_COLOR, np.uint8))  # every frame, full height
    assert left == 0 or not color_mask(frames[:, :, left - 1], PILLAR_COLOR).all()
    obj = truth["objects"][0]
    hidden = [t for t, v in enumerate(obj["visible"]) if not v]
    assert hidden, "the object should pass behind the pillar in 5 s of bouncing"
    for t in hidden:  # its centre is behind the pillar
        assert left <= round(obj["x"][t]) < left + pillar["width"]


def test_paint_trail_persists_under_the_object():
    spec = scene(("yellow", "circle", "small", "bounce", "fast"), ("blue", "square", "small", "still", "slow"),
                 background="black", paint="yellow")
    frames, _ = render_scene(spec, 64, 64, 33, 8, seed=5)
    trail = np.stack([color_mask(f, trail_color(OBJECT_COLORS["yellow"])) for f in frames])  # (T, H, W)
    painted = trail | np.stack([color_mask(f, OBJECT_COLORS["yellow"]) for f in frames])
    assert trail[-1].sum() > 5 * trail[1].sum() > 0  # it grows
    # Once painted, a pixel stays painted (trail or the painter itself, or the still box drawn on top).
    box = np.stack([color_mask(f, OBJECT_COLORS["blue"]) for f in frames])
    for t in range(1, len(frames)):
        assert not (painted[t - 1] & ~painted[t] & ~box[t]).any()


def test_no_trail_without_paint():
    spec = scene(("yellow", "circle", "small", "bounce", "fast"), background="black")
    frames, _ = render_scene(spec, 64, 64, 17, 8, seed=5)
    assert not color_mask(frames, trail_color(OBJECT_COLORS["yellow"])).any()


@pytest.mark.parametrize("pan,direction", [("right", -1), ("left", 1)])
def test_pan_stripes_move_with_the_world(pan, direction):
    spec = scene(("red", "circle", "small", "still", "slow"), background="gray", pan=pan)
    fps, size = 8, 80
    frames, truth = render_scene(spec, size, size, 9, fps, seed=6)
    row0, row8 = frames[0, 0, :, 0].astype(int), frames[8, 0, :, 0].astype(int)  # top row, red channel
    assert set(np.unique(row0)) == {96 - 12, 96 + 12}
    shift = round(0.2 * 8 / fps * size)  # px the world moved on screen in 8 frames
    if direction > 0:  # camera pans left: the world moves right
        assert np.array_equal(row8[shift:], row0[:-shift])
    else:
        assert np.array_equal(row8[:-shift], row0[shift:])
    assert truth["objects"][0]["x"][8] - truth["objects"][0]["x"][0] == pytest.approx(direction * shift)


def test_static_camera_has_no_stripes():
    frames, _ = render_scene(scene(("red", "circle", "small", "still", "slow"), background="gray"), 64, 64, 3, 8)
    assert color_mask(frames, BACKGROUND_COLORS["gray"]).mean() > 0.9


def test_pong_draws_a_ball_and_two_paddles_in_white():
    frames, truth = render_scene(SceneSpec(objects=(), background="black", pong=True), 96, 54, 5, 8, seed=7)
    assert [o["shape"] for o in truth["objects"]] == ["ball", "paddle", "paddle"]
    white = color_mask(frames[0], OBJECT_COLORS["white"])
    assert white[:, :3].any() and white[:, -3:].any()  # paddles at both side walls
    paddle_px = white[:, :3].sum()
    assert paddle_px == pytest.approx(0.05 * 54 * 0.25 * 54, rel=0.5)


@pytest.mark.parametrize("size", [(16, 16), (17, 31), (31, 17), (16, 200), (200, 16), (33, 57)])
def test_any_size_from_16_px_and_one_frame(size):
    spec = scene(("red", "triangle", "large", "bounce", "fast"), ("white", "circle", "small", "fall", "slow"))
    frames, truth = render_scene(spec, *size, 1, 8, seed=8)
    assert frames.shape == (1, size[1], size[0], 3) and frames.dtype == np.uint8
    assert truth["num_frames"] == 1 and len(truth["objects"][0]["x"]) == 1
    for obj in truth["objects"]:  # both objects start fully inside the frame, so both are drawn
        assert color_mask(frames[0], OBJECT_COLORS[obj["color"]]).any()


@pytest.mark.parametrize("size", [(15, 64), (64, 15), (0, 64)])
def test_too_small_sizes_are_refused_with_the_size_and_the_minimum(size):
    with pytest.raises(ValueError, match=rf"{size[0]}x{size[1]}.*16"):
        render_scene(STILL_TRIO, *size, 5, 8)


def test_deterministic_for_a_seed_and_the_same_scene_at_any_resolution():
    spec = scene(("red", "circle", "small", "bounce", "fast"), ("blue", "square", "large", "left", "slow"))
    a, ta = render_scene(spec, 64, 36, 17, 8, seed=9)
    b, _ = render_scene(spec, 64, 36, 17, 8, seed=9)
    c, _ = render_scene(spec, 64, 36, 17, 8, seed=10)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    _, big = render_scene(spec, 256, 144, 17, 8, seed=9)
    for small_obj, big_obj in zip(ta["objects"], big["objects"], strict=True):  # index coords: (x + 0.5) scales
        assert np.allclose((np.array(small_obj["x"]) + 0.5) * 4, np.array(big_obj["x"]) + 0.5, atol=0.01)


def test_truth_has_the_interface_keys():
    _, truth = render_scene(scene(("red", "circle", "small", "right", "fast"), pillar=True, paint="red",
                                  pan="left"), 64, 64, 4, 8)
    assert set(truth) == {"width", "height", "fps", "num_frames", "background", "pillar", "paint", "pan", "pong",
                          "objects"}
    assert truth["paint"] == "red" and truth["pan"] == "left" and truth["pong"] is False
    assert set(truth["objects"][0]) == {"color", "shape", "size", "motion", "speed", "x", "y", "visible"}


def test_render_is_fast():
    spec = scene(("red", "circle", "large", "bounce", "fast"), ("cyan", "triangle", "small", "fall", "slow"),
                 ("green", "square", "small", "right", "fast"), pillar=True, paint="red", pan="left")
    render_scene(spec, 64, 64, 33, 8)
    start = time.perf_counter()
    for seed in range(5):
        render_scene(spec, 64, 64, 33, 8, seed=seed)
    per_video = (time.perf_counter() - start) / 5
    assert per_video < 0.25  # about 0.02 s alone; loose because the test machine is shared
