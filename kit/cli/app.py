"""The ``kit`` app: the root command, error handling, and the registration of each command module.

Start-up stays light: this module imports typer and kit's small modules only; every command imports the library
(and so TensorFlow) when it runs, so ``--help``, argument errors and unknown names answer at once.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from kit import __version__
from kit.cli import auto, competition, cv, ensemble, kaggle, leaderboard, recipe, tune
from kit.cli._examples import HELP_NAMES, KitGroup, apply
from kit.cli.render import console, print_error
from kit.competitions import DEFAULT_COMPETITION
from kit.errors import KitError

INTERRUPTED = 130
app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=HELP_NAMES,
    cls=KitGroup,
    help="Fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions.",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"kit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print kit's version and exit."
    ),
) -> None:
    """Fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions."""


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(
        Path("data/demo"),
        "--out",
        help="Folder written into: train.csv, test.csv, sample_submission.csv and solution.csv.",
    ),
    dest: Optional[Path] = typer.Option(None, "--dest", hidden=True, help="Deprecated: --out."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format to write."),
    layout: Optional[str] = typer.Option(
        None,
        help="Write image FILES instead, as Kaggle ships this layout: seedlings, cactus, dogs-vs-cats, dog-breed, "
        "pathology, aptos or whale (no spec: run `kit init --data OUT`).",
    ),
    dataset: str = typer.Option(
        "digits",
        help="digits: scikit-learn's 1,797 real handwritten digits (297 test rows); shapes: 5,000 generated images "
        "of ten drawn shapes with noise (1,000 test rows; runs labelled shapes), a second, harder data set.",
    ),
) -> None:
    """Write competition-format CSVs (or, with --layout, image files) built from scikit-learn's real handwritten
    digits or kit's generated shapes (no network needed)."""
    from kit.cli.options import as_flags, deprecated_flag, flags
    from kit.competitions import get_competition
    from kit.data import demo_images, write_demo_data

    dest = deprecated_flag("--dest", "--out", dest, out)
    try:
        if layout is not None:
            written = demo_images(dest, layout)
            console.print(f"wrote the {layout} demo images to [bold]{written.folder}[/] (answers in solution.csv)")
            return
        folder = write_demo_data(dest, get_competition(competition), dataset=dataset)
    except KitError as error:
        raise as_flags(
            error, flags("competition", "layout", "dataset", train="--layout", dest="--out", out="--out")
        ) from None
    console.print(f"wrote the demo {dataset} to [bold]{folder}[/] (answers for the test rows in solution.csv)")


for module in (cv, ensemble, tune, auto, competition, leaderboard, recipe, kaggle):
    module.register(app)
apply(app)  # after every command is registered: examples, -h, flags without <bool>, completion


def interrupted_during(error: BaseException) -> bool:
    """Whether ``error`` was raised because of a Ctrl-C: a KeyboardInterrupt among its causes or contexts."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def exit_interrupted() -> None:
    """Say what a Ctrl-C kept and how to go on, and exit 130."""
    print_error("interrupted — finished folds and trials kept; rerun the same command to resume", word="interrupted")
    sys.exit(INTERRUPTED)


def os_error_line(error: OSError) -> str:
    """An ``OSError`` no step turned into a KitError, as one line naming the path and the cause."""
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    where = " → ".join(paths) or "a file"
    return f"{where}: {error.strerror or error} (nothing was finished with it; earlier results are intact)"


def main() -> None:
    """Console-script entry point: run the app and turn any KitError into one line on stderr, Ctrl-C into exit 130;
    an ``OSError`` no step words itself (a full disk, an unreadable folder) is one line naming the path too."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = app(standalone_mode=False)
        if code == INTERRUPTED:  # typer turns KeyboardInterrupt into a silent Exit(130): say what to do next
            raise KeyboardInterrupt
    except KitError as error:
        print_error(str(error))
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        exit_interrupted()
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except OSError as error:
        if interrupted_during(error):
            exit_interrupted()
        print_error(os_error_line(error))
        sys.exit(1)
    except Exception as error:  # usage errors of typer's click: one line, exit 2
        if interrupted_during(error):  # Ctrl-C inside an import (TensorFlow's re-raises it as an ImportError)
            exit_interrupted()
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        context = getattr(error, "ctx", None)
        where = f" (see {context.command_path} --help)" if context is not None else ""
        print_error(f"{error.format_message()}{where}")
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
