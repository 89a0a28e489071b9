"""The live display of `kit cv` and `kit tune`: lines that a Ctrl-C cannot break, the start-up status before the
first epoch, folds resumed from a checkpoint or kept from an earlier run, trials numbered from 1 as folds are."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import sys
import time

import pytest
from rich.console import Console

from conftest import tiny_recipe_toml
from kit import Callback
from kit.cli import render
from kit.crossval import FoldScore
from kit.tuning import TrialScore

ANSI = re.compile(rb"\x1b\[(\??)([0-9;]*)([A-Za-z])")
WIDTH = 80


def screen(output: bytes, width: int = WIDTH) -> list[str]:
    """The lines a terminal of ``width`` columns shows after ``output``: text, CR, LF, erase line, cursor up, and the
    wrap to the next line when a character is written past the last column (colours and the rest ignored)."""
    lines, row, column = [[]], 0, 0
    text = ANSI.sub(lambda match: b"\x00" + match[0] if match[3] in b"KA" else b"", output).decode(errors="replace")
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\x00":
            code = ANSI.match(text[index + 1 :].encode())
            index += 1 + len(code[0])
            if code[3] == b"K":
                lines[row] = []
            elif code[3] == b"A":
                row = max(0, row - int(code[2] or 1))
            column = 0 if code[3] == b"A" else column
            continue
        index += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            row, column = row + 1, 0
        elif char >= " ":
            if column == width:  # deferred wrap: the character goes to the next line
                row, column = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (column - len(line) + 1))
            line[column] = char
            column += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


def recorded(events, width: int = WIDTH) -> str:
    """What a RichProgress shows at its end for ``events`` (a function of it), rendered ``width`` columns wide."""
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    original = render.console
    render.console = console
    try:
        with render.RichProgress() as progress:
            events(progress)
    finally:
        render.console = original
    return console.file.getvalue()


def test_lines_stay_short_of_the_width_and_startup_passes():
    def events(progress):
        progress.on_phase("loading data")
        progress.on_run_begin("cv", 10, 100)
        progress.on_phase("building model")
        progress.on_fold_begin(10)
        progress.on_epoch_end(10, 100, {"val_accuracy": 0.98765, "val_loss": 0.04321})

    shown = recorded(events, width=60)  # narrower than the lines would be
    assert "loading data" not in shown and "building model" not in shown  # gone at the first epoch
    assert all(len(line) <= 57 for line in shown.splitlines()), shown  # 3 columns short of the width
    assert "val_acc 0.98" in shown and len(shown.splitlines()) == 2  # one line per task, a long status cut short


def test_a_fold_resumed_from_its_checkpoint_and_a_kept_fold_say_so():
    def events(progress):
        progress.on_run_begin("cv", 3, 3)
        progress.on_fold_end(FoldScore(1, 3, 0.9, 0.3, 1.0), resumed=True)
        progress.on_fold_begin(2)
        progress.on_fold_resume(2, 2, 3)

    assert re.search(r"fold 1 .*done \(kept\): val_acc 0\.9000", recorded(events))
    assert re.search(r"fold 2 .* 2/3 +resumed at epoch 2/3", recorded(events))

    def finished(progress):
        events(progress)
        progress.on_epoch_end(2, 3, {"val_accuracy": 0.8, "val_loss": 0.5})
        progress.on_fold_end(FoldScore(2, 3, 0.8, 0.5, 1.0), resumed=False)
        progress.on_fold_begin(3)
        progress.on_fold_end(FoldScore(3, 3, 0.7, 0.6, 1.0), resumed=False)

    shown = recorded(finished)
    assert re.search(r"fold 2 .*done, resumed at 2/3: val_acc 0\.8000", shown), shown
    assert re.search(r"fold 3 .* done: val_acc 0\.7000", shown), shown


def test_trials_are_numbered_from_one_where_shown():
    from kit.cli.tune import TrialDisplay

    console = Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)
    original = render.console
    render.console = console
    try:
        with TrialDisplay() as display:
            display.on_run_begin("tune", 2, 1)
            display.on_trial_begin(TrialScore("0", {"train.learning_rate": 0.01}, None, 1, "RUNNING"))
            display.on_epoch_end("0", 1, {"val_accuracy": 0.5, "val_loss": 1.0})
            display.on_trial_end(TrialScore("0", {"train.learning_rate": 0.01}, 0.5, 1, "COMPLETED", 1.0, 1, 2.0))
    finally:
        render.console = original
    shown = console.file.getvalue()
    assert "trial 1: val_acc 0.5000" in shown and "trial 0" not in shown, shown
    assert TrialScore("00", {}, None, 1, "RUNNING").number == "1" and TrialScore("x", {}, None, 1, "R").number == "x"


class Phases(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_phase(self, name, done=0, total=None):
        self.events.append(name if total is None else "phase")

    def on_fold_begin(self, fold):
        self.events.append(f"begin {fold}")

    def on_fold_resume(self, fold, epoch, epochs):
        self.events.append(f"resume {fold} at {epoch}/{epochs}")

    def on_epoch_end(self, fold, epoch, logs):
        self.events.append(f"epoch {fold}.{epoch}")
        if os.environ.get("KIT_TEST_STOP") == f"{fold}.{epoch}":
            raise KeyboardInterrupt


@pytest.mark.slow
def test_kit_cv_resumes_a_fold_at_its_checkpoint_and_keeps_finished_ones(tmp_path, tiny_dir, monkeypatch):
    from typer.testing import CliRunner

    import kit
    from kit.cli.app import app

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("tiny", epochs=2))
    out = tmp_path / "run"
    heard = Phases()
    monkeypatch.setenv("KIT_TEST_STOP", "2.2")  # Ctrl-C after fold 2's second epoch: its checkpoint holds epoch 1
    with pytest.raises(KeyboardInterrupt):
        kit.cv(str(recipe), tiny_dir, out=out, jobs=1, callbacks=[heard], track=False)
    assert [event for event in heard.events if event != "phase"][:3] == [
        "loading data",
        "building model",
        "begin 1",
    ]  # the start-up steps, then the folds
    monkeypatch.delenv("KIT_TEST_STOP")
    arguments = ["cv", str(recipe), "--data", str(tiny_dir), "--out", str(out), "--jobs", "1", "--no-track"]
    done = CliRunner().invoke(app, arguments, env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    assert re.search(r"fold 1 .*done \(kept\): val_acc", done.output), done.output
    assert re.search(r"fold 2 .*done, resumed at 1/2: val_acc", done.output), done.output


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="a pseudo-terminal as Linux has it")
def test_ctrl_c_in_a_terminal_leaves_each_line_once(tmp_path, tiny_dir):
    width = 60  # the display's lines would fill it: a ^C echoed after them wrapped and the redraw left copies
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("tiny", epochs=200))
    command = [sys.executable, "-m", "kit", "cv", str(recipe), "--data", str(tiny_dir), "--out", str(tmp_path / "r")]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: kit cv in an 80-column terminal
        os.environ.update(COLUMNS=str(width), LINES="24", TERM="xterm", TF_CPP_MIN_LOG_LEVEL="3")
        os.execv(sys.executable, [*command, "--jobs", "1", "--no-track"])
    import fcntl
    import struct
    import termios

    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    output, sent, started = b"", False, time.monotonic()
    while time.monotonic() - started < 60:
        if select.select([terminal], [], [], 0.1)[0]:
            try:
                data = os.read(terminal, 65536)
            except OSError:
                break
            if not data:
                break
            output += data
        if not sent and b"val_acc" in output:
            os.write(terminal, b"\x03")  # Ctrl-C as typed: the terminal echoes ^C and interrupts the process group
            sent = True
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert sent and os.waitstatus_to_exitcode(status) == 130, output[-2000:]
    assert output.find(b"loading data") < output.find(b"building model") < output.find(b"val_acc")
    lines = screen(output, width)
    assert [line.split()[0] for line in lines[-4:-1]] == ["folds", "fold", "interrupted"], lines
    assert sum(line.startswith("folds") for line in lines) == 1 and sum("fold 1" in line for line in lines) == 1
    message = "interrupted — finished folds and trials kept; rerun the same command to resume"
    assert " ".join(lines[-2:]) == message, lines  # wrapped between two words


def test_the_interrupted_line_wraps_between_words(capsys, monkeypatch):
    narrow = Console(file=io.StringIO(), width=40)
    monkeypatch.setattr(render, "errors", narrow)
    message = "interrupted — finished folds and trials kept; rerun the same command to resume"
    render.print_error(message, "interrupted")
    words = message.split()
    assert [word for line in narrow.file.getvalue().splitlines() for word in line.split()] == words
