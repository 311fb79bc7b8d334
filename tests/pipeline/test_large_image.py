"""Text-to-image at the largest size the report shows: 2048x2048, decoded in tiles (slow: minutes on a CPU)."""

import resource

import pytest
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.media import read_image


@pytest.mark.slow
def test_text_to_image_at_2048_decodes_in_tiles_within_bounded_memory(model_dir, tmp_path):
    out = tmp_path / "big.png"
    result = CliRunner().invoke(app, ["generate", "--model", str(model_dir), "--prompt", "a red ball on navy",
                                      "--size", "2048x2048", "--frames", "1", "--steps", "1", "--guidance", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_image(out).shape == (2048, 2048, 3)
    # Whole-frame decode of 2048^2 would need several GiB of activations; tiles keep the process small.
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 4.0, f"peak RSS {peak_gib:.1f} GiB"
