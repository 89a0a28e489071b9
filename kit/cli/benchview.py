"""What `kit bench` shows: a live bar per bench phase, the contenders' table (with the start-up time of
`kit cv --help` in its caption) and the notes under it, and the runs and lines of ``kit bench --images-only`` and
``--backbones-only``. The command itself is in :mod:`kit.cli.tune`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from kit.benchmark import ENSEMBLE_TARGET
from kit.cli.render import RichProgress, console

ENGINE_NAMES = {"tflite": "TensorFlow Lite, XNNPACK", "keras": "Keras"}

if TYPE_CHECKING:
    from kit.benchmark import BackboneBench, BenchResult, ImageBench


class PhaseDisplay(RichProgress):
    """The live display of a bench: a bar per phase, and the bar over phases advancing as each one completes."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: set[str] = set()

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        super().on_phase(name, done, total)
        if total is not None and done >= total and name not in self.finished:
            self.finished.add(name)
            if self.overall is not None:
                self.progress.advance(self.overall)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def startup_line(result: BenchResult) -> str | None:
    startup = result.cli_startup
    if startup is None:
        return None
    runs = ", ".join(f"{seconds:.2f}" for seconds in startup.seconds)
    verdict = "met" if startup.met else "missed"
    return (
        f"`kit cv --help` starts in {startup.median:.2f} s (median of {runs}; "
        f"target ≤ {startup.target:.0f} s: {verdict})"
    )


def bench_table(result: BenchResult) -> Table:
    """The contenders side by side (OOF acc: median pooled out-of-fold accuracy over the seeds, ± half their range;
    fold s: median seconds a fold trained; train/s and infer/s: images per second; to nb s: seconds a fold took to
    the notebook pipeline's final accuracy); the caption names the machine and the CLI's start-up time."""
    rows = result.data
    predictions = result.notebook.seeds[0].predictions if result.notebook.seeds else rows.validation_rows
    title = (
        f"time to accuracy: {result.folds} folds of {rows.train_rows:,} + {rows.validation_rows:,} images, "
        f"{predictions:,} predictions × {len(result.seeds)} seed(s)"
    ) + (" (rows repeated: speed only)" if rows.replicated else "")
    caption = "\n".join(line for line in (startup_line(result), result.machine) if line)
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    table.add_column("pipeline", overflow="fold", min_width=14)
    for column in ("OOF acc", "fold s", "train/s", "to nb s", "infer/s", "MiB"):
        table.add_column(column, justify="right")
    for contender in result.contenders:
        matched = "—" if contender is result.notebook else _seconds(contender.matched_at)
        spread = contender.spread or (contender.val_accuracy, contender.val_accuracy)
        table.add_row(
            contender.name,
            f"{contender.val_accuracy:.4f}±{(spread[1] - spread[0]) / 2:.4f}",
            f"{contender.wall_seconds:.1f}",
            f"{contender.train_images_per_s:,.0f}",
            matched,
            f"{contender.inference_images_per_s:,.0f}",
            f"{contender.peak_rss_mib:,.0f}",
        )
    return table


def bench_notes(result: BenchResult) -> list[str]:
    """The headline ratios, the overrides, the options' worth and the full-size CV estimate, one line each."""
    ratio, target = result.time_to_notebook_accuracy_ratio, result.ratio_target
    lines = [
        "kit never reached the notebook's accuracy"
        if ratio is None
        else f"kit matched the notebook's final accuracy in {ratio:.2f} of its full time (target ≤ {target:.2f}: "
        + ("met)" if ratio <= target else "missed)")
    ]
    first = result.first_reach_ratio
    if first is not None:
        verdict = "met" if first <= result.first_reach_target else "missed"
        lines.append(
            f"… and in {first:.2f} of the time the notebook itself first reached it "
            f"(target ≤ {result.first_reach_target:.2f}: {verdict})"
        )
    for contender in result.contenders[1:]:
        if contender.ensemble_images_per_s:
            rate, engine = contender.ensemble_images_per_s, ENGINE_NAMES.get(contender.ensemble_engine or "keras", "")
            lines.append(
                f"{contender.name}: all {result.folds} fold models as one graph ({engine}) predict {rate:,.0f} test "
                f"images/s in float32 (target ≥ {ENSEMBLE_TARGET:,}: {'met' if rate >= ENSEMBLE_TARGET else 'missed'})"
            )
            quantized, agreement = contender.ensemble_int8_images_per_s, contender.ensemble_int8_agreement
            if quantized and agreement is not None:
                lines.append(
                    f"… {quantized:,.0f} images/s quantized to int8 (`--precision int8`), predicting the same class "
                    f"as float32 for {agreement:.2%} of them ({'met' if quantized >= ENSEMBLE_TARGET else 'missed'})"
                )
    if result.overrides:
        lines.append("recipe overrides: " + ", ".join(f"{key}={value!r}" for key, value in result.overrides.items()))
    busiest, cores = max(result.load_average), os.cpu_count() or 1
    if busiest > cores:
        lines.append(f"the machine was busy (load average {busiest:.1f} on {cores} cores): all times are pessimistic")
    lines += option_notes(result.option_images_per_s, result.option_warmup_seconds)
    lines += [f"{label}: {verdict}" for label, verdict in result.verdicts.items()]
    estimate = result.cv_estimate
    if estimate:
        minutes, limit = estimate.estimated_seconds / 60, estimate.target_seconds / 60
        run = f"{estimate.folds}-fold `kit cv {result.recipe}` on {estimate.train_rows:,} rows"
        lines.append(
            f"ESTIMATE, {run} × {estimate.epochs} epochs: {minutes:.1f} min (target ≤ {limit:.0f}; "
            f"measured 1-epoch run {estimate.one_epoch_wall_seconds / 60:.1f} min), peak RSS "
            f"{estimate.peak_rss_mib / 1024:.2f} GiB measured (target ≤ {estimate.target_rss_mib / 1024:.0f})"
        )
    full = result.full_size
    if full:
        ours, baseline = full.runs
        verdict = "met" if full.ratio <= full.ratio_target and ours.peak_rss_mib <= full.target_rss_mib else "missed"
        lines.append(
            f"full size, {full.folds}-fold `kit cv` on {full.train_rows:,} rows (+{full.test_rows:,} test): "
            f"{ours.recipe} --jobs {ours.jobs} {ours.wall_seconds / 60:.1f} min (peak memory "
            f"{ours.peak_rss_mib / 1024:.2f} GiB) against {baseline.recipe} --jobs {baseline.jobs} "
            f"{baseline.wall_seconds / 60:.1f} min ({baseline.peak_rss_mib / 1024:.2f} GiB): "
            f"{full.ratio:.2f}× (target ≤ {full.ratio_target:.1f}×, ≤ {full.target_rss_mib / 1024:.0f} GiB: {verdict})"
        )
    lines += image_lines(result.images) if result.images else []
    return lines + (backbone_lines(result.backbones) if result.backbones else [])


def bench_images(out: Path) -> None:
    """``kit bench --images-only``: the image-file phase with a live bar, its lines, and its figures written as the
    ``images`` entry of ``out/bench.json`` (the rest of a bench.json there is kept)."""
    from kit.benchmark import BENCH_FILE, run_image_bench, save_image_bench
    from kit.utils import CallbackList

    with PhaseDisplay() as progress:
        progress.on_run_begin("bench", 1, None)
        result = run_image_bench(callbacks=CallbackList([progress]))
        progress.on_run_end()
    loads = ", ".join(f"{load:.1f}" for load in result.load_average)
    for line in [f"{result.machine}; load average {loads} (before, after)", *image_lines(result)]:
        console.print(line, highlight=False)
    console.print(f"wrote {save_image_bench(result, Path(out) / BENCH_FILE)}", highlight=False)


def image_lines(images: ImageBench) -> list[str]:
    """The image-file phase, one line per figure: the cache build rate, the epoch streamed from the cache against
    in memory, and the larger-than-memory set's epoch with its peak memory."""
    build = images.build
    shape = "×".join(map(str, build.shape))
    lines = [
        f"image cache: {build.rows:,} {build.source_side}×{build.source_side} JPEGs decoded to {shape} at "
        f"{build.images_per_s:,.0f} images/s (median of {len(build.seconds)} build(s) from scratch: "
        f"{', '.join(f'{seconds:.1f}' for seconds in build.seconds)} s; {build.cache_gib:.2f} GiB)"
    ]
    epoch = images.epoch
    if epoch:
        verdict = "met" if epoch.ratio <= epoch.target else "missed"
        same = "the same numbers" if epoch.same_numbers else "DIFFERENT numbers"
        lines.append(
            f"one {epoch.recipe} epoch ({epoch.train_rows:,} + {epoch.val_rows:,} images): read from the cache file "
            f"batch by batch {epoch.streamed_seconds:.1f} s, from an array in memory {epoch.memory_seconds:.1f} s: "
            f"{epoch.ratio:.2f}× (target ≤ {epoch.target:.1f}×: {verdict}), {same}"
        )
    large = images.large
    if large:
        verdict = "met" if large.peak_mib <= large.target_mib else "missed"
        lines.append(
            f"larger than the memory budget ({images.memory_budget_bytes / 2**30:.1f} GiB): {large.build.rows:,} "
            f"images, a {large.build.cache_gib:.2f} GiB cache built at {large.build.images_per_s:,.0f} images/s, "
            f"1 epoch of {large.folds} folds of {large.recipe} in {large.wall_seconds / 60:.1f} min with peak memory "
            f"{large.peak_mib / 1024:.2f} GiB (target ≤ {large.target_mib / 1024:.0f} GiB: {verdict}; {large.measured})"
        )
    return lines


def bench_backbones(out: Path) -> None:
    """``kit bench --backbones-only``: the backbone phase with a live bar, its lines, and its figures written as the
    ``backbones`` entry of ``out/bench.json`` (the rest of a bench.json there is kept)."""
    from kit.benchmark import BENCH_FILE, run_backbone_bench, save_backbone_bench
    from kit.utils import CallbackList

    with PhaseDisplay() as progress:
        progress.on_run_begin("bench", 1, None)
        result = run_backbone_bench(callbacks=CallbackList([progress]))
        progress.on_run_end()
    loads = ", ".join(f"{load:.1f}" for load in result.load_average)
    header = f"{result.machine}; load average {loads} (before, after); {result.wall_seconds / 60:.1f} min"
    for line in [header, *backbone_lines(result)]:
        console.print(line, highlight=False)
    console.print(f"wrote {save_backbone_bench(result, Path(out) / BENCH_FILE)}", highlight=False)


def backbone_lines(bench: BackboneBench) -> list[str]:
    """The backbone phase: one line per backbone of its training images/s by side and precision, one per backbone of
    the bf16 verdict (bf16's rate over float32's), and the 5-fold ensemble's inference rate."""
    rates: dict[str, dict[int, dict[str, float]]] = {}
    for rate in bench.training:
        rates.setdefault(rate.backbone, {}).setdefault(rate.side, {})[rate.precision] = rate.images_per_s
    first = bench.training[0] if bench.training else None
    lines = []
    if first:
        lines.append(
            f"backbones' training images/s ({bench.weights}; batches of {first.batch}; the median of "
            f"{len(first.seconds)} timings after a warm-up; deterministic ops: {bench.deterministic_ops}):"
        )
    for backbone, sides in rates.items():
        shown = "; ".join(
            f"{side}×{side} " + ", ".join(f"{precision} {rate:,.1f}" for precision, rate in by_precision.items())
            for side, by_precision in sides.items()
        )
        lines.append(f"  {backbone}: {shown}")
    lines += [f"  {verdict.verdict}" for verdict in bench.verdicts]
    ensemble = bench.ensemble
    if ensemble:
        engine = ENGINE_NAMES.get(ensemble.engine, ensemble.engine)
        line = (
            f"{ensemble.folds}-fold {ensemble.backbone} ensemble at {ensemble.side}×{ensemble.side} (random weights) "
            f"as one graph ({engine}): {ensemble.images_per_s:,.0f} test images/s in float32 on {ensemble.rows:,}"
        )
        if ensemble.int8_images_per_s is not None and ensemble.int8_agreement is not None:
            line += (
                f", {ensemble.int8_images_per_s:,.0f} quantized to int8 (the float32 class for "
                f"{ensemble.int8_agreement:.2%})"
            )
        lines.append(line + (f"; fell back: {ensemble.fallback}" if ensemble.fallback else ""))
    return lines


def option_notes(rates: Mapping[str, float], warmups: Mapping[str, float] | None = None) -> list[str]:
    if not rates:
        return []
    warmups = warmups or {}
    shown = ", ".join(
        f"{label} {rate:,.0f}" + (f" ({warmups[label]:.1f} s to start)" if label in warmups else "")
        for label, rate in rates.items()
    )
    share = rates["float32"] / rates["input pipeline alone"]
    return [
        f"training img/s by option (determinism off unless named): {shown}",
        (
            f"input pipeline alone is {share:.0%} of float32 training's cost: caching it could save at most that "
            "(augmentation is random per epoch, so only the decoded uint8 images could be cached; they already are)"
        ),
    ]
