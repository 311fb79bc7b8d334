"""Physics of the world: motions, bounces, gravity, collisions, pong, pan (shared/WORLD.md)."""

import math
import random

import numpy as np
import pytest

from patchflow.world.physics import PADDLE_MAX_SPEED, collide, make_body, simulate, step
from patchflow.world.scene import FALL_RESTITUTION, GRAVITY, PAN_SPEED, SPEED_VALUE, ObjectSpec, SceneSpec


def scene(*objects, **features) -> SceneSpec:
    return SceneSpec(objects=tuple(ObjectSpec(*o) for o in objects), background="black", **features)


def test_still_objects_never_move():
    spec = scene(("red", "circle", "large", "still", "fast"), ("blue", "triangle", "small", "still", "slow"))
    traj = simulate(spec, 64, 48, 40, 8, random.Random(0))
    assert np.all(traj.x == traj.x[0]) and np.all(traj.y == traj.y[0])


@pytest.mark.parametrize("motion,axis,sign", [("right", "x", 1), ("left", "x", -1), ("down", "y", 1), ("up", "y", -1)])
def test_axis_motion_has_its_speed_and_reflects_at_the_walls(motion, axis, sign):
    fps = 8
    spec = scene(("red", "square", "small", motion, "fast"))
    traj = simulate(spec, 64, 64, 120, fps, random.Random(1))
    along = (traj.x if axis == "x" else traj.y)[:, 0]
    across = (traj.y if axis == "x" else traj.x)[:, 0]
    assert np.all(across == across[0])  # no drift off the axis
    step_len = SPEED_VALUE["fast"] / fps
    d = np.diff(along)
    # The first step goes the named way at the named speed.
    assert d[0] == pytest.approx(sign * step_len, abs=1e-9)
    # Every frame moves the full speed, except frames that contain a wall bounce.
    assert np.mean(np.isclose(np.abs(d), step_len, atol=1e-9)) > 0.8
    # Both directions happen (it bounced), and it never leaves the frame.
    assert (d > 0).any() and (d < 0).any()
    half = 0.15 / 2
    assert along.min() >= half - 1e-9 and along.max() <= 1 - half + 1e-9


def test_diagonal_bounce_keeps_speed_and_stays_inside_a_wide_frame():
    spec = scene(("green", "circle", "large", "bounce", "slow"))
    traj = simulate(spec, 96, 54, 400, 8, random.Random(2))  # 50 s: many bounces off all four walls
    dx, dy = np.diff(traj.x[:, 0]), np.diff(traj.y[:, 0])
    free = np.isclose(np.abs(dx), np.abs(dy))  # frames without a bounce move along a diagonal
    assert free.mean() > 0.8
    assert np.hypot(dx, dy)[free] == pytest.approx(SPEED_VALUE["slow"] / 8, rel=1e-6)
    assert {np.sign(v) for v in dx} >= {-1, 1} and {np.sign(v) for v in dy} >= {-1, 1}
    r = 0.15
    assert traj.x.min() >= r - 1e-9 and traj.x.max() <= 96 / 54 - r + 1e-9
    assert traj.y.min() >= r - 1e-9 and traj.y.max() <= 1 - r + 1e-9


def test_fall_starts_at_rest_accelerates_and_bounces_lower_by_restitution():
    fps = 240
    spec = scene(("yellow", "circle", "small", "fall", "slow"))
    traj = simulate(spec, 64, 128, 5 * fps, fps, random.Random(3))  # tall frame: a long fall
    y = traj.y[:, 0]
    assert np.all(traj.x[:, 0] == traj.x[0, 0])
    # Starts at rest and accelerates by g: second differences are g / fps^2 while falling.
    assert y[1] - y[0] < 3 * GRAVITY / fps**2
    accel = np.diff(y, 2)[:20] * fps**2
    assert accel == pytest.approx(np.full(20, GRAVITY), rel=0.02)
    floor = 2.0 - 0.075
    assert y.max() <= floor + 1e-9
    height_above_floor = floor - y
    apexes = [height_above_floor[i] for i in range(1, len(y) - 1)
              if height_above_floor[i] > height_above_floor[i - 1] and height_above_floor[i] >= height_above_floor[i + 1]
              and height_above_floor[i] > 0.01]
    drops = [height_above_floor[0], *apexes]
    assert len(drops) >= 3
    ratios = np.array(drops[1:]) / np.array(drops[:-1])
    # Bounce height scales with speed squared: each bounce is restitution^2 as high.
    assert ratios == pytest.approx(np.full(len(ratios), FALL_RESTITUTION**2), abs=0.03)


def test_equal_mass_collisions_conserve_momentum_and_energy():
    rng = random.Random(4)
    for _ in range(200):
        a, b = make_body("red", "circle", "large", "bounce", "fast"), make_body("blue", "square", "small", "right", "fast")
        a.x, a.y = 0.5, 0.5
        angle = rng.uniform(0, 2 * math.pi)
        b.x, b.y = 0.5 + 0.2 * math.cos(angle), 0.5 + 0.2 * math.sin(angle)  # overlapping (radii 0.15 + 0.075)
        a.vx, a.vy, b.vx, b.vy = (rng.uniform(-1, 1) for _ in range(4))
        p0 = (a.vx + b.vx, a.vy + b.vy)
        e0 = a.vx**2 + a.vy**2 + b.vx**2 + b.vy**2
        approaching = (a.vx - b.vx) * (b.x - a.x) + (a.vy - b.vy) * (b.y - a.y) > 0
        va = (a.vx, a.vy)
        collide(a, b)
        assert (a.vx + b.vx, a.vy + b.vy) == pytest.approx(p0, abs=1e-12)
        assert a.vx**2 + a.vy**2 + b.vx**2 + b.vy**2 == pytest.approx(e0, rel=1e-12)
        assert ((a.vx, a.vy) != va) == approaching  # only bodies closing in exchange momentum
        assert math.dist((a.x, a.y), (b.x, b.y)) == pytest.approx(a.radius + b.radius)  # pushed apart


def test_head_on_collision_swaps_velocities():
    a, b = make_body("red", "circle", "small", "right", "fast"), make_body("blue", "circle", "small", "left", "fast")
    a.x, a.y, a.vx = 0.4, 0.5, 0.6
    b.x, b.y, b.vx = 0.6, 0.5, -0.6
    for _ in range(60):
        step([a, b], False, 1.0, 1.0, 1 / 240)
    assert a.vx == pytest.approx(-0.6) and b.vx == pytest.approx(0.6)
    assert a.x < b.x


def test_still_objects_are_immovable_obstacles():
    mover, rock = make_body("red", "circle", "small", "right", "fast"), make_body("blue", "square", "large", "still", "slow")
    mover.x, mover.y, mover.vx = 0.2, 0.5, 0.6
    rock.x, rock.y = 0.6, 0.5
    for _ in range(120):
        step([mover, rock], False, 1.0, 1.0, 1 / 240)
    assert (rock.x, rock.y) == (0.6, 0.5)
    assert mover.vx == pytest.approx(-0.6)


@pytest.mark.parametrize("size", [(64, 64), (96, 54), (54, 96), (16, 200)])
def test_placement_is_inside_the_frame_and_without_overlap(size):
    rng = random.Random(5)
    objects = [("red", "triangle", "large", "still", "slow"), ("blue", "circle", "large", "still", "slow"),
               ("green", "square", "large", "fall", "slow")]
    for seed in range(30):
        traj = simulate(scene(*objects), *size, 1, 8, random.Random(seed + rng.randrange(100)))
        for k, b in enumerate(traj.bodies):
            x, y = traj.x[0, k], traj.y[0, k]
            assert b.w / 2 <= x <= traj.width - b.w / 2 and b.up <= y <= traj.height - b.down
        for i in range(3):
            for j in range(i + 1, 3):
                assert math.dist((traj.x[0, i], traj.y[0, i]), (traj.x[0, j], traj.y[0, j])) > 0.3


def test_no_tunnelling_at_one_frame_per_second():
    spec = scene(("red", "circle", "small", "bounce", "fast"), ("blue", "square", "small", "fall", "slow"),
                 ("green", "triangle", "small", "left", "fast"))
    traj = simulate(spec, 48, 32, 30, 1, random.Random(6))
    for k, b in enumerate(traj.bodies):
        assert traj.x[:, k].min() >= b.w / 2 - 1e-9 and traj.x[:, k].max() <= traj.width - b.w / 2 + 1e-9
        assert traj.y[:, k].min() >= b.up - 1e-9 and traj.y[:, k].max() <= traj.height - b.down + 1e-9


def test_simulation_is_deterministic_for_a_seed():
    spec = scene(("red", "circle", "small", "bounce", "fast"), ("blue", "square", "large", "fall", "slow"))
    a, b = (simulate(spec, 64, 64, 30, 8, random.Random(7)) for _ in range(2))
    c = simulate(spec, 64, 64, 30, 8, random.Random(8))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_pong_paddles_track_the_ball_at_a_capped_speed():
    fps = 8
    traj = simulate(SceneSpec(objects=(), background="gray", pong=True), 96, 54, 200, fps, random.Random(9))
    ball, left, right = traj.bodies
    assert (ball.shape, left.shape, right.shape) == ("ball", "paddle", "paddle")
    assert traj.x[:, 1] == pytest.approx(0.025) and traj.x[:, 2] == pytest.approx(96 / 54 - 0.025)
    assert np.abs(np.diff(traj.y[:, 1:], axis=0)).max() <= PADDLE_MAX_SPEED / fps + 1e-9
    assert traj.y[:, 0].min() >= 0.075 - 1e-9 and traj.y[:, 0].max() <= 1 - 0.075 + 1e-9
    # The ball turns around at both sides, and paddles follow its height (correlated motion).
    vx = np.sign(np.diff(traj.x[:, 0]))
    assert (vx > 0).any() and (vx < 0).any()
    assert np.corrcoef(traj.y[:, 0], traj.y[:, 1])[0, 1] > 0.5


@pytest.mark.parametrize("pan,sign", [("left", -1), ("right", 1), (None, 0)])
def test_camera_pans_at_its_speed(pan, sign):
    traj = simulate(scene(("red", "circle", "small", "still", "slow"), pan=pan), 64, 64, 17, 8, random.Random(0))
    assert traj.camera_x == pytest.approx(sign * PAN_SPEED * np.arange(17) / 8)
