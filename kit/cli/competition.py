"""`kit init` (infer a competition spec from a data folder) and `kit score` (the local leaderboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from kit.cli.render import console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("init")(init)
    app.command("score")(score)


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as dotted spec keys; values are TOML (``6``, ``["a", "b"]``), else plain text."""
    import tomllib

    from kit.errors import KitError

    settings: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise KitError.invalid("--set", "KEY=VALUE, e.g. --set image.height=6", item)
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        settings[key.strip()] = value
    return settings


def init(
    data: Path = typer.Option(Path("."), help="Folder with the competition's CSV or image files; the spec goes there."),
    name: Optional[str] = typer.Option(None, help="Competition name; default the folder's name."),
    set_: Optional[list[str]] = typer.Option(
        None, "--set", help="Give a spec key kit cannot infer, e.g. --set image.height=6 (repeatable, TOML values)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing competition.toml that says otherwise."),
) -> None:
    """Infer the competition spec from the files in DATA, say what was found and why, write DATA/competition.toml."""
    from kit.cli.options import as_flags, flags
    from kit.data import infer_competition
    from kit.errors import KitError

    try:
        inferred = infer_competition(data, name=name, force=force, settings=parse_settings(set_))
    except KitError as error:
        raise as_flags(error, flags("name", "force", data_dir="--data", settings="--set")) from None
    for note in inferred.notes:
        console.print(f"• {note}", highlight=False)
    console.print(f"wrote [bold]{inferred.path}[/] (competition {inferred.competition.name})", highlight=False)


def score(
    submission: Path = typer.Argument(..., help="Submission CSV (e.g. submissions/NAME.csv)."),
    solution: Optional[Path] = typer.Option(None, help="Answers (id,label CSV); default solution.csv beside the data."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default the one the submission's runs used."),
    competition: Optional[str] = typer.Option(None, help="Competition; default the submission's, else the data's own."),
    metric: Optional[str] = typer.Option(
        None, help="accuracy, log_loss, macro_f1, micro_f1, roc_auc, mean_roc_auc, qwk or map_at_K; default the spec's."
    ),
) -> None:
    """Score SUBMISSION against held-out answers, print the per-class accuracy, note the score in its sidecar."""
    from kit.cli.options import as_flags, flags
    from kit.cli.render import print_score
    from kit.errors import KitError
    from kit.submission import score_submission

    try:
        result = score_submission(submission, solution=solution, data_dir=data, competition=competition, metric=metric)
    except KitError as error:
        raise as_flags(error, flags("solution", "competition", "metric", data_dir="--data")) from None
    print_score(result, submission)
