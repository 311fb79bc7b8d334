"""The committed models/world-tiny: it loads, is deterministic per seed, and its text conditioning works.

The world bench (docs/results.md) measures how well; these tests only pin down that the bundled weights
are the trained ones a fresh clone gets: a random or mis-saved DiT would paint the same mean colour
whatever the prompt says.
"""

from pathlib import Path

import numpy as np
import pytest

from patchflow.pipeline import Pipeline
from patchflow.world.palette import BACKGROUND_COLORS

MODEL = Path(__file__).resolve().parents[1] / "models" / "world-tiny"


@pytest.fixture(scope="module")
def pipe():
    assert (MODEL / "model_index.json").is_file(), "models/world-tiny is committed; run 'make world-model' to rebuild"
    return Pipeline.from_pretrained(MODEL)


def _border_colour(frame: np.ndarray) -> np.ndarray:
    """Median colour of the outer 4 pixels: the background, whatever the objects do."""
    border = np.concatenate([frame[:4].reshape(-1, 3), frame[-4:].reshape(-1, 3),
                             frame[:, :4].reshape(-1, 3), frame[:, -4:].reshape(-1, 3)])
    return np.median(border, axis=0)


@pytest.mark.parametrize("background", ["navy", "gray", "black", "dark green", "maroon"])
def test_the_background_follows_the_prompt(pipe, background):
    """Nearest world background to the generated border, over 3 seeds: the prompt's in most of them."""
    nearest = []
    for seed in range(3):
        frames = pipe(f"A red ball on {background}.", height=64, width=64, num_frames=1, generator=seed).frames[0]
        seen = _border_colour(frames[0]) * 255  # np output is float in [0, 1]
        dists = {name: np.abs(seen - np.array(rgb)).sum() for name, rgb in BACKGROUND_COLORS.items()}
        nearest.append(min(dists, key=dists.get))
    assert nearest.count(background) >= 2, nearest


def test_same_seed_same_video_and_native_aspects(pipe):
    a = pipe("a blue box moves right", height=48, width=80, num_frames=9, generator=3).frames
    b = pipe("a blue box moves right", height=48, width=80, num_frames=9, generator=3).frames
    assert a.shape == (1, 9, 48, 80, 3)
    np.testing.assert_array_equal(a, b)
    tall = pipe("a blue box moves right", height=80, width=48, num_frames=1, generator=3).frames
    assert tall.shape == (1, 1, 80, 48, 3)


def test_the_bundled_captioner_names_the_facts_of_held_out_clips():
    """models/world-tiny/captioner (re-captioning, docs/language.md) on 20 held-out world clips: >= 90 % of facts."""
    from patchflow.recipes import get_recipe
    from patchflow.text.captioner_eval import VAL_SEED_BASE, facts_right
    from patchflow.text.world_captioner import load_world_captioner

    captioner = load_world_captioner(MODEL)
    world = get_recipe("world_tiny").world
    report = facts_right(captioner.caption, 20, world.sizes, [1, 9, 17], world.fps, world.feature_prob,
                         first_seed=VAL_SEED_BASE)
    assert report.unparsed == 0 and report.rate >= 0.9, report.rows()
