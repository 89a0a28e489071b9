"""`kit fetch`, `kit submit`, `kit submissions`: the Kaggle commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kit.cli.render import console
from kit.competitions import DEFAULT_COMPETITION


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("fetch")(fetch)
    app.command("submit")(submit)
    app.command("submissions")(submissions)


def fetch(
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose files to download."),
    dest: Path = typer.Option(Path("data"), help="Parent folder: the files go to DEST/<competition>/."),
    force: bool = typer.Option(False, "--force", help="Download every file again, even those present and valid."),
) -> None:
    """Download the competition's files from Kaggle into DEST/<competition>/ and check them."""
    from kit.kaggle import fetch as fetch_files
    from kit.kaggle import fetched_table

    with console.status("fetching…") as status:
        fetched = fetch_files(competition, dest, force, progress=status.update)
    console.print(fetched_table(fetched))
    new = sum(item.downloaded for item in fetched.files)
    done = f"downloaded {new} files" if new else "nothing to download (--force downloads again)"
    console.print(f"{done}; {fetched.folder} matches the {fetched.competition} format", highlight=False)


def submit(
    file: Path = typer.Argument(..., help="Submission CSV, e.g. submissions/NAME.csv written by kit predict."),
    message: str = typer.Option(..., "-m", "--message", help="Description of the submission shown on Kaggle."),
    competition: Optional[str] = typer.Option(None, help="Competition; default the one in FILE's sidecar, else digit-recognizer."),
    data: Optional[Path] = typer.Option(None, help="Folder whose sample_submission.csv the ids must match; default data/<competition>."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until Kaggle has scored it and print the public score."),
    timeout: float = typer.Option(1800, help="Seconds to wait for the score."),
) -> None:
    """Check FILE as kit predict does, submit it to Kaggle and (by default) wait for its public score."""
    from kit.kaggle import Poll
    from kit.kaggle import submit as submit_file

    with console.status("submitting…") as status:
        result = submit_file(file, message, competition, data, wait, poll=Poll(timeout=timeout), progress=status.update)
    scored = result.submission
    left = "" if result.left_today is None else f"; {result.left_today} submissions left today"
    if scored.status == "complete":
        line = f"public score [bold green]{scored.public_score}[/] for {file.name} (submission {scored.ref})"
    else:
        line = f"submitted {file.name} to {result.competition} (submission {scored.ref}), not scored yet: see kit submissions"
    console.print(line + left, highlight=False)


def submissions(
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose submissions to list."),
    count: int = typer.Option(20, help="How many recent submissions to show."),
) -> None:
    """List your recent submissions to the competition, newest first, with status and scores."""
    from kit.kaggle import submissions as list_submissions
    from kit.kaggle import submissions_table

    console.print(submissions_table(list_submissions(competition, count)))
