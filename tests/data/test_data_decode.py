"""Decoded clips: shape, range, frame rate by timestamps, seeking, rotation, center crop."""

import numpy as np
import pytest
import torch
from data_media import frame_index

from patchflow.data.decode import decode_clip, resize_center_crop
from patchflow.media import MediaError, to_frames


def indices(clip):
    return [frame_index(f) for f in to_frames(clip)]


@pytest.mark.parametrize("name", ["land_64x32.mp4", "sub/land_vp9.webm", "sub/land_mpeg4.mkv"])
def test_16_fps_source_at_8_fps_takes_every_other_frame(media_dir, name):
    clip = decode_clip(media_dir / name, num_frames=9, fps=8.0, height=32, width=64)
    assert clip.shape == (3, 9, 32, 64) and clip.dtype == torch.float32
    assert clip.min() >= -1.0 and clip.max() <= 1.0
    assert indices(clip) == [0, 2, 4, 6, 8, 10, 12, 14, 16]


def test_start_seeks_into_the_video(media_dir):
    clip = decode_clip(media_dir / "land_64x32.mp4", num_frames=5, fps=8.0, height=32, width=64, start_s=0.5)
    assert indices(clip) == [8, 10, 12, 14, 16]
    same_rate = decode_clip(media_dir / "land_64x32.mp4", num_frames=4, fps=16.0, height=32, width=64, start_s=0.25)
    assert indices(same_rate) == [4, 5, 6, 7]


def test_slower_source_repeats_frames(media_dir):
    clip = decode_clip(media_dir / "square_48x48.mp4", num_frames=9, fps=16.0, height=48, width=48)
    assert indices(clip) == [0, 0, 1, 1, 2, 2, 3, 3, 4]  # 8 fps source, 16 fps clip: nearest frame by time


def test_a_clip_past_the_end_fails_clearly(media_dir):
    with pytest.raises(MediaError, match="ends after"):
        decode_clip(media_dir / "land_64x32.mp4", num_frames=33, fps=8.0, height=32, width=64)


def test_rotation_is_applied(media_dir):
    clip = decode_clip(media_dir / "rotated.mp4", num_frames=3, fps=8.0, height=64, width=32)
    frames = to_frames(clip)  # (T, 64, 32, 3): displayed portrait
    assert frames.shape == (3, 64, 32, 3)
    assert indices(clip) == [0, 2, 4]
    # The stored top-left marker turns a quarter counter-clockwise: it is now at the bottom left.
    assert frames[0, -4, 2, 0] > 180 and frames[0, -4, 2, 1] < 100
    assert frames[0, 2, 2, 0] < 100


def test_images_are_one_frame(media_dir):
    clip = decode_clip(media_dir / "images" / "wide_64x36.jpg", 1, 8.0, 32, 56)
    assert clip.shape == (3, 1, 32, 56)
    with pytest.raises(MediaError, match="image"):
        decode_clip(media_dir / "images" / "sq_40.png", 9, 8.0, 32, 32)


def test_resize_then_center_crop_keeps_aspect():
    # A 40x100 portrait (W x H) into 32x64: scale 0.8 -> 32x80, then 8 rows off the top and bottom each.
    frames = np.zeros((1, 100, 40, 3), np.uint8)
    frames[:, :10] = 255  # top band: cropped away
    frames[:, 50] = 200  # middle row: kept, at row (50 * 0.8 - 8) = 32
    clip = resize_center_crop(frames, 64, 32)
    assert clip.shape == (3, 1, 64, 32)
    out = to_frames(clip)[0, :, :, 0].astype(int)
    assert out[0].max() < 40  # the white top band is gone
    assert out[32].mean() > 60  # the middle row survives near the middle


def test_read_video_shows_a_rotated_video_as_a_player_does(tmp_path):
    from patchflow.media import read_video, write_video

    frames = np.zeros((3, 16, 32, 3), np.uint8)
    frames[:, :8, :8] = (230, 40, 40)  # marker in the stored top-left corner
    write_video(tmp_path / "r.mp4", frames, fps=8, rotation=90)
    shown, _ = read_video(tmp_path / "r.mp4")
    assert shown.shape == (3, 32, 16, 3)  # displayed portrait
    # 90 degrees counter-clockwise moves the top-left corner to the bottom-left.
    assert shown[0, -4, 4, 0] > 200 and shown[0, 4, 4, 0] < 50
