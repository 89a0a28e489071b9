"""`kit leaderboard`: the submissions of a folder best first by honest OOF score, the one to upload marked and why;
and the words of a verdict (does a method beat the equal vote of its runs by more than the noise), which ``kit
predict``'s notes print for every method it ran."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from kit.cli.render import console

if TYPE_CHECKING:
    from kit.ensemble import Prediction
    from kit.submission import Leaderboard, Verdict


def register(app: typer.Typer) -> None:
    """Add this module's command to the ``kit`` app."""
    app.command("leaderboard")(leaderboard)


def leaderboard(
    out: Path = typer.Option(Path("submissions"), help="Folder of the submissions (<name>.csv and <name>.json)."),
    competition: Optional[str] = typer.Option(None, help="Only this competition's submissions; default every one."),
) -> None:
    """List the submissions best first by honest OOF score, per competition; mark the one to upload and say why."""
    from kit.cli.options import as_flags, flags
    from kit.errors import KitError
    from kit.submission import leaderboard as read_leaderboard

    try:
        board = read_leaderboard(out, competition)
    except KitError as error:
        raise as_flags(error, flags("competition", out="--out")) from None
    print_leaderboard(board)


def print_leaderboard(board: Leaderboard) -> None:
    """Per competition: the table (the marked row first of its kind: ▶, bold green), why it is marked, the rows'
    notes; then the rule once and the files not ranked."""
    from rich import box
    from rich.table import Table

    for competition in board.boards:
        table = Table(
            title=f"{competition.competition}: best first by honest OOF {competition.metric}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for column in ("", "submission", "method", "runs", "OOF", "vs equal", "local", "public"):
            left = column in ("", "submission", "method", "runs")
            table.add_column(column, justify="left" if left else "right", overflow="fold")
        for row in competition.rows:
            shown = row.verdict is not None and row.chosen
            table.add_row(
                "▶" if row.marked else "",
                row.name.removesuffix(".csv"),
                row.method,
                ", ".join(row.members),
                _number(row.honest),
                f"{row.verdict.difference:+.4f}" if shown else "",
                _number(row.local) + ("" if row.local_metric in (None, row.metric) else f" {row.local_metric}"),
                _number(row.public),
                style="bold green" if row.marked else "",
            )
        console.print(table)
        console.print(f"upload [bold]{competition.reason}[/]", highlight=False)
        for row in competition.rows:
            if row.note:
                console.print(f"  {row.name}: {row.note}", highlight=False)
    if not board.boards and not board.unknown:
        console.print(f"no submissions in {board.out_dir} (kit predict writes them there)", highlight=False)
    if board.boards:
        console.print(f"rule: {board.rule}", highlight=False, style="dim")
    for line in board.unknown:
        console.print(f"not ranked: {line}", highlight=False)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def verdict_text(what: str, judged: Verdict, baseline: str, rows: str, instead: str) -> str:
    """``WHAT beats BASELINE ROWS: H against B (+D, more than the noise ±S): upload it``, or ``WHAT did not beat
    BASELINE ROWS [by more than the noise]: …: INSTEAD``."""
    scores = f"{judged.honest:.4f} against {judged.baseline:.4f} ({judged.difference:+.4f}"
    where = f" {rows}" if rows else ""
    if judged.beats:
        return f"{what} beats {baseline}{where}: {scores}, more than the noise ±{judged.noise:.4f}): upload it"
    if judged.gain <= 0:
        return f"{what} did not beat {baseline}{where}: {scores}): {instead}"
    noise = "noise unknown" if judged.noise is None else f"noise ±{judged.noise:.4f}"
    return f"{what} did not beat {baseline}{where} by more than the noise: {scores}, {noise}): {instead}"


def predict_verdicts(prediction: Prediction) -> dict[str, str]:
    """Per option of ``kit predict`` used (``--auto-weights``, ``--weights``, ``--select``, ``--stack``, ``--tta``,
    ``--thresholds``): whether it beats the equal vote (or the plain vote, the most probable grade) by its honest
    score by more than the noise (:func:`kit.submission.score_noise` of the equal vote), in words."""
    import numpy as np

    from kit.competitions import get_metric
    from kit.ensemble import CROSS_FITTED, EQUAL, GIVEN, SELECTED_HONEST, STACKED
    from kit.submission import score_noise, verdict

    ensemble = prediction.ensemble
    scored, metric, labels = ensemble.metric_scores, ensemble.metric, ensemble.labels
    equal = scored[EQUAL]
    noise = score_noise(metric, labels, np.mean([member.oof for member in ensemble.members], axis=0))
    runs = " ".join(str(member.run.root) for member in ensemble.members)
    said, instead = {}, f"upload the equal vote instead (kit predict {runs})"
    for flag, key, rows in (
        ("--weights", GIVEN, "on the OOF rows (in-sample if chosen by looking at OOF scores)"),
        ("--auto-weights", CROSS_FITTED, "on rows they were not fit on"),
        ("--select", SELECTED_HONEST, "on rows it was not chosen on"),
        ("--stack", STACKED, "out of fold"),
    ):
        if key in scored:
            said[flag] = verdict_text(flag, verdict(scored[key], equal, noise, metric), "the equal vote", rows, instead)
    if ensemble.tta:
        plain = [member.oof if member.plain_oof is None else member.plain_oof for member in ensemble.members]
        without = get_metric(metric).score(labels, np.mean(plain, axis=0))
        judged = verdict(equal, without, noise, metric)
        said["--tta"] = verdict_text(
            f"--tta {ensemble.tta}", judged, "the equal vote without TTA", "", "leave out --tta (as good, and faster)"
        )
    if cuts := prediction.sidecar.get("qwk_thresholds"):
        judged = verdict(cuts["oof_qwk_cross_fitted"], cuts["oof_qwk_argmax"], noise, metric)
        rows = "on rows the cut points were not fit on"
        said["--thresholds"] = verdict_text("--thresholds", judged, "the most probable grade", rows, "leave it out")
    return said
