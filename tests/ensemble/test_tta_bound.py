"""Test-time augmentation is bounded: ``--tta 1000`` on a tiny run stops at once with one line, before any run is read
or any model runs (each copy predicts every OOF and test image with every fold's model)."""

from __future__ import annotations

import pytest
from test_ensemble import OOF_A, TEST_A, make_run
from typer.testing import CliRunner

from kit.cli import app
from kit.ensemble import build_ensemble
from kit.ensemble._combine import MAX_TTA
from kit.errors import KitError


@pytest.mark.parametrize("tta", [MAX_TTA + 1, 1000, 10**9, -1])
def test_tta_copies_past_the_bound_stop_at_once(tmp_path, tta):
    with pytest.raises(KitError) as error:
        build_ensemble([tmp_path / "no-such-run"], tta=tta)  # the arguments are checked before the runs are read
    assert str(error.value) == f"tta: must be 0 (off) or a number of augmented copies up to {MAX_TTA}, got {tta}"


def test_the_command_line_names_the_flag(tmp_path):
    run, out = make_run(tmp_path / "tiny", OOF_A, TEST_A), tmp_path / "subs"
    result = CliRunner().invoke(app, ["predict", str(run), "--tta", "1000", "--out", str(out)])
    assert result.exit_code != 0 and isinstance(result.exception, KitError)
    assert str(result.exception) == f"--tta: must be 0 (off) or a number of augmented copies up to {MAX_TTA}, got 1000"
    assert not out.exists()  # nothing written


def test_tta_within_the_bound_is_checked_as_before(tmp_path):
    with pytest.raises(KitError, match=r"^run .*no-such-run"):  # past the argument check, to the runs
        build_ensemble([tmp_path / "no-such-run"], tta=MAX_TTA)
