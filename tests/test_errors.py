"""KitError: a plain message, or structured data (the argument it is about, the argument that fixes it) worded with
the library's names by str() and with a front end's names by render()."""

from __future__ import annotations

import pickle

import pytest

from kit.errors import ANOTHER, KitError


def test_a_plain_message_reads_as_given():
    error = KitError("data/train.csv: file not found")
    assert str(error) == "data/train.csv: file not found" and error.argument is None and error.fix is None
    assert error.render({"force": "--force"}) == "data/train.csv: file not found"
    assert error.args == ("data/train.csv: file not found",)


def test_invalid_is_the_one_wording_of_a_bad_value():
    error = KitError.invalid("holdout", "a share from 0 to 0.5 of the training rows", 0.7)
    assert str(error) == "holdout: must be a share from 0 to 0.5 of the training rows, got 0.7"
    assert (
        error.argument == "holdout" and error.message == "must be a share from 0 to 0.5 of the training rows, got 0.7"
    )
    assert str(KitError.invalid("engine", "one of auto, tflite, keras", "onnx")) == (
        "engine: must be one of auto, tflite, keras, got 'onnx'"
    )


def test_render_words_the_argument_with_the_front_ends_names():
    error = KitError.invalid("tta_precision", "one of float32, int8", "fp16")
    assert error.render({"tta_precision": "--precision"}) == "--precision: must be one of float32, int8, got 'fp16'"
    assert error.render(lambda name: "--" + name.replace("_", "-")) == (
        "--tta-precision: must be one of float32, int8, got 'fp16'"
    )
    assert error.render({"other": "--other"}) == str(error)  # an argument the command lacks keeps its name
    assert error.render() == str(error)


@pytest.mark.parametrize(
    ("fix", "library", "flags"),
    [
        (("force", True), "x.toml exists; pass force=True", "x.toml exists; rerun with --force"),
        (("out", ANOTHER), "x.toml exists; pass out=...", "x.toml exists; rerun with --out ..."),
        (("engine", "keras"), "x.toml exists; pass engine='keras'", "x.toml exists; rerun with --engine keras"),
        (
            (("force", True), ("name", ANOTHER)),
            "x.toml exists; pass force=True or name=...",
            "x.toml exists; rerun with --force or --name ...",
        ),
    ],
)
def test_a_fix_reads_pass_in_python_and_rerun_with_on_the_command_line(fix, library, flags):
    error = KitError("x.toml exists", fix=fix)
    assert str(error) == library
    assert error.render({"force": "--force", "out": "--out", "engine": "--engine", "name": "--name"}) == flags
    assert error.fix == (fix if isinstance(fix[0], str) else fix[0])


def test_a_fix_the_command_cannot_name_keeps_the_library_wording():
    error = KitError("f holds another search", fix=(("restart", True), ("out", ANOTHER)))
    assert error.render({"restart": "--restart"}) == "f holds another search; pass restart=True or out=..."


def test_argument_and_fix_together_and_across_processes():
    error = KitError("already holds a distilled model", argument="out", fix=("force", True))
    assert str(error) == "out: already holds a distilled model; pass force=True"
    assert (
        error.render({"out": "--out", "force": "--force"})
        == "--out: already holds a distilled model; rerun with --force"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, KitError) and str(copy) == str(error) and copy.argument == "out"
    assert copy.fix == ("force", True)


def test_as_flags_uses_the_errors_data_only():
    from kit.cli.options import as_flags, flags

    mapping = flags("force", "max_trials", tta_precision="--precision")
    assert mapping == {"force": "--force", "max_trials": "--max-trials", "tta_precision": "--precision"}
    assert (
        str(as_flags(KitError.invalid("max_trials", "at least 1", 0), mapping))
        == "--max-trials: must be at least 1, got 0"
    )
    assert str(as_flags(KitError("x.toml was edited", fix=("force", True)), ("force",))) == (
        "x.toml was edited; rerun with --force"
    )
    # a message that merely mentions an argument is never reworded: only the error's data counts
    assert str(as_flags(KitError("force=True: max_trials: size=50"), mapping)) == "force=True: max_trials: size=50"
