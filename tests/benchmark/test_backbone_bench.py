"""The bench's backbone phase: on a tiny configuration (a smoke test, not a timing), its verdicts, its lines, and
``kit bench --backbones-only`` merging its entry into an existing bench.json."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import kit.benchmark
from kit.benchmark._backbones import (
    BFLOAT16,
    FLOAT32,
    BackboneBench,
    EnsembleRate,
    TrainingRate,
    precision_verdicts,
    run_backbone_bench,
)
from kit.cli import app
from kit.cli.benchview import backbone_lines


def rate(backbone: str, side: int, precision: str, images_per_s: float) -> TrainingRate:
    return TrainingRate(backbone, side, precision, 32, 2, (1.0, 1.1, 0.9), images_per_s, 5.0)


def made_up() -> BackboneBench:
    training = (
        rate("ResNet50", 96, FLOAT32, 20.0),
        rate("ResNet50", 96, BFLOAT16, 30.0),
        rate("ResNet50", 224, FLOAT32, 4.0),
        rate("ResNet50", 224, BFLOAT16, 3.0),
        rate("MobileNetV3Small", 96, FLOAT32, 100.0),
        rate("MobileNetV3Small", 96, BFLOAT16, 102.0),
    )
    ensemble = EnsembleRate("MobileNetV3Small", 96, 5, 2000, "tflite", 600.0, 400.0, 0.975)
    return BackboneBench("2-core test CPU", training, ensemble, precision_verdicts(training), load_average=(1.0, 1.5))


def test_verdicts_give_bf16_over_float32_per_side_in_words():
    resnet, mobilenet = made_up().verdicts
    assert (resnet.backbone, resnet.sides, resnet.speedups) == ("ResNet50", (96, 224), (1.5, 0.75))
    assert "faster at 96×96 (1.50×), slower at 224×224 (0.75×)" in resnet.verdict
    assert resnet.verdict.endswith("the faster precision depends on the side")
    assert mobilenet.speedups == (1.02,) and "as fast at 96×96 (1.02×) → no gain from bfloat16" in mobilenet.verdict
    only_float32 = precision_verdicts([rate("ResNet50", 96, FLOAT32, 20.0)])
    assert only_float32 == ()  # nothing to compare
    sides = [rate("B0", 96, FLOAT32, 10.0), rate("B0", 96, BFLOAT16, 10.1), rate("B0", 224, FLOAT32, 2.0)]
    (faster,) = precision_verdicts([*sides, rate("B0", 224, BFLOAT16, 3.0)])
    assert faster.verdict.endswith("as fast at 96×96 (1.01×), faster at 224×224 (1.50×) → train it in mixed_bfloat16")
    (slower,) = precision_verdicts([*sides, rate("B0", 224, BFLOAT16, 1.0)])
    assert slower.verdict.endswith("slower at 224×224 (0.50×) → train it in float32")


def test_the_lines_show_every_rate_the_verdicts_and_the_ensemble():
    lines = backbone_lines(made_up())
    assert "batches of 32" in lines[0] and "median of 3 timings" in lines[0]
    assert lines[1] == "  ResNet50: 96×96 float32 20.0, mixed_bfloat16 30.0; 224×224 float32 4.0, mixed_bfloat16 3.0"
    assert lines[2] == "  MobileNetV3Small: 96×96 float32 100.0, mixed_bfloat16 102.0"
    assert lines[3].startswith("  ResNet50: mixed bfloat16 against float32") and "train it" not in lines[3]
    assert lines[-1] == (
        "5-fold MobileNetV3Small ensemble at 96×96 (random weights) as one graph (TensorFlow Lite, XNNPACK): 600 "
        "test images/s in float32 on 2,000, 400 quantized to int8 (the float32 class for 97.50%)"
    )


@pytest.mark.slow
def test_the_phase_runs_on_a_tiny_configuration_and_reports_its_fields():
    """One backbone at 32×32 in float32 (the verdicts are checked above), one step per timing, and a 2-fold ensemble
    on 16 images: ~25 s on an idle 2-core CPU, most of it tracing the train step and converting the graphs."""
    from kit.utils import CallbackList

    seen = []

    class Listener:
        def on_phase(self, name, done, total):
            seen.append((name, done, total))

    result = run_backbone_bench(
        ["MobileNetV3Small"], [32], [FLOAT32], batch=4, steps=1, repeats=2, ensemble=("MobileNetV3Small", 32, 2, 16),
        callbacks=CallbackList([Listener()]),
    )  # fmt: skip
    (measured,) = result.training
    assert (measured.backbone, measured.side, measured.precision) == ("MobileNetV3Small", 32, FLOAT32)
    assert (measured.batch, measured.steps, len(measured.seconds)) == (4, 1, 2)
    assert measured.images_per_s > 0 and measured.warmup_seconds > 0 and result.verdicts == ()
    ensemble = result.ensemble
    assert (ensemble.backbone, ensemble.side, ensemble.folds, ensemble.rows) == ("MobileNetV3Small", 32, 2, 16)
    assert ensemble.engine in ("tflite", "keras") and ensemble.images_per_s > 0
    assert (ensemble.int8_images_per_s is None) == (ensemble.int8_agreement is None)
    assert len(result.load_average) == 2 and result.wall_seconds > 0 and "TensorFlow" in result.machine
    assert seen[0] == ("backbones", 0, 2) and seen[-1] == ("backbones", 2, 2)


def test_backbones_only_merges_its_entry_into_an_existing_bench_json(tmp_path, monkeypatch):
    result = made_up()
    monkeypatch.setattr(kit.benchmark, "run_backbone_bench", lambda **_: result)
    before = {"recipe": "turbo", "contenders": [{"name": "notebook", "val_accuracy": 0.99}], "images": None}
    (tmp_path / "bench.json").write_text(json.dumps(before, indent=2) + "\n")
    done = CliRunner().invoke(app, ["bench", "--backbones-only", "--out", str(tmp_path)], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    assert "2-core test CPU; load average 1.0, 1.5 (before, after)" in done.output
    assert "ResNet50: 96×96 float32 20.0, mixed_bfloat16 30.0" in done.output and "600 test images/s" in done.output
    written = json.loads((tmp_path / "bench.json").read_text())
    assert list(written) == [*before, "backbones"] and {key: written[key] for key in before} == before
    assert written["backbones"]["training"][0]["images_per_s"] == 20.0
    assert written["backbones"]["ensemble"]["int8_agreement"] == 0.975
    assert written["backbones"]["verdicts"][0]["speedups"] == [1.5, 0.75]


def test_quick_skips_the_backbone_phase_and_a_full_bench_runs_it(monkeypatch):
    asked = []

    def run_bench(*args, **options):
        asked.append(options["backbones"])
        raise SystemExit(0)

    monkeypatch.setattr(kit.benchmark, "run_bench", run_bench)
    for flags in (["--quick"], [], ["--no-backbones"]):
        CliRunner().invoke(app, ["bench", *flags, "--out", "."])
    assert asked == [False, True, False]
