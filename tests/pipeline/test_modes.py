"""The mode table: every row works through `pipe(mode=...)`, the command line and the demo find their rows
from it, and the docs show a real row."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from patchflow import demo
from patchflow.commands import generate
from patchflow.pipeline import modes, to_uint8

KW = dict(height=32, width=32, num_inference_steps=2, guidance_scale=2.0, generator=0)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "generate.md"


@pytest.fixture(scope="module")
def clips(world_video_file, second_video_file, image_file):
    return {"a": world_video_file[1], "b": second_video_file[1], "image": image_file[1]}


# One case per row: (inputs, frame count, strength, expected output length, input frames kept as they are).
# Lengths follow docs/generate.md (debug model: r_t = 4), not the code under test.
CASES = {
    "text-to-video": ((), 9, None, 9, {}),
    "text-to-image": ((), 1, None, 1, {}),
    "image-to-video": (("image",), 9, None, 9, {}),
    "loop": (("image",), 9, None, 9, {}),
    "loop (video)": (("b",), 4, None, 9 + 4, {"b": slice(0, 9)}),
    "extend forward": (("b",), 4, None, 9 + 4, {"b": slice(0, 9)}),
    "extend backward": (("b",), 5, None, 5 + 9, {"b": slice(5, 14)}),
    "video-to-video": (("a",), 0, 0.5, 17, {}),
    "connect": (("a", "b"), 4, None, 17 + 4 + 9, {"a": slice(0, 17), "b": slice(21, 30)}),
}


def test_every_row_has_a_case():
    assert set(CASES) == set(modes.MODES)


@pytest.mark.parametrize("name", list(CASES))
def test_a_mode_returns_its_whole_output(pipe, clips, name):
    inputs, frames, strength, length, kept = CASES[name]
    out = pipe("a red ball moves right", mode=name, media=[clips[k] for k in inputs], num_frames=frames,
               strength=strength, **KW)
    video = to_uint8(out.frames[0])
    assert video.shape == (length, 32, 32, 3) and out.num_frames == length
    for key, where in kept.items():
        assert np.array_equal(video[where], clips[key]), f"{key} is not kept at {where}"


def test_a_mode_gives_what_its_plan_and_the_keywords_give(pipe, clips):
    """pipe(mode=) == the preset's plan run through keyword conditions and assembled by hand (the old way)."""
    video = to_uint8(pipe("x", mode="extend backward", media=[clips["b"]], num_frames=5, **KW).frames[0])
    plan = modes.extend_backward(clips["b"], 5, pipe.temporal_factor, pipe.config.sample.context_latents)
    generated = pipe("x", num_frames=plan.num_frames, conditions=plan.conditions, **KW).frames[0]
    assert np.array_equal(video, plan.assemble(to_uint8(generated)))
    again = to_uint8(pipe("x", plan=pipe.plan_for("extend backward", [clips["b"]], 5, 32, 32), **KW).frames[0])
    assert np.array_equal(again, video)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="sideways"), "unknown mode 'sideways'; known modes: text-to-video"),
        (dict(mode="connect", media=[np.zeros((9, 32, 32, 3), np.uint8)]), "connect takes video and video"),
        (dict(mode="video-to-video", media=[np.zeros((9, 32, 32, 3), np.uint8)]), "needs a strength"),
        (dict(mode="text-to-video", strength=0.5), "takes no strength"),
        (dict(mode="text-to-video", image=np.zeros((32, 32, 3), np.uint8)), "image= does not combine"),
        (dict(mode="text-to-video", plan=modes.Plan(9)), "not both"),
        (dict(media=[np.zeros((9, 32, 32, 3), np.uint8)]), "pass mode= with it"),
        (dict(mode="extend forward", media=[np.zeros((9, 32, 32, 3), np.uint8)], num_frames=4,
              output_type="latent"), "output_type='latent'"),
    ],
)
def test_clear_errors(pipe, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pipe("x", height=32, width=32, **kwargs)


def test_every_row_is_found_again_from_its_command_line_options():
    for mode in modes.MODES.values():
        rows = generate._modes_for(mode.media, mode.flags, mode.strength)
        assert mode in rows
        # rows that share options differ in a fixed frame count (text-to-image at 1 frame)
        assert len({m.frames for m in rows}) == len(rows), [m.name for m in rows]


def test_demo_command_lines_choose_the_demo_modes(tmp_path):
    for item in demo.ITEMS:
        files = [tmp_path / f"in_{k}{'.png' if m.frames == 1 else '.mp4'}" for k, m in enumerate(item.inputs)]
        args = shlex.split(demo.command_line(item, files, tmp_path / "out.mp4", None, 0, tmp_path))
        kinds = tuple(a[2:] for a in args if a in ("--image", "--video"))
        switches = tuple(a for i, a in enumerate(args) if a == "--loop" or args[i - 1] == "--extend"
                         or a == "--extend")
        frames = int(args[args.index("--frames") + 1]) if "--frames" in args else None
        rows = generate._modes_for(kinds, switches, "--strength" in args)
        chosen = next((m for m in rows if m.frames == frames), next(m for m in rows if m.frames is None))
        assert chosen.name == item.mode, (item.name, args)


def test_the_docs_show_a_real_row():
    section = DOCS.read_text().split("## Adding a mode", 1)[1]
    row = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    source = Path(modes.__file__).read_text()
    assert row.strip() and row in source, row
