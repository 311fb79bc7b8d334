"""The bench's contact sheets explain their own numbers: each sample's strip carries its prompt, the facts
that held (green) and the facts that failed (red); the bar shows the time left."""

import numpy as np
from PIL import Image
from rich.progress import TimeRemainingColumn

from patchflow.eval.world_bench import (
    FAIL_INK,
    PASS_INK,
    bench_progress,
    label_block,
    run_world_bench,
    truth_generator,
)
from patchflow.eval.world_prompts import select
from patchflow.media import contact_sheet


def inked(block: np.ndarray, ink) -> int:
    """Pixels of one ink colour (text is antialiased: count those close to it)."""
    return int((np.abs(block.astype(int) - np.array(ink)).max(axis=-1) < 40).sum())


def test_each_sample_is_labelled_with_its_prompt_and_facts(tmp_path):
    truth = truth_generator()
    prompts = select(2, categories=("color",))

    def half_wrong(prompt, width, height, num_frames, fps, seed):  # the second prompt gets a blank video
        frames = truth(prompt, width, height, num_frames, fps, seed)
        return frames if prompt == prompts[0].text else np.zeros_like(frames)

    result = run_world_bench(half_wrong, 2, tmp_path, categories=("color",), progress=False)
    good, bad = result.samples
    assert good.failed == [] and bad.failed
    with Image.open(tmp_path / "sheets" / "color.png") as picture:
        sheet = np.asarray(picture.convert("RGB"))
    frames = [truth(p.text, p.width, p.height, p.num_frames, p.fps, p.seed_offset) for p in prompts]
    strips = [contact_sheet(f, max_frames=8, cols=8, max_side=96).shape[0] for f in frames]  # as the bench cuts
    # under the first (right) strip, its first two lines: the prompt in dark ink, then green passed facts
    label = sheet[strips[0]:strips[0] + 34]
    assert inked(label, PASS_INK) > 20 and inked(label, FAIL_INK) == 0 and (label < 60).all(axis=-1).sum() > 20
    # the sheet ends with the second (blank) sample's label: its failed facts in red
    assert inked(sheet[-30:], FAIL_INK) > 20
    assert sheet.shape[0] > sum(strips) + 2 * 2 * 12  # at least two text lines under each strip


def test_labels_wrap_to_the_sheet_width_and_draw_different_text_differently():
    short = label_block([("a red ball", (20, 20, 20))], 200)
    long = label_block([("a red ball bouncing around " * 8, (20, 20, 20))], 200)
    assert short.shape[1] == long.shape[1] == 200 and long.shape[0] > 3 * short.shape[0] // 2
    other = label_block([("a blue box", (20, 20, 20))], 200)
    assert short.shape == other.shape and not np.array_equal(short, other)
    assert (short < 128).any()  # ink on the paper


def test_the_bench_bar_shows_time_left():
    assert any(isinstance(c, TimeRemainingColumn) for c in bench_progress(show=False).columns)
