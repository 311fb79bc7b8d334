"""Real media files for the data tests, written once per session.

Frame i of every clip is a flat gray of level `index_level(i)` with a red marker in its top-left
quarter, so a decoded frame says which source frame it was (its median) and which way is up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from data_media import indexed_frames

from patchflow.media import write_image, write_video


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A folder of good and bad media: see EXPECTED_GOOD / EXPECTED_BAD."""
    root = tmp_path_factory.mktemp("media")
    landscape = indexed_frames(17, 32, 64)  # 64x32 (W x H), 16 fps: 1 s
    write_video(root / "land_64x32.mp4", landscape, fps=16)
    (root / "land_64x32.txt").write_text("a landscape clip\n")
    write_video(root / "tall_32x64.mp4", indexed_frames(17, 64, 32), fps=16)
    write_video(root / "square_48x48.mp4", indexed_frames(9, 48, 48), fps=8)
    write_video(root / "sub" / "land_vp9.webm", landscape, fps=16, codec="libvpx-vp9")
    write_video(root / "sub" / "land_mpeg4.mkv", landscape, fps=16, codec="mpeg4")
    write_video(root / "rotated.mp4", landscape, fps=16, rotation=90)
    write_image(root / "images" / "sq_40.png", indexed_frames(1, 40, 40)[0])
    write_image(root / "images" / "wide_64x36.jpg", indexed_frames(1, 36, 64)[0])
    write_image(root / "images" / "tall_36x64.webp", indexed_frames(1, 64, 36)[0])
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    whole = (root / "land_64x32.mp4").read_bytes()
    (bad / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (bad / "text.mp4").write_text("this is not a video\n" * 20)
    return root
