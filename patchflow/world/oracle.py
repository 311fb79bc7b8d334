"""The world's ruler: judge a video against the facts its caption states.

`observe` (oracle_observe.py) reads pixels into per-frame measurements; this file
turns them into motions and judges each stated fact: pass, fail, or skipped when
the video cannot show it (the motion of a one-frame image, the shape of an object
never seen whole). The report also counts spontaneous appearances and
disappearances, the physics failures a world benchmark tracks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from patchflow.world.oracle_motion import (
    SPEED_SPLIT,
    Motion,
    camera_pan,
    estimate_motion,
    motion_matches,
    wall_reflections,
)
from patchflow.world.oracle_observe import (
    NEAR_PX,
    SHAPE_CANDIDATES,
    ColorTrack,
    Observation,
    observe,
    shape_scores,
)
from patchflow.world.scene import ObjectFacts, SceneFacts

SHAPE_FRAMES = 8  # clean frames whose pixels are matched against the shapes (more only costs time)
SHAPE_MARGIN = 0.03  # mean IoU by which the best shape must beat the best other shape


@dataclass
class ObjectSummary:
    color: str
    frames_present: int
    shape: str | None
    size: str | None
    motion: Motion


@dataclass
class FactResult:
    name: str
    passed: bool | None  # None: skipped, the video cannot show it
    detail: str


@dataclass
class ScoreReport:
    facts: list[FactResult]  # judged facts
    skipped: list[FactResult] = field(default_factory=list)
    appearances: int = 0  # objects popping in mid-video away from the pillar and frame edges
    disappearances: int = 0  # objects vanishing mid-video away from the pillar and frame edges
    extra_objects: list[str] = field(default_factory=list)  # colours seen that no stated object explains
    objects: list[ObjectSummary] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        """Share of judged facts that pass; NaN when nothing could be judged."""
        if not self.facts:
            return float("nan")
        return sum(f.passed for f in self.facts) / len(self.facts)

    def to_dict(self) -> dict:
        rate = self.pass_rate
        return {
            "pass_rate": None if math.isnan(rate) else rate,
            "passed": sum(f.passed for f in self.facts),
            "judged": len(self.facts),
            "facts": [asdict(f) for f in self.facts],
            "skipped": [asdict(f) for f in self.skipped],
            "appearances": self.appearances,
            "disappearances": self.disappearances,
            "extra_objects": list(self.extra_objects),
            "objects": [_summary_dict(o) for o in self.objects],
        }


def _summary_dict(o: ObjectSummary) -> dict:
    m = o.motion
    def num(v):
        return None if math.isnan(v) else round(v, 4)
    return {"color": o.color, "frames_present": o.frames_present, "shape": o.shape, "size": o.size,
            "motion": m.kind, "vx": num(m.vx), "vy": num(m.vy), "ay": num(m.ay), "motion_frames": m.frames}


def spontaneous_events(obs: Observation) -> tuple[int, int]:
    """(appearances, disappearances) of objects mid-video, away from the pillar, the frame edges and
    other objects: what object permanence forbids (behind the pillar, out of view, or under another
    object, whose square corners reach past the circle the physics collides, are the ways to go)."""
    appear = vanish = 0
    for track in obs.tracks.values():
        p, explained = track.present, track.at_pillar | track.at_edge | (track.gap_other <= NEAR_PX)
        appear += int((p[1:] & ~p[:-1] & ~explained[1:]).sum())
        vanish += int((p[:-1] & ~p[1:] & ~explained[:-1]).sum())
    return appear, vanish


def is_object(track: ColorTrack, num_frames: int) -> bool:
    """A colour seen long enough to be an object (3 frames running), not a blend artefact or a flicker."""
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], track.present.astype(int), [0]]))))[::2]
    return int(runs.max()) >= min(3, num_frames)


def object_shape(track: ColorTrack, obs: Observation, frames: np.ndarray | None = None):
    """(shape, size) that best explains the object's pixels where it is seen whole: (None, None) if
    never seen whole, shape None when two shapes explain it equally (a 4x4 block is a small circle
    or a small square at 32 px)."""
    ok = track.clean() if frames is None else track.clean() & frames
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return None, None
    idx = idx[np.linspace(0, len(idx) - 1, min(len(idx), SHAPE_FRAMES)).round().astype(int)]
    total = 0.0
    for k in idx:
        x0, y0, pixels = track.masks[k]
        total = total + shape_scores(pixels, x0, y0, track.cx[k], track.cy[k], obs.short_side)
    order = np.argsort(-total)
    shape, size = SHAPE_CANDIDATES[order[0]]
    rival = next(i for i in order[1:] if SHAPE_CANDIDATES[i][0] != shape)
    if total[order[0]] - total[rival] < SHAPE_MARGIN * len(idx):
        return None, size
    return shape, size


def summarize(track: ColorTrack, obs: Observation) -> ObjectSummary:
    shape, size = object_shape(track, obs)
    return ObjectSummary(track.color, int(track.present.sum()), shape, size, estimate_motion(track, obs))


class _Judge:
    """Collects fact results: `check` for a judged fact, `skip` for one the video cannot show."""

    def __init__(self):
        self.facts: list[FactResult] = []
        self.skipped: list[FactResult] = []

    def check(self, name: str, passed: bool, detail: str) -> None:
        self.facts.append(FactResult(name, bool(passed), detail))

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(FactResult(name, None, reason))


def _match_objects(stated: tuple[ObjectFacts, ...], summaries: dict[str, ObjectSummary]):
    """Pair each stated object with an observed one: by colour, else by the best-agreeing free one."""
    free = dict(summaries)
    pairs = [(o, free.pop(o.color, None)) for o in stated if o.color]
    for o in (o for o in stated if not o.color):
        def agreement(s: ObjectSummary, o=o) -> tuple:
            said = [(o.shape, s.shape), (o.size, s.size), (o.motion, s.motion.kind)]
            return sum(a == b for a, b in said if a), s.frames_present
        best = max(free.values(), key=agreement, default=None)
        if best is not None:
            free.pop(best.color)
        pairs.append((o, best))
    return pairs, sorted(free)


def _judge_object(j: _Judge, name: str, o: ObjectFacts, s: ObjectSummary | None, track, obs) -> None:
    if o.color:
        j.check(f"{name}.color", s is not None, "seen" if s else f"no {o.color} object in the video")
    elif s is None:
        j.check(f"{name}.present", False, "no object left to match it")
    if s is None:
        for attr in ("shape", "size", "motion", "speed"):
            if getattr(o, attr):
                j.skip(f"{name}.{attr}", "object not seen")
        return
    for attr, seen in (("shape", s.shape), ("size", s.size)):
        if getattr(o, attr):
            if seen is None:
                why = "too few pixels to tell the shapes apart" if s.size else "never seen whole"
                j.skip(f"{name}.{attr}", why)
            else:
                j.check(f"{name}.{attr}", seen == getattr(o, attr), f"stated {getattr(o, attr)}, seen {seen}")
    m = s.motion
    motion_detail = f"vx={m.vx:+.3f} vy={m.vy:+.3f} ay={m.ay:+.2f} short-sides/s over {m.frames} frames"
    if o.motion:
        if m.kind is None:
            j.skip(f"{name}.motion", "fewer than two frames show it alone")
        else:
            j.check(f"{name}.motion", motion_matches(o.motion, m),
                    f"stated {o.motion}, seen {m.kind} ({motion_detail})")
    moving = (o.motion or m.kind) in ("left", "right", "up", "down", "bounce")
    if o.speed and moving and m.kind is not None and m.kind != "still":
        if m.frames == 2 and m.started_at:
            j.skip(f"{name}.speed", "its one step may include a bounce off the wall it started at")
        else:
            seen = "fast" if m.step_speed > SPEED_SPLIT else "slow"
            j.check(f"{name}.speed", seen == o.speed,
                    f"stated {o.speed}, seen {seen} ({m.step_speed:.3f} short-sides/s)")
    if o.motion and o.motion != "still":
        ok, fail = wall_reflections(track, obs, falls=o.motion == "fall")
        if ok + fail:
            j.check(f"{name}.walls", fail == 0, f"{ok} reflections, {fail} failures at the walls")
        else:
            j.skip(f"{name}.walls", "no wall contact with frames on both sides")


def _judge_permanence(j: _Judge, obs: Observation, appear: int, vanish: int) -> None:
    """Objects that pass the pillar come out as they went in; none pops in or out elsewhere."""
    passed_pillar = [t for t in obs.tracks.values() if is_object(t, obs.num_frames) and t.at_pillar.any()]
    if not passed_pillar and appear == vanish == 0:
        j.skip("permanence", "no object reached the pillar")
        return
    changed = []
    for t in passed_pillar:
        behind = np.flatnonzero(t.at_pillar)
        before = object_shape(t, obs, np.arange(obs.num_frames) < behind[0])
        after = object_shape(t, obs, np.arange(obs.num_frames) > behind[-1])
        if None not in before and None not in after and before != after:
            changed.append(f"{t.color} went in a {' '.join(before)} and came out a {' '.join(after)}")
    detail = f"{appear} appearances, {vanish} disappearances away from the pillar and edges"
    j.check("permanence", appear == vanish == 0 and not changed, "; ".join([detail, *changed]))


def _judge_paint(j: _Judge, obs: Observation, color: str, summary: ObjectSummary | None) -> None:
    """The painter leaves a trail of its colour at half value that stays for the rest of the video."""
    track = obs.tracks.get(color)
    if track is None or obs.num_frames < 2:
        j.skip("paint", "painter not seen" if track is None else "one frame shows no trail")
        return
    trail = track.trail.astype(float)
    moved = np.nanmax(np.hypot(track.cx - track.cx[track.present][0], track.cy - track.cy[track.present][0]))
    if moved < 0.7 * math.sqrt(np.nanmedian(track.area)):
        j.skip("paint", "the painter has not moved off its own footprint yet")
        return
    if trail.max() < 0.3 * np.nanmedian(track.area):
        moving = summary is not None and summary.motion.kind not in (None, "still")
        if moving:
            j.check("paint", False, f"no {color} trail ({int(trail.max())} px)")
        else:
            j.skip("paint", "the painter does not move, its trail stays under it")
        return
    # Persistent: what was painted stays, frame after frame (moving with the world under a pan).
    kept = track.trail_kept
    if math.isnan(kept):  # the trail shows up in the last frame only: it is there, staying is unseen
        j.check("paint", True, f"trail of {int(trail.max())} px in the last frame")
        return
    j.check("paint", kept >= 0.9, f"trail of {int(trail.max())} px at most; {kept:.0%} of it stays a frame later")


def _judge_pong(j: _Judge, obs: Observation) -> None:
    ball, paddles = obs.pong_ball, obs.paddles
    paddle_share = 0.0 if paddles is None else float(paddles.all(axis=1).mean())
    j.check("pong.paddles", paddle_share >= 0.8, f"both paddles in {paddle_share:.0%} of frames")
    ball_share = 0.0 if ball is None else float(ball.present.mean())
    j.check("pong.ball", ball_share >= 0.5, f"ball in {ball_share:.0%} of frames")
    if ball is None or obs.num_frames < 3:
        j.skip("pong.bounce", "no ball" if ball is None else "too few frames")
        return
    x, y = ball.cx, ball.cy
    vx, vy = np.diff(x), np.diff(y)  # NaN where the ball is missing in either frame
    turns = 0
    for v in (vx, vy):
        v = v[~np.isnan(v) & (np.abs(v) > 0.2)]
        turns += int((np.sign(v[1:]) != np.sign(v[:-1])).sum())
    if turns:
        j.check("pong.bounce", True, f"{turns} reversals of the ball's velocity")
    elif ball.at_edge.any() or not ball.present[-1]:
        j.check("pong.bounce", False, "the ball reached a wall or paddle and did not turn")
    else:
        j.skip("pong.bounce", "the ball reached no wall or paddle in the video")


def may_hide(o: ObjectFacts, obs: Observation) -> bool:
    """Whether a stated object could stay behind the pillar for the whole video: it fits behind it
    (small: as wide as the pillar) and does not move sideways (or the video is too short to tell)."""
    return (obs.has_pillar and o.size != "large"
            and (o.motion not in ("left", "right", "bounce") or obs.num_frames <= 2))


def score_observation(obs: Observation, facts: SceneFacts) -> ScoreReport:
    j = _Judge()
    appear, vanish = spontaneous_events(obs)
    if facts.background:
        j.check("background", obs.background == facts.background,
                f"stated {facts.background}, seen {obs.background} ({obs.background_share:.0%} of pixels)")
    if facts.pong:
        _judge_pong(j, obs)
        return ScoreReport(j.facts, j.skipped, appear, vanish)
    summaries = {c: summarize(t, obs) for c, t in obs.tracks.items() if is_object(t, obs.num_frames)}
    pairs, extra = _match_objects(facts.objects, summaries)
    hidden = [o for o, s in pairs if s is None and may_hide(o, obs)]
    if facts.count is not None or facts.objects:
        expected = max(len(facts.objects), facts.count or 0)
        detail = f"stated {expected}, seen {len(summaries)} ({', '.join(sorted(summaries)) or 'none'})"
        if hidden and len(summaries) < expected:
            j.skip("count", detail + "; the pillar may hide the rest")
        else:
            j.check("count", len(summaries) == expected, detail)
    for i, (o, s) in enumerate(pairs):
        name = f"object[{o.color}]" if o.color else f"object[#{i}]"
        if s is None and any(o is h for h in hidden):
            j.skip(f"{name}.color", "not seen, but it may stay behind the pillar all along")
            continue
        _judge_object(j, name, o, s, obs.tracks.get(s.color) if s else None, obs)
    if facts.pillar is not None:
        j.check("pillar", obs.has_pillar == facts.pillar, f"stated {facts.pillar}, seen {obs.has_pillar}")
    if facts.pillar:
        _judge_permanence(j, obs, appear, vanish)
    if facts.paint:
        _judge_paint(j, obs, facts.paint, summaries.get(facts.paint))
    if facts.pan:
        seen = camera_pan(obs)
        if seen is None:
            j.skip("pan", "one frame shows no camera motion")
        else:
            j.check("pan", seen == facts.pan, f"stated {facts.pan}, seen {seen}")
    return ScoreReport(j.facts, j.skipped, appear, vanish, extra, list(summaries.values()))


def score(frames: np.ndarray, facts: SceneFacts, fps: float) -> ScoreReport:
    """Judge (T, H, W, 3) uint8 frames against the facts a caption states."""
    return score_observation(observe(frames, fps), facts)


def score_video(path: str | Path, caption: str) -> ScoreReport:
    """Read a video (or an image) and judge it against a caption."""
    from patchflow.media import read_video
    from patchflow.world.parser import parse_caption

    frames, fps = read_video(path)
    return score(frames, parse_caption(caption), fps or 8.0)


__all__ = [
    "observe", "score", "score_video", "score_observation", "facts_of", "estimate_motion", "camera_pan",
    "Observation", "ScoreReport", "FactResult", "Motion", "ObjectSummary",
]


def facts_of(spec) -> SceneFacts:
    """Everything a complete SceneSpec states, as SceneFacts (what a full caption says)."""
    if spec.pong:
        return SceneFacts(background=spec.background, pong=True)
    objects = tuple(ObjectFacts(o.color, o.shape, o.size, o.motion, o.speed) for o in spec.objects)
    return SceneFacts(objects=objects, background=spec.background, pillar=spec.pillar, paint=spec.paint,
                      pan=spec.pan or "static", count=len(objects))
