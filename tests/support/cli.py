"""Run the real console entry point and check how it fails: one ``error:`` line, no traceback."""

from __future__ import annotations

import pytest

from phonenas.cli.main import run


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``phonenas ARGS`` must exit non-zero with exactly one ``error:`` line on stderr and no traceback
    (a crash that happens to exit non-zero does not pass); returns that line."""
    with pytest.raises(SystemExit) as info:
        run(args)
    assert info.value.code not in (0, None), f"phonenas {' '.join(args)} exited {info.value.code!r}"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, f"expected one 'error:' line, got stderr:\n{captured.err}"
    return lines[0]
