"""Every kind of submission of the generated image-file competitions — one label, the probability of class 1, one
probability per class, the top k, a multi-label row's labels — written from fabricated probabilities in the sample
submission's order and columns, checked cell by cell, and scored by ``kit.score`` exactly as scikit-learn scores the
same arrays."""

from __future__ import annotations

import json
from dataclasses import replace

import image_data
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    cohen_kappa_score,
    f1_score,
    label_ranking_average_precision_score,
    log_loss,
    roc_auc_score,
)

import kit
from kit.competitions import load_spec
from kit.errors import KitError
from kit.submission import (
    check_submission,
    chosen_labels,
    expected_ids,
    read_submission,
    score_submission,
    write_predictions,
    write_submission,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each layout's folder (built once), its spec written beside the data as competition.toml."""
    folders = {}
    for layout in image_data.LAYOUTS:
        made = image_data.build(layout, tmp_path_factory.mktemp(layout))
        image_data.write_spec(made)
        folders[layout] = made
    return folders


def spec_of(made):
    return load_spec(made.folder / "competition.toml")


def truth_of(made, spec):
    """The answers of solution.csv as class indices (a 0/1 matrix for a multi-label task), in its row order."""
    solution = pd.read_csv(made.folder / "solution.csv", dtype=str)
    columns = list(spec.submission_columns[1:])
    if spec.submission_kind == "probabilities":
        matrix = solution[columns].astype(int).to_numpy()
        return matrix if spec.multilabel else matrix.argmax(axis=1)
    values = solution[columns[0]]
    if spec.submission_kind == "probability":
        return values.astype(int).to_numpy()
    names = [str(value) for value in spec.class_values]
    return np.array([names.index(value) for value in values])


def fabricate(truth, classes, seed=0, multilabel=False):
    """Noisy probabilities near the truth: softmax rows (a fifth of them wrong), or sigmoid rows for multi-label."""
    rng = np.random.default_rng(seed)
    if multilabel:
        proba = np.clip(0.35 * truth + rng.uniform(0.05, 0.6, truth.shape), 0.01, 0.99)
        proba[0] = [0.2, 0.1, 0.3, 0.4]  # no label reaches 0.5: the most probable one is written
        return proba
    wrong = rng.random(len(truth)) < 0.2
    picked = np.where(wrong, (truth + rng.integers(1, classes, len(truth))) % classes, truth)
    proba = 0.5 * np.eye(classes)[picked] + 0.5 * rng.dirichlet(np.ones(classes), len(truth))
    return proba / proba.sum(axis=1, keepdims=True)


def write(made, spec, proba, path, labels=None, seed=1):
    """Write through the writer with the rows shuffled: it must put them back in the sample's order."""
    ids = np.array(made.test_ids, dtype=object)
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = None if labels is None else np.asarray(labels)[order]
    expected = expected_ids(made.folder, spec)
    write_predictions(ids[order], proba[order], path, spec, expected=expected, labels=shuffled)
    return path


def read_back(made, path):
    """The written CSV as text, after checking its columns and ids against the sample submission's."""
    sample = pd.read_csv(made.folder / "sample_submission.csv", dtype=str)
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(written.columns) == list(sample.columns)
    assert written.iloc[:, 0].tolist() == sample.iloc[:, 0].tolist()
    return written


def map_at_k(truth, proba, k):
    ranked = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    hits = ranked == truth[:, None]
    return float(np.mean(np.where(hits.any(axis=1), 1.0 / (hits.argmax(axis=1) + 1), 0.0)))


def test_a_label_submission_of_class_values_scored_by_micro_f1(built, tmp_path):
    made = built["seedlings"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes)
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    assert written["species"].tolist() == [spec.class_values[k] for k in proba.argmax(axis=1)]
    result = kit.score(tmp_path / "sub.csv", data=made.folder)
    assert result.metric == "micro_f1" and result.holds == "labels" and result.rows == len(truth)
    assert result.score == pytest.approx(f1_score(truth, proba.argmax(axis=1), average="micro"), abs=1e-12)
    assert sum(row.count for row in result.per_class) == len(truth)  # a per-class table for a single-label task
    sidecar = json.loads((tmp_path / "sub.json").read_text())
    assert sidecar["local_score"]["metric"] == "micro_f1"


@pytest.mark.parametrize(("layout", "metric"), [("cactus", roc_auc_score), ("dogs-vs-cats", log_loss)])
def test_the_probability_of_class_1_in_full_precision(built, tmp_path, layout, metric):
    made = built[layout]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, 2, seed=2)
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    column = spec.submission_columns[1]
    assert written[column].astype(float).tolist() == proba[:, 1].tolist()  # every digit, not rounded
    result = kit.score(tmp_path / "sub.csv", data=made.folder)
    assert result.metric == spec.metric and result.holds == "probabilities"
    assert result.score == pytest.approx(metric(truth, proba[:, 1]), abs=1e-12)
    frame = read_submission(tmp_path / "sub.csv", spec, expected_ids(made.folder, spec))
    assert frame[column].dtype == np.float64


def test_per_class_probabilities_in_class_order(built, tmp_path):
    made = built["dog-breed"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes, seed=3).astype(np.float32)  # float32 keeps its own shortest digits
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    values = written[list(spec.submission_columns[1:])].astype(np.float32).to_numpy()
    assert np.array_equal(values, proba)
    result = kit.score(tmp_path / "sub.csv", data=made.folder)
    read = written[list(spec.submission_columns[1:])].astype(float).to_numpy()
    assert result.metric == "log_loss"
    assert result.score == pytest.approx(log_loss(truth, read / read.sum(axis=1, keepdims=True)), abs=1e-12)
    assert result.accuracy == pytest.approx(np.mean(read.argmax(axis=1) == truth))


def test_multilabel_probabilities_scored_by_mean_roc_auc(built, tmp_path):
    made = built["pathology"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes, multilabel=True)
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    assert np.array_equal(written[list(spec.class_values)].astype(float).to_numpy(), proba)
    result = kit.score(tmp_path / "sub.csv", data=made.folder)
    defined = [j for j in range(spec.classes) if 0 < truth[:, j].sum() < len(truth)]
    expected = np.mean([roc_auc_score(truth[:, j], proba[:, j]) for j in defined])
    assert result.metric == "mean_roc_auc" and result.score == pytest.approx(expected, abs=1e-12)
    assert result.per_class == ()  # no per-class accuracy table for a multi-label task
    assert result.accuracy == pytest.approx(np.mean(((proba >= 0.5) == truth).all(axis=1)))


def test_ordinal_grades_from_the_argmax_or_from_given_labels(built, tmp_path):
    made = built["aptos"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes, seed=4)
    written = read_back(made, write(made, spec, proba, tmp_path / "argmax.csv"))
    assert written["diagnosis"].astype(int).tolist() == proba.argmax(axis=1).tolist()
    result = kit.score(tmp_path / "argmax.csv", data=made.folder)
    kappa = cohen_kappa_score(truth, proba.argmax(axis=1), weights="quadratic", labels=np.arange(5))
    assert result.metric == "qwk" and result.score == pytest.approx(kappa, abs=1e-12)
    grades = np.clip(np.round(proba @ np.arange(5)), 0, 4).astype(int)  # e.g. fitted thresholds' grades
    written = read_back(made, write(made, spec, proba, tmp_path / "thresholds.csv", labels=grades))
    assert written["diagnosis"].astype(int).tolist() == grades.tolist()
    result = kit.score(tmp_path / "thresholds.csv", data=made.folder)
    assert result.score == pytest.approx(cohen_kappa_score(truth, grades, weights="quadratic", labels=np.arange(5)))


def test_the_top_k_labels_best_first_scored_by_map_at_5(built, tmp_path):
    made = built["whale"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes, seed=5)
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    ranked = np.argsort(-proba, axis=1, kind="stable")[:, :5]
    assert written["Id"].tolist() == [" ".join(spec.class_values[k] for k in row) for row in ranked]
    result = kit.score(tmp_path / "sub.csv", data=made.folder)
    assert result.metric == "map_at_5" and result.holds == "ranking"
    assert result.score == pytest.approx(map_at_k(truth, proba, 5), abs=1e-12)
    in_top_5 = (ranked == truth[:, None]).any(axis=1)
    assert 0 < in_top_5.sum() < len(truth)
    # MAP@5: scikit-learn's label ranking average precision (1 / rank of the one true label) where the true label
    # is among the first five, 0 elsewhere
    ranking = label_ranking_average_precision_score(np.eye(10)[truth], proba, sample_weight=in_top_5)
    assert result.score == pytest.approx(ranking * in_top_5.mean(), abs=1e-12)
    assert result.accuracy == pytest.approx(np.mean(ranked[:, 0] == truth))
    top1 = kit.score(tmp_path / "sub.csv", data=made.folder, metric="accuracy", record=False)
    assert top1.score == pytest.approx(np.mean(ranked[:, 0] == truth))


def test_ties_in_the_top_k_go_to_the_lower_class_index(built, tmp_path):
    made = built["whale"]
    spec = spec_of(made)
    proba = np.full((len(made.test_ids), 10), 0.1)
    proba[:, 7] = 0.1 + 1e-9
    written = read_back(made, write(made, spec, proba, tmp_path / "tie.csv"))
    assert set(written["Id"]) == {" ".join(spec.class_values[k] for k in (7, 0, 1, 2, 3))}


@pytest.fixture
def pathology_labels(tmp_path):
    """The pathology competition submitting labels: each image's diseases separated by spaces."""
    made = image_data.build("pathology", tmp_path / "pathology")
    made.spec["metric"] = "micro_f1"
    made.spec["submission"] = {"kind": "label"}
    made.spec["columns"]["submission"] = ["image_id", "diseases"]
    image_data.write_spec(made)
    ids = made.test_ids
    pd.DataFrame({"image_id": ids, "diseases": ["healthy"] * len(ids)}).to_csv(
        made.folder / "sample_submission.csv", index=False
    )
    return made


def test_multilabel_labels_at_one_half_and_the_best_where_none(pathology_labels, tmp_path):
    made = pathology_labels
    spec = spec_of(made)
    solution = pd.read_csv(made.folder / "solution.csv")
    truth = solution[list(image_data.DISEASES)].to_numpy()
    proba = fabricate(truth, 4, multilabel=True)
    written = read_back(made, write(made, spec, proba, tmp_path / "sub.csv"))
    chosen = chosen_labels(proba, spec)
    assert written["diseases"].iloc[0] == "scab"  # none reaches 0.5: the most probable
    assert written["diseases"].tolist() == [" ".join(np.array(image_data.DISEASES)[row == 1]) for row in chosen]
    expected = f1_score(truth, chosen, average="micro")
    result = kit.score(tmp_path / "sub.csv", data=made.folder)  # answers: solution.csv's 0/1 columns
    assert result.metric == "micro_f1" and result.score == pytest.approx(expected, abs=1e-12) and not result.per_class
    answers = tmp_path / "answers.csv"
    cells = [" ".join(np.array(image_data.DISEASES)[row == 1]) for row in truth]
    pd.DataFrame({"image_id": solution["image_id"], "diseases": cells}).to_csv(answers, index=False)
    again = kit.score(tmp_path / "sub.csv", solution=answers, data=made.folder, record=False)
    assert again.score == result.score  # answers as a column of labels separated by spaces
    given = np.eye(4, dtype=int)[np.arange(len(truth)) % 4]  # labels from fitted per-label thresholds
    written = read_back(made, write(made, spec, proba, tmp_path / "given.csv", labels=given))
    assert written["diseases"].tolist() == [image_data.DISEASES[k % 4] for k in range(len(truth))]


def test_write_submission_takes_ranked_indices_and_label_matrices(built, pathology_labels, tmp_path):
    whale = spec_of(built["whale"])
    ids = np.array(built["whale"].test_ids[:2])
    frame = write_submission(ids, np.array([[3, 1, -1, -1, -1], [0, 2, 4, 6, 8]]), tmp_path / "w.csv", whale)
    assert frame["Id"].tolist() == ["w_0000003 w_0000001", "w_0000000 w_0000002 w_0000004 w_0000006 w_0000008"]
    frame = write_submission(ids, np.array(["w_0000009", "w_0000001"]), tmp_path / "one.csv", whale)
    assert frame["Id"].tolist() == ["w_0000009", "w_0000001"]
    pathology = spec_of(pathology_labels)
    labels = np.array([[1, 0, 0, 1], [0, 0, 0, 0]])
    frame = write_submission(np.array(["Test_0", "Test_1"]), labels, tmp_path / "p.csv", pathology)
    assert frame["diseases"].tolist() == ["healthy scab", ""]  # a row of no labels is allowed
    assert read_submission(tmp_path / "p.csv", pathology)["diseases"].tolist() == ["healthy scab", ""]
    cactus = spec_of(built["cactus"])
    with pytest.raises(KitError, match=r"c.csv: cactus submits probability; write it from the probabilities"):
        write_submission(np.array(["a"]), np.array([1]), tmp_path / "c.csv", cactus)


def one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


def _replaced(path, column, row, value):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("layout", "column", "value", "message"),
    [
        ("cactus", "has_cactus", "1.5", r"line 4, column has_cactus: '1.5' is not a probability \(a number from 0"),
        ("dogs-vs-cats", "label", "dog", r"line 4, column label: 'dog' is not a probability"),
        ("dog-breed", "pug", "-0.1", r"line 4, column pug: '-0.1' is not a probability"),
        ("pathology", "scab", "", r"line 4, column scab: '' is not a probability"),
        ("seedlings", "species", "Oak", r"line 4, column species: 'Oak' is not a class \('Black-grass'"),
        ("aptos", "diagnosis", "7", r"line 4, column diagnosis: '?7'? is not a class \(0–4\)"),
        ("whale", "Id", " ".join(image_data.WHALES[:6]), r"line 4, column Id: 6 labels; expected 1 to 5 class"),
        ("whale", "Id", "w_0000001 w_zzz", r"line 4, column Id: 'w_zzz' is not a class \('w_0000000'"),
        ("whale", "Id", "w_0000001 w_0000002 w_0000001", r"line 4, column Id: 'w_0000001' appears twice"),
        ("whale", "Id", "", r"line 4, column Id: no label; expected 1 to 5 class values"),
    ],
)
def test_a_bad_cell_is_one_line_naming_file_line_and_column(built, tmp_path, layout, column, value, message):
    made = built[layout]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    proba = fabricate(truth, spec.classes, multilabel=spec.multilabel)
    path = write(made, spec, proba, tmp_path / "sub.csv")
    _replaced(path, column, 2, value)
    with pytest.raises(KitError, match=rf"sub.csv: {message}") as error:
        read_submission(path, spec, expected_ids(made.folder, spec))
    one_line(error)
    with pytest.raises(KitError, match=rf"sub.csv: {message}") as error:
        kit.score(path, data=made.folder)
    one_line(error)


def test_columns_and_ids_as_the_spec_and_sample_say(built, tmp_path):
    made = built["dog-breed"]
    spec = spec_of(made)
    expected = expected_ids(made.folder, spec)
    assert expected.tolist() == made.test_ids
    frame = pd.read_csv(made.folder / "solution.csv", dtype=str)
    with pytest.raises(KitError, match=r"columns are id,affenpinscher,.*,saluki; expected exactly id,.*,whippet$"):
        check_submission(frame.drop(columns="whippet"), spec, expected, source="x.csv")
    reordered = frame[["id", *reversed(image_data.BREEDS)]]
    with pytest.raises(KitError, match=r"expected exactly id,affenpinscher"):
        check_submission(reordered, spec, expected, source="x.csv")
    with pytest.raises(KitError, match=r"x.csv: line 2, column id: 0+95 where the test set has 0+78"):
        check_submission(frame.iloc[::-1].reset_index(drop=True), spec, expected, source="x.csv")
    with pytest.raises(KitError, match=r"sub.csv: 29 rows; the test set has 30 images"):
        write_predictions(
            np.array(made.test_ids[1:]), np.full((29, 10), 0.1), tmp_path / "sub.csv", spec, None, False, expected
        )


def test_metrics_that_a_file_cannot_give_are_refused_in_one_line(built, tmp_path):
    made = built["seedlings"]
    spec = spec_of(made)
    truth = truth_of(made, spec)
    path = write(made, spec, fabricate(truth, spec.classes), tmp_path / "sub.csv")
    with pytest.raises(KitError, match=r"sub.csv: log_loss needs one probability column per class; this file holds la"):
        kit.score(path, data=made.folder, metric="log_loss")
    whale = built["whale"]
    spec = spec_of(whale)
    path = write(whale, spec, fabricate(truth_of(whale, spec), 10), tmp_path / "w.csv")
    with pytest.raises(
        KitError, match=r"w.csv: roc_auc needs one probability column per class; this file holds ranked"
    ):
        kit.score(path, data=whale.folder, metric="roc_auc")
    cactus = built["cactus"]
    spec = spec_of(cactus)
    (tmp_path / "c.csv").write_text("id,has_cactus\n" + "".join(f"{i},1\n" for i in cactus.test_ids))
    result = kit.score(tmp_path / "c.csv", data=cactus.folder, metric="accuracy", record=False)
    assert result.score == pytest.approx(np.mean(truth_of(cactus, spec) == 1))  # a column of 1s: P = 1, labels 1


def test_labels_given_where_the_kind_is_probabilities_are_refused(built, tmp_path):
    made = built["dog-breed"]
    spec = spec_of(made)
    with pytest.raises(KitError, match=r"labels replace the probabilities of a label submission; dog-breed submits"):
        write(made, spec, np.full((30, 10), 0.1), tmp_path / "x.csv", labels=np.zeros(30, dtype=int))
    with pytest.raises(KitError, match=r"x.csv: probabilities of shape \(30, 9\); expected one column for each of"):
        write(made, spec, np.full((30, 9), 0.1), tmp_path / "x.csv")
    with pytest.raises(KitError, match=r"x.csv: row 1, class 0: 1.5 is not a probability"):
        write(made, spec, np.full((30, 10), 1.5), tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_a_pixel_competition_still_writes_labels_from_probabilities(tmp_path, competition):
    proba = np.eye(10)[[3, 1, 4]]
    frame = write_predictions(np.array([1, 2, 3]), proba, tmp_path / "p.csv", competition)
    assert (tmp_path / "p.csv").read_text() == "ImageId,Label\n1,3\n2,1\n3,4\n" and len(frame) == 3
    binary = replace(
        competition, class_values=(0, 1), submission_kind="probability", submission_columns=("ImageId", "p")
    )
    write_predictions(np.array([1, 2]), np.array([0.25, 1 + 1e-9]), tmp_path / "b.csv", binary)
    assert (tmp_path / "b.csv").read_text() == "ImageId,p\n1,0.25\n2,1.0\n"  # a 1-D P(class 1); rounding clipped


def test_the_score_report_skips_the_table_of_a_multilabel_task(built, tmp_path):
    from kit.cli import render

    made = built["pathology"]
    spec = spec_of(made)
    proba = fabricate(truth_of(made, spec), 4, multilabel=True)
    path = write(made, spec, proba, tmp_path / "sub.csv")
    result = score_submission(path, data=made.folder)
    with render.console.capture() as captured:
        render.print_score(result, path)
    text = captured.get()
    assert "per-class" not in text and text.startswith("mean_roc_auc ")
