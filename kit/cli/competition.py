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
    if inferred.wrote:  # else the last note says the file already says this
        console.print(f"wrote [bold]{inferred.path}[/] (competition {inferred.competition.name})", highlight=False)


def score(
    submissions: list[Path] = typer.Argument(
        ..., help="Submission CSV(s), e.g. submissions/NAME.csv, or submissions/*.csv for a table of all."
    ),
    solution: Optional[Path] = typer.Option(None, help="Answers (id,label CSV); default solution.csv beside the data."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default the one the submission's runs used."),
    competition: Optional[str] = typer.Option(None, help="Competition; default the submission's, else the data's own."),
    metric: Optional[str] = typer.Option(
        None, help="accuracy, log_loss, macro_f1, micro_f1, roc_auc, mean_roc_auc, qwk or map_at_K; default the spec's."
    ),
) -> None:
    """Score SUBMISSION against held-out answers, print the per-class accuracy, note the score in its sidecar (several
    files: one table, a row each)."""
    from kit.cli.options import as_flags, flags
    from kit.cli.render import print_score
    from kit.errors import KitError
    from kit.submission import score_submission

    names = flags("solution", "competition", "metric", data="--data")
    if len(submissions) > 1:
        options = {"solution": solution, "data": data, "competition": competition, "metric": metric}
        score_several(submissions, options, names)
        return
    try:
        result = score_submission(submissions[0], solution=solution, data=data, competition=competition, metric=metric)
    except KitError as error:
        raise as_flags(error, names) from None
    print_score(result, submissions[0])


def score_several(paths: list[Path], options: dict[str, Any], names: dict[str, str]) -> None:
    """``kit score A B …``: score each file (noting each score in its sidecar), then one table — file, metric, score,
    rows — and each file's notes; a file that cannot be scored is a row of dashes and one line, and exits 1."""
    from rich import box
    from rich.table import Table

    from kit.cli.options import as_flags
    from kit.cli.render import print_error
    from kit.errors import KitError
    from kit.submission import score_submission

    table = Table(
        title=f"{len(paths)} submissions",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("file", "metric", "score", "rows"):
        table.add_column(column, justify="left" if column in ("file", "metric") else "right", overflow="fold")
    said, failed = [], []
    for path in paths:
        try:
            result = score_submission(path, **options)
        except KitError as error:
            table.add_row(str(path), "—", "—", "—")
            message = str(as_flags(error, names))
            failed.append(message if message.startswith(str(path)) else f"{path}: {message}")
            continue
        table.add_row(str(path), result.metric, f"{result.score:.4f}", f"{result.rows:,}")
        said += [f"{path}: {note}" for note in result.notes]
    console.print(table)
    for line in said:
        console.print(line, highlight=False)
    for line in failed:
        print_error(line)
    if failed:
        raise typer.Exit(1)
