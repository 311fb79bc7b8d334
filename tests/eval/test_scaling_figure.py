"""bench/scaling_figure.py: every model samples the same prompts with the same seeds, and each cell of the
picture holds that model's frames of that prompt, under its compute label."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import tiny_model_folder

spec = importlib.util.spec_from_file_location("scaling_figure", Path(__file__).parents[2] / "bench" / "scaling_figure.py")
scaling_figure = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scaling_figure)

SIZE, FRAMES, STEPS = 32, 9, 2


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaling")
    return [tiny_model_folder(root / f"m{seed}", seed) for seed in (0, 1)]


def test_cells_are_each_models_video_of_the_rows_prompt_and_seed(models):
    prompts = ["a red ball moving left", "two balls on navy"]
    cells = scaling_figure.sample_cells(models, prompts, 5, SIZE, SIZE, FRAMES, STEPS, 3.0)
    assert [len(row) for row in cells] == [2, 2] and cells[0][0].shape == (FRAMES, SIZE, SIZE, 3)
    again = scaling_figure.sample_cells(models[:1], prompts[1:], 6, SIZE, SIZE, FRAMES, STEPS, 3.0)
    assert np.array_equal(again[0][0], cells[1][0])  # row 1 is seed 5 + 1: the same video when asked again
    assert not np.array_equal(cells[0][0], cells[0][1])  # the models differ, so their cells do
    figure, corners = scaling_figure.compose(cells, prompts, ["1x", "4x"], shown=3, scale=2)
    for (row, col), (y, x) in corners.items():
        frames = scaling_figure.shown_frames(cells[row][col], 3)
        assert len(frames) == 3 and np.array_equal(frames[0], cells[row][col][0])
        assert np.array_equal(frames[-1], cells[row][col][-1])
        for k, frame in enumerate(frames):  # each shown frame, enlarged 2x, where the corner says
            left = x + k * (2 * SIZE + scaling_figure.FRAME_GAP)
            assert np.array_equal(figure[y:y + 2 * SIZE, left:left + 2 * SIZE], frame.repeat(2, 0).repeat(2, 1))
    assert corners[(0, 0)][0] == corners[(0, 1)][0] < corners[(1, 0)][0]  # rows are prompts
    assert corners[(0, 0)][1] == corners[(1, 0)][1] < corners[(0, 1)][1]  # columns are models


def test_the_command_writes_the_picture_and_wants_two_to_four_models(models, tmp_path):
    out = tmp_path / "img" / "scaling.png"
    args = ["--model", f"{models[0]}=1x", "--model", f"{models[1]}=16x", "--prompt", "a blue box",
            "--size", f"{SIZE}x{SIZE}", "--frames", str(FRAMES), "--steps", str(STEPS), "--shown-frames", "2",
            "--scale", "1", "--out", str(out)]
    assert scaling_figure.main(args) == out
    width, height = Image.open(out).size
    cell = 2 * SIZE + scaling_figure.FRAME_GAP  # two shown frames at scale 1
    assert width == scaling_figure.LABEL_WIDTH + 2 * (cell + scaling_figure.GAP) and height > SIZE
    with pytest.raises(SystemExit):
        scaling_figure.main(["--model", f"{models[0]}=1x", "--out", str(out)])
    with pytest.raises(SystemExit, match="not a model folder"):
        scaling_figure.main(["--model", f"{tmp_path}=1x", "--model", f"{models[0]}=2x", "--out", str(out)])
