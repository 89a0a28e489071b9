"""``kit auto``: the best submission within a time budget, with a live plan (members done, running and planned,
the chosen combination, the time left) and a final table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kit.cli.render import console
from kit.utils import Callback

STATUS_STYLE = {
    "left out": "dim",
    "done": "green",
    "running": "bold yellow",
    "stopped": "red",
    "skipped": "dim",
    "failed": "red",
}
AUTO_FLAGS = {"data": "--data", "time": "--time", "metric": "--metric", "out": "--out", "name": "--name"}


def plan_table(members: Any, metric: str, title: str | None = None) -> Table:
    """Members as rows: name, recipe, status, time spent (or estimated), OOF score, note."""
    from kit.autopilot import format_duration

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("member", "recipe", "status", "time", f"OOF {metric}", "gain", "note"):
        table.add_column(column, justify="right" if column in ("time", f"OOF {metric}", "gain") else "left")
    for row in members:
        if row.status == "planned":
            spent = "" if row.estimate is None else f"~{format_duration(row.estimate)}"
        else:
            spent = format_duration(row.seconds)
        score = "" if row.score is None else f"{row.score:.4f}"
        gain = "" if row.gain is None else f"{row.gain:+.4f}"
        status = Text(row.status, style=STATUS_STYLE.get(row.status, ""))
        table.add_row(
            row.name, row.recipe, status, spent, score, gain, Text(row.note, overflow="ellipsis", no_wrap=True)
        )
    return table


class AutoView(Callback):
    """The live display: the plan as a table, then the running member's fold and epoch."""

    def __init__(self) -> None:
        self.plan: Any = None
        self.epoch = ""
        self.epochs: int | None = None
        self.live = Live(console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> AutoView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def _render(self) -> Group:
        from kit.autopilot import format_duration

        if self.plan is None:
            return Group(Text("kit auto: starting…"))
        plan = self.plan
        head = Text(f"kit auto · {format_duration(plan.left)} left of {format_duration(plan.total)}", style="bold")
        parts: list[Any] = [head, plan_table(plan.members, plan.metric)]
        if plan.way is not None and plan.score is not None:
            parts.append(Text(f"submission now: {plan.way}, honest OOF {plan.metric} {plan.score:.4f}"))
        if self.epoch:
            parts.append(Text(self.epoch, style="yellow"))
        if plan.last:
            parts.append(Text(plan.last, style="dim", overflow="ellipsis", no_wrap=True))
        return Group(*parts)

    def on_plan(self, plan: Any) -> None:
        self.plan = plan
        if not any(row.status == "running" for row in plan.members):
            self.epoch = ""
        self.live.update(self._render())

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        if kind == "cv":
            self.epochs = epochs

    def on_fold_begin(self, fold: int | str) -> None:
        self.epoch = f"fold {fold}: starting"
        self.live.update(self._render())

    def on_epoch_end(self, fold: int | str, epoch: int, logs: Mapping[str, float]) -> None:
        accuracy = logs.get("val_accuracy")
        shown = "" if accuracy is None else f"  val_accuracy {accuracy:.4f}"
        self.epoch = f"fold {fold}: epoch {epoch}/{self.epochs or '?'}{shown}"
        self.live.update(self._render())

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        self.epoch = f"{name} {done}/{total}" if total else name
        self.live.update(self._render())


def auto(
    data: Optional[Path] = typer.Option(
        None, help="Competition folder; default data/<competition>, else the demo data."
    ),
    time: str = typer.Option("30m", "--time", help='Budget for everything, prediction included: "5m", "1h30m", "90s".'),
    metric: Optional[str] = typer.Option(None, help="Metric every choice optimises; default the competition's."),
    out: Optional[Path] = typer.Option(
        None,
        help="Folder of the members and auto.json; default runs/<competition>/auto (runs/demo/auto on the demo data).",
    ),
    name: str = typer.Option("auto", help="Submission name: submissions/NAME.csv with its sidecar."),
    competition: Optional[str] = typer.Option(None, help="Competition whose format the data has; default the data's."),
    tta: bool = typer.Option(True, "--tta/--no-tta", help="Allow a test-time augmentation round when it pays."),
    pseudo: bool = typer.Option(True, "--pseudo/--no-pseudo", help="Allow a pseudo-label round when it pays."),
) -> None:
    """Train, choose and write the best submission that fits --time; rerun with a larger --time to go on."""
    from kit.autopilot import auto as run
    from kit.autopilot import format_duration
    from kit.cli.cv import warning_line
    from kit.cli.options import as_flags, notes_to
    from kit.errors import KitError

    try:
        with notes_to(warning_line), AutoView() as view:
            result = run(
                data,
                time,
                metric=metric,
                out=out,
                name=name,
                competition=competition,
                callbacks=[view],
                tta=tta,
                pseudo=pseudo,
            )
    except KitError as error:
        raise as_flags(error, AUTO_FLAGS) from None
    console.print(plan_table(result.members, result.metric, title="kit auto: members"))
    for decision in result.decisions:
        console.print(f"  {decision}", highlight=False, style="dim")
    local = "" if result.local_score is None else f"  local {result.metric} [bold green]{result.local_score:.4f}[/]"
    tta_note = f", TTA ×{result.tta}" if result.tta else ""
    console.print(
        f"[bold]{result.path}[/]: {result.way}{tta_note} of {len(result.used)} members — honest OOF {result.metric} "
        f"[bold green]{result.honest_score:.4f}[/]{local}  ({format_duration(result.elapsed)} of "
        f"{format_duration(result.budget)})",
        highlight=False,
    )
    console.print(f"why: {result.reason}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("auto")(auto)
