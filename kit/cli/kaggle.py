"""`kit fetch`, `kit submit`, `kit submissions` and `kit kernel build / push`: the Kaggle commands and their tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from kit.cli.render import RichProgress, console
from kit.competitions import DEFAULT_COMPETITION

if TYPE_CHECKING:
    from kit.kaggle import FetchResult, KernelBuild, SubmissionList


@contextlib.contextmanager
def flagged() -> Iterator[None]:
    """Library errors worded with these commands' flags (``timeout`` → ``--timeout``)."""
    from kit.cli.options import as_flags
    from kit.errors import KitError

    try:
        yield
    except KitError as error:
        raise as_flags(error, ["timeout"]) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("fetch")(fetch)
    app.command("submit")(submit)
    app.command("submissions")(submissions)
    kernel_app.command("build")(kernel_build)
    kernel_app.command("push")(kernel_push)
    kernel_app.command("train")(kernel_train)
    app.add_typer(kernel_app, name="kernel")


def size(count: int) -> str:
    """Bytes for people: 512 B, 9.4 KB, 73.2 MB."""
    power = 0
    while power < 3 and count >= 1000 ** (power + 1):
        power += 1
    return f"{count} B" if power == 0 else f"{count / 1000**power:.1f} {'KMG'[power - 1]}B"


def fetched_table(fetched: FetchResult) -> Table:
    """The files of a fetched folder: name, rows, size, whether just downloaded."""
    table = Table(title=f"{fetched.slug} in {fetched.folder}")
    for column, justify in (("file", "left"), ("rows", "right"), ("size", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    inferred = fetched.spec_path.name if fetched.spec_path is not None and fetched.competition is not None else None
    for item in fetched.files:
        rows = "" if item.rows is None else f"{item.rows:,}"
        state = "downloaded" if item.downloaded else "inferred spec" if item.name == inferred else "already present"
        table.add_row(item.name, rows, size(item.size), state)
    return table


def submissions_table(listed: SubmissionList) -> Table:
    """Recent submissions, newest first: ref, date, file, message, status and scores."""
    left = "" if listed.left_today is None else f" — {listed.left_today} left today"
    table = Table(title=f"submissions to {listed.competition}{left}")
    for column in ("ref", "date (UTC)", "file", "message", "status", "public", "private"):
        table.add_column(column, justify="right" if column in ("ref", "public", "private") else "left")
    for item in listed.items:
        date = item.date.strftime("%Y-%m-%d %H:%M") if item.date else ""
        status = f"error: {item.error}" if item.status == "error" and item.error else item.status
        scores = (item.public_score or "", item.private_score or "")
        table.add_row(str(item.ref), date, item.file_name, item.description, status, *scores)
    return table


def notes(lines: tuple[str, ...]) -> None:
    for line in lines:
        console.print(f"note: {escape(line)}", highlight=False)


def fetch(
    competition: str = typer.Option(
        DEFAULT_COMPETITION, help="Competition slug (the name in its address), or a dataset as OWNER/NAME."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder written into; default data/<name>."),
    dest: Optional[Path] = typer.Option(None, "--dest", hidden=True, help="Deprecated: its parent (DEST/<name>/)."),
    force: bool = typer.Option(False, "--force", help="Download every file again, even those present and valid."),
    timeout: Optional[float] = typer.Option(
        None, help="Seconds the whole fetch may take (default: no limit; a request still gives up after 15 s silent)."
    ),
) -> None:
    """Download a competition's (or dataset's) files from Kaggle into OUT (default data/<name>); check them, or infer
    their spec."""
    from kit.cli.options import deprecated_flag
    from kit.kaggle import fetch as fetch_files

    parent = deprecated_flag("--dest", "--out", dest, None)
    where = {"out": out} if parent is None else {"out": Path(parent) / competition.rsplit("/", 1)[-1]}

    with RichProgress() as progress, flagged():
        fetched = fetch_files(competition, force=force, timeout=timeout, callbacks=[progress], **where)
    console.print(fetched_table(fetched))
    notes(fetched.notes)
    new = fetched.downloaded
    done = f"downloaded {new} files" if new else "nothing to download (--force downloads again)"
    if fetched.spec_path is not None and fetched.competition is not None:
        end = f"wrote {fetched.spec_path}: check it, then train on {fetched.folder}"
    elif fetched.competition is not None:
        end = f"{fetched.folder} matches the {fetched.competition.name} format"
    else:
        end = f"no competition spec for {fetched.folder}: write one with kit init --data {fetched.folder}"
    console.print(escape(f"{done}; {end}"), highlight=False)


def submit(
    file: Path = typer.Argument(..., help="Submission CSV, e.g. submissions/NAME.csv written by kit predict."),
    message: str = typer.Option(..., "-m", "--message", help="Description of the submission shown on Kaggle."),
    competition: Optional[str] = typer.Option(
        None, help="Competition; default the one in FILE's sidecar, else digit-recognizer."
    ),
    data: Optional[Path] = typer.Option(
        None, help="Folder whose sample_submission.csv the ids must match; default data/<competition>."
    ),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Wait until Kaggle has scored it and print the public score."
    ),
    timeout: float = typer.Option(1800, help="Seconds the whole command may take, waiting for the score included."),
) -> None:
    """Check FILE as kit predict does, submit it to Kaggle and (by default) wait for its public score."""
    from kit.kaggle import Poll
    from kit.kaggle import submit as submit_file

    with RichProgress() as progress, flagged():
        result = submit_file(
            file,
            message,
            competition,
            data,
            wait=wait,
            poll=Poll(timeout=timeout),
            timeout=timeout,
            callbacks=[progress],
        )
    notes(result.notes)
    scored = result.submission
    left = "" if result.left_today is None else f"; {result.left_today} submissions left today"
    if scored.status == "complete":
        line = (
            f"public score [bold green]{escape(str(scored.public_score))}[/] for {escape(file.name)} "
            f"(submission {scored.ref})"
        )
    else:
        line = escape(
            f"submitted {file.name} to {result.competition} (submission {scored.ref}), not scored yet: "
            f"see kit submissions --competition {result.competition}"
        )
    console.print(line + left, highlight=False)


def submissions(
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose submissions to list."),
    count: int = typer.Option(20, help="How many recent submissions to show."),
) -> None:
    """List your recent submissions to the competition, newest first, with status and scores."""
    from kit.kaggle import submissions as list_submissions

    console.print(submissions_table(list_submissions(competition, count)))


# --- kit kernel: code competitions and Kaggle's machines ------------------------------------------------------------

kernel_app = typer.Typer(
    no_args_is_help=True,
    help="Code competitions: build an offline inference kernel for runs, push it to Kaggle, submit its output.",
)
BUILD_FLAGS = {
    **{name: f"--{name.replace('_', '-')}" for name in ("weights", "auto_weights", "select", "stack", "metric")},
    "tta": "--tta",
    **{"title": "--name", "out": "--out", "owner": "--owner", "force": "--force", "data_dir": "--data"},
    **{"python_version": "--python", "platform": "--platform", "wheels_from": "--wheels-from"},
}
PUSH_FLAGS = {"timeout": "--timeout", "force": "--force", "submit": "--submit", "message": "--message"}
TRAIN_FLAGS = {
    **{name: f"--{name}" for name in ("timeout", "force", "folds", "epochs", "owner", "out", "competition")},
    **{"title": "--name", "data_dir": "--data", "gpu": "--cpu", "folder": "--kernel-folder"},
    **{"python_version": "--python", "platform": "--platform", "wheels_from": "--wheels-from"},
}


@contextlib.contextmanager
def kernel_flags(mapping: dict[str, str]) -> Iterator[None]:
    """Library errors of the kernel commands worded with their flags."""
    from kit.cli.options import as_flags
    from kit.errors import KitError

    try:
        yield
    except KitError as error:
        raise as_flags(error, mapping) from None


def kernel_build(
    runs: list[str] = typer.Argument(..., help="Run folders (or names under runs/) to combine, all folds of each."),
    out: Optional[Path] = typer.Option(None, help="Folder to build in; default kernels/<slug of the name>."),
    name: Optional[str] = typer.Option(None, help="The kernel's title (its slug follows); default: kit COMPETITION."),
    owner: Optional[str] = typer.Option(None, help="Kaggle username owning the kernel; default your credentials'."),
    gpu: bool = typer.Option(False, "--gpu", help="Ask Kaggle for a GPU (enable_gpu)."),
    weights: Optional[str] = typer.Option(None, help="One weight per run, comma-separated (default: equal)."),
    auto_weights: bool = typer.Option(False, "--auto-weights", help="The weights that maximise OOF accuracy."),
    select: bool = typer.Option(False, "--select", help="Greedy ensemble selection (Caruana), with replacement."),
    stack: bool = typer.Option(False, "--stack", help="Stack: logistic regression on the runs' OOF softmaxes."),
    metric: Optional[str] = typer.Option(
        None, help="What --select/--auto-weights optimise on the OOF rows (as kit predict: default the competition's)."
    ),
    tta: int = typer.Option(0, help="Also average over N augmented copies of the images, as kit predict --tta N."),
    data: Optional[Path] = typer.Option(None, help="The runs' competition folder (its spec); default their own."),
    python: str = typer.Option("3.11", help="The kernel's Python version, for the wheels."),
    platform: str = typer.Option(
        "manylinux_2_35_x86_64", help="The kernel's platform: wheels of this manylinux level or older."
    ),
    wheels_from: Optional[Path] = typer.Option(
        None, help="Offline: take the wheels from this folder instead of resolving them with pip."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a kernel already built in --out."),
) -> None:
    """Build a code-competition kernel: models and wheels datasets and an offline inference notebook."""
    from kit.ensemble import check_one_way, parse_weights
    from kit.kaggle import build_kernel

    with kernel_flags(BUILD_FLAGS):
        check_one_way(weights, auto_weights, select, stack, names=BUILD_FLAGS)
        parsed = None if weights is None else tuple(parse_weights(weights, len(runs)))
        with RichProgress() as progress:
            built = build_kernel(
                runs,
                out,
                title=name,
                owner=owner,
                gpu=gpu,
                weights=parsed,
                auto_weights=auto_weights,
                select=select,
                stack=stack,
                metric=metric,
                tta=tta,
                data=data,
                python_version=python,
                platform=platform,
                wheels_from=wheels_from,
                force=force,
                callbacks=[progress],
            )
    console.print(build_table(built))
    owner_note = "" if built.owner_known else " (owner filled in by kit kernel push)"
    console.print(escape(f"built {built.folder}{owner_note}; next: kit kernel push {built.folder} --submit"))


def build_table(built: KernelBuild) -> Table:
    """What a built kernel folder holds."""
    table = Table(title=f"kernel {built.kernel} for {built.competition}")
    table.add_column("part", no_wrap=True)
    table.add_column("Kaggle id", overflow="fold")
    table.add_column("holds")
    weights = "" if built.weights is None else " × ".join(f"{weight:.3g}" for weight in built.weights)
    tta = f", TTA ×{built.tta}" if built.tta else ""
    runs = f"{len(built.runs)} runs ({built.weighting}{': ' + weights if weights else ''}{tta}), OOF accuracy "
    table.add_row("kernel/", built.kernel, f"{built.notebook.name}, GPU {'on' if built.gpu else 'off'}, no internet")
    table.add_row("models/", built.models_dataset, runs + f"{built.oof_accuracy:.4f}")
    count = f"{len(built.wheels)} wheel{'s' if len(built.wheels) != 1 else ''}"
    table.add_row("wheels/", built.wheels_dataset, f"{count}: " + ", ".join(built.wheels[:4]))
    return table


def kernel_push(
    folder: Path = typer.Argument(..., help="A folder built by kit kernel build."),
    submit: bool = typer.Option(False, "--submit", help="Submit the kernel's output and wait for its score."),
    message: Optional[str] = typer.Option(None, "-m", "--message", help="The submission's description."),
    timeout: float = typer.Option(9 * 3600, help="Seconds the whole push may take, the kernel's run included."),
    data: Optional[Path] = typer.Option(None, help="Folder whose sample_submission.csv the output's ids must match."),
    force: bool = typer.Option(False, "--force", help="Push and run the kernel again even if unchanged."),
) -> None:
    """Upload the datasets (when changed), push and run the kernel, fetch and check its submission, submit it."""
    from kit.kaggle import KERNEL_POLL, Poll, push_kernel

    poll = Poll(KERNEL_POLL.interval, KERNEL_POLL.most, timeout)
    with RichProgress() as progress, kernel_flags(PUSH_FLAGS):
        pushed = push_kernel(
            folder, submit=submit, message=message, timeout=timeout, poll=poll, score_poll=poll, force=force,
            data=data, callbacks=[progress],
        )  # fmt: skip
    for sync in pushed.datasets:
        console.print(escape(f"dataset {sync.ref}: {sync.action}"), highlight=False)
    version = f" version {pushed.version}" if pushed.version else ""
    how = "pushed and ran" if pushed.pushed else "found already pushed; followed"
    console.print(escape(f"kernel {pushed.kernel}{version}: {how}"), highlight=False)
    console.print(
        escape(f"wrote {pushed.output / 'submission.csv'} ({pushed.rows} rows, checked) and {len(pushed.files)} files"),
        highlight=False,
    )
    if pushed.submission is not None:
        scored = pushed.submission
        console.print(
            f"public score [bold green]{escape(str(scored.public_score))}[/] (submission {scored.ref})", highlight=False
        )


def kernel_train(
    recipe: str = typer.Argument(..., help="Recipe name or path to a .toml file, as for kit cv."),
    competition: Optional[str] = typer.Option(None, help="Competition slug; default the one of --data."),
    data: Optional[Path] = typer.Option(None, help="The local competition folder whose competition.toml to use."),
    out: Optional[Path] = typer.Option(None, help="Where the run folder comes back to; default runs/<recipe>."),
    folds: Optional[int] = typer.Option(None, help="Override the recipe's number of folds."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's number of epochs."),
    name: Optional[str] = typer.Option(None, help="The kernel's title; default: kit RECIPE COMPETITION."),
    owner: Optional[str] = typer.Option(None, help="Kaggle username owning the kernel; default your credentials'."),
    cpu: bool = typer.Option(False, "--cpu", help="Run without a GPU."),
    kernel_folder: Optional[Path] = typer.Option(None, help="The kernel's folder; default kernels/train-<recipe>-…"),
    timeout: float = typer.Option(12 * 3600, help="Seconds the whole command may take, training included."),
    python: str = typer.Option("3.11", help="The kernel's Python version, for the wheels."),
    platform: str = typer.Option("manylinux_2_35_x86_64", help="The kernel's platform, for the wheels."),
    wheels_from: Optional[Path] = typer.Option(None, help="Offline: take the wheels from this folder."),
    force: bool = typer.Option(False, "--force", help="Push the kernel again; replace a run already in --out."),
) -> None:
    """Run kit cv of RECIPE on Kaggle (a GPU by default) and bring the run folder back, for kit predict."""
    from kit.kaggle import KERNEL_POLL, Poll, train_kernel

    poll = Poll(KERNEL_POLL.interval, KERNEL_POLL.most, timeout)
    with RichProgress() as progress, kernel_flags(TRAIN_FLAGS):
        trained = train_kernel(
            recipe, competition, data=data, out=out, folder=kernel_folder, title=name, owner=owner, gpu=not cpu,
            folds=folds, epochs=epochs, timeout=timeout, poll=poll, python_version=python, platform=platform,
            wheels_from=wheels_from, force=force, callbacks=[progress],
        )  # fmt: skip
    version = f" version {trained.version}" if trained.version else ""
    how = "pushed and ran" if trained.pushed else "found already pushed; followed"
    console.print(escape(f"kernel {trained.kernel}{version}: {how}"), highlight=False)
    console.print(
        f"brought back [bold]{escape(str(trained.run))}[/]: {trained.folds} folds, OOF accuracy "
        f"[bold green]{trained.oof_accuracy:.4f}[/]",
        highlight=False,
    )
