"""An error a command prints is one unbroken line of plain text: rich must not wrap a long path in two, nor read
a quoted override `--set a=["x"]` as markup."""

import pytest
import typer

from patchflow.commands import common


def test_a_long_error_is_printed_on_one_line_with_brackets_kept(capsys):
    path = "/tmp/" + "a-very-long-folder-name/" * 8 + "nothing"
    message = f'{path}: no such folder; pass --set world.sizes=["32x32"] [bold]not markup[/]'
    with pytest.raises(typer.Exit) as stop:
        common.fail(message)
    assert stop.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {message}"]
