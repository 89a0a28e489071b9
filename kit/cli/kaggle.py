"""`kit fetch`, `kit submit`, `kit submissions`: the Kaggle commands and their tables."""

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
    from kit.kaggle import FetchResult, SubmissionList


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
    dest: Path = typer.Option(Path("data"), help="Parent folder: the files go to DEST/<name>/."),
    force: bool = typer.Option(False, "--force", help="Download every file again, even those present and valid."),
    timeout: Optional[float] = typer.Option(
        None, help="Seconds the whole fetch may take (default: no limit; a request still gives up after 15 s silent)."
    ),
) -> None:
    """Download a competition's (or dataset's) files from Kaggle into DEST/<name>/; check them, or infer their spec."""
    from kit.kaggle import fetch as fetch_files

    with RichProgress() as progress, flagged():
        fetched = fetch_files(competition, dest, force=force, timeout=timeout, callbacks=[progress])
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
