"""kit in a notebook: results' HTML and one-line reprs, a KitError's one line in IPython, the progress line updated in
place (and the library's default in a kernel), and a real notebook executed with nbclient, its outputs inspected."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import minimal_summary, tiny_recipe_toml
from kit.crossval import Inference, RunFolder, load_run
from kit.errors import KitError
from kit.submission._scoring import ClassScore, ScoreResult
from kit.utils import (
    Callback,
    CallbackList,
    ProgressBar,
    _callbacks,
    _display,
    as_callback_list,
    save_array,
    write_json,
)

OOF = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype=np.float32)
TEST = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32)
HOSTILE = "<script>alert(1)</script>"


def array_run(folder: Path, **changes) -> Path:
    """A finished run folder of arrays (no models), its summary changed by ``changes``."""
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    save_array(run.oof_path, OOF)
    save_array(run.labels_path, np.array([0, 1, 2, 1]))
    save_array(run.test_path, TEST)
    save_array(run.test_ids_path, np.arange(1, len(TEST) + 1))
    data = {"train_rows": len(OOF), "test_rows": len(TEST), "image_shape": [8, 8, 1], "classes": 3}
    write_json(run.summary_path, minimal_summary(data=data, test_fingerprint="test-rows", **changes))
    return folder


def one_line(text: str) -> str:
    assert "\n" not in text and "array(" not in text, text
    return text


def test_a_run_shows_its_scores_and_folds(tmp_path):
    result = load_run(array_run(tmp_path / "run", overrides={"train.epochs": 1}))
    assert one_line(repr(result)) == (
        f"CVResult(recipe='tiny', competition='digit-recognizer', oof_accuracy=0.5, folds=2, path='{tmp_path / 'run'}')"
    )
    page = result._repr_html_()
    assert "OOF accuracy" in page and "0.5000" in page and "train.epochs=1" in page
    assert page.count("<tr>") >= 3 and "val accuracy" in page  # the folds table: a header row and two folds
    hostile = dataclasses.replace(result, recipe_name=HOSTILE, overrides={"x": HOSTILE})
    assert HOSTILE not in hostile._repr_html_() and "&lt;script&gt;" in hostile._repr_html_()


def test_a_run_of_another_metric_shows_it_first(tmp_path):
    result = load_run(array_run(tmp_path / "run", metric="macro_f1", oof_score=0.25))
    assert "metric='macro_f1', oof_score=0.25, oof_accuracy=0.5" in one_line(repr(result))
    page = result._repr_html_()
    assert page.index("OOF macro_f1") < page.index("OOF accuracy")


def test_report_returns_its_paths_outside_a_notebook(tmp_path, monkeypatch):
    written = object()
    monkeypatch.setattr("kit.crossval._report.write_report", lambda path, data: written)
    shown = []
    monkeypatch.setattr("kit.crossval._results.show_images", lambda paths, title: shown.append(title))
    result = load_run(array_run(tmp_path / "run"))
    assert result.report() is written and not shown
    monkeypatch.setattr("kit.crossval._results.in_notebook", lambda: True)
    monkeypatch.setattr("kit.crossval._report.write_report", lambda path, data: _Report({"curves": path}, path))
    assert result.report() is None and len(shown) == 1
    assert result.report(show=False) is not None


@dataclasses.dataclass
class _Report:
    images: dict
    html: Path


def test_a_prediction_shows_members_weights_and_its_honest_score(tmp_path):
    from kit.ensemble import predict

    runs = [array_run(tmp_path / name) for name in ("a", "b")]
    prediction = predict(runs, out=tmp_path / "subs", auto_weights=True)
    text = one_line(repr(prediction))
    assert text.startswith(f"Prediction(path='{tmp_path / 'subs' / 'a+b-auto.csv'}', weighting='auto, in-sample'")
    assert f"honest_oof_score={round(prediction.ensemble.metric_scores['auto, cross-fitted'], 4)}" in text
    page = prediction._repr_html_()
    assert "auto, in-sample ← written" in page and "auto, cross-fitted ← its honest score" in page
    assert page.count(str(tmp_path / "a")) >= 1 and "test agreement" in page


def test_a_score_shows_its_per_class_table_escaped():
    per_class = (ClassScore("cat", 3, 1.0), ClassScore(HOSTILE, 2, 0.5))
    score = ScoreResult("macro_f1", 0.75, per_class, 5, 0.8, "solution.csv", "pets", ("a note",))
    assert one_line(repr(score)) == (
        "ScoreResult(metric='macro_f1', score=0.75, accuracy=0.8, rows=5, competition='pets')"
    )
    page = score._repr_html_()
    assert "0.7500" in page and "a note" in page and "&lt;script&gt;" in page and HOSTILE not in page
    assert "<th" in ScoreResult("accuracy", 0.5, (), 2, 0.5, "s.csv", "pets")._repr_html_()


def test_an_inference_shows_its_engine_and_speed(tmp_path):
    inference = Inference(tmp_path, np.full((1000, 10), 0.1, dtype=np.float32), "xla", "float32", 2, 0.5)
    assert one_line(repr(inference)) == (
        f"Inference(run='{tmp_path}', engine='xla', precision='float32', rows=1000, models=2, images_per_s=2000)"
    )
    assert "2,000 images/s" in inference._repr_html_()


def test_a_kit_error_renders_as_its_one_line_in_ipython():
    error = KitError.invalid("folds", "a whole number", "two", fix=("folds", 5))
    assert error._render_traceback_() == ["KitError: folds: must be a whole number, got 'two'; pass folds=5"]


class _Handle:
    def __init__(self, shown: list) -> None:
        self.shown = shown

    def update(self, bundle: dict, raw: bool) -> None:
        self.shown.append(("update", bundle))


def _displays(monkeypatch) -> list:
    """Record what IPython's display and its handles would show."""
    import IPython.display

    shown: list = []

    def display(bundle, raw=False, display_id=None):
        assert raw and display_id is True
        shown.append(("display", bundle))
        return _Handle(shown)

    monkeypatch.setattr(IPython.display, "display", display)
    return shown


def _a_cv_run(bar: Callback, folds: int = 3, epochs: int = 4) -> None:
    bar.on_phase("decode train images", 0, 10)
    bar.on_run_begin("cv", folds, epochs)
    for fold in range(1, folds + 1):
        bar.on_fold_begin(fold)
        for epoch in range(1, epochs + 1):
            bar.on_epoch_end(fold, epoch, {"val_accuracy": 0.5 + epoch / 10})
        bar.on_fold_end(type("Score", (), {"val_accuracy": 0.9})(), resumed=False)
    bar.on_run_end()


def test_the_notebook_progress_is_one_display_updated_in_place(monkeypatch):
    shown = _displays(monkeypatch)
    _a_cv_run(ProgressBar(notebook=True))
    assert [kind for kind, _ in shown].count("display") == 1
    assert len(shown) == 1 + 1 + 3 * (4 + 1) + 1  # decode, begin, epochs and folds, the end
    final = shown[-1][1]
    assert re.fullmatch(r"cv: done in \d+ s, 3/3", final["text/plain"])
    assert 'value="1.000"' in final["text/html"]


def test_the_terminal_progress_is_one_rewritten_line(monkeypatch):
    shown = _displays(monkeypatch)
    stream = io.StringIO()
    _a_cv_run(ProgressBar(stream))
    assert not shown
    lines = stream.getvalue().split("\r")[1:]
    assert lines[-1].startswith("cv: done in") and lines[-1].endswith("\n")
    assert any(line.startswith("cv [" + "#" * 24 + "] 3/3 done val_acc 0.9000") for line in lines)


def test_no_callbacks_means_a_progress_bar_in_a_kernel_only(monkeypatch):
    assert not as_callback_list(())
    monkeypatch.setattr(_callbacks, "in_notebook", lambda: True)
    for given in ((), None, []):
        [bar] = as_callback_list(given).callbacks
        assert isinstance(bar, ProgressBar) and bar.notebook
    silent = CallbackList()
    assert as_callback_list(silent) is silent and not silent
    assert [type(c) for c in as_callback_list(Callback()).callbacks] == [Callback]


def test_in_notebook_is_false_outside_a_kernel():
    assert not _display.in_notebook()


NOTEBOOK_CELLS = [
    "import kit\ndata = kit.demo_data('data/demo')",
    "run = kit.cv('tiny', data, epochs=2, folds=2, out='runs/tiny', jobs=1)",
    "run",
    "prediction = kit.predict(['runs/tiny'], name='tiny', out='subs')\nprediction",
    "kit.score('subs/tiny.csv', data=data)",
    "kit.cv('tiny', data, folds='two')",
    "run.report()",
    "kit.ProgressBar().notebook",
]


@pytest.mark.slow
def test_a_notebook_shows_results_progress_errors_and_figures(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny.toml").write_text(tiny_recipe_toml("a tiny notebook run", batch_size=64))
    cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    cells[5].metadata["tags"] = ["raises-exception"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    setup, cv, shown, predicted, scored, error, report, bar = (cell.outputs for cell in notebook.cells)
    assert not [output for output in setup if output.output_type == "error"]

    progress = [output for output in cv if output.output_type == "display_data"]
    assert len(progress) == 1 and re.fullmatch(r"cv: done in \d+ s, 2/2", progress[0].data["text/plain"])
    assert not any("\r" in output.get("text", "") for output in cv)

    [result] = shown
    assert (
        "OOF accuracy" in result.data["text/html"] and "CVResult · tiny on digit-recognizer" in result.data["text/html"]
    )
    assert result.data["text/plain"].startswith("CVResult(recipe='tiny'") and "\n" not in result.data["text/plain"]

    [ensemble] = [output for output in predicted if output.output_type == "execute_result"]
    assert ensemble.data["text/plain"].startswith("Prediction(path='subs/tiny.csv'")
    [score] = scored
    assert (
        score.data["text/plain"].startswith("ScoreResult(metric='accuracy'") and "per" not in score.data["text/plain"]
    )
    assert "<table" in score.data["text/html"]

    [failure] = error
    assert failure.output_type == "error" and failure.ename == "KitError"
    assert failure.traceback == ["KitError: folds: must be a whole number, got 'two'"]

    images = [output for output in report if "image/png" in output.get("data", {})]
    assert len(images) >= 4 and not [output for output in report if output.output_type == "execute_result"]
    assert (tmp_path / "runs" / "tiny" / "report.html").is_file()
    assert bar[0].data["text/plain"] == "True"  # kit.ProgressBar() knows it is in a kernel
