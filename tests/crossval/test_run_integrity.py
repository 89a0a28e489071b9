"""Run files that do not belong together are refused, each with one line naming the file: an array or a fold model
that is not the file the run wrote (its sha256 differs from the summary's record), labels outside the run's classes,
and fold models that are no softmax over the run's classes; older runs without checksums still read."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fake_runs import OOF, SHAPE, TEST, array_run, model_run, one_line, record_checksums, tiny_model, tta_run

from conftest import minimal_summary
from kit.crossval import RunFolder, Summary, load_fold_models, load_run
from kit.crossval._summary import file_checksums, parse_summary, sha256_of
from kit.ensemble import load_member, with_tta
from kit.ensemble._members import check_compatible
from kit.errors import KitError
from kit.utils import read_json, save_array


def test_the_checksums_cover_every_array_and_model_file_of_the_run(tmp_path):
    folder = model_run(tmp_path / "run", {1: tiny_model()}, checksums=False)
    save_array(folder / "oof.npy", OOF)
    save_array(folder / "fold-1" / "val_rows.npy", np.arange(4))
    (folder / ".kit-tmp-1234-oof.npy").write_bytes(b"half")  # a writer's leftover is no file of the run
    (folder / "fold-1" / "history.json").write_text("{}")
    checksums = file_checksums(RunFolder(folder))
    assert sorted(checksums) == ["fold-1/model.keras", "fold-1/val_rows.npy", "oof.npy"]
    assert checksums["oof.npy"] == sha256_of(folder / "oof.npy")
    summary = parse_summary({**minimal_summary(), "checksums": checksums}, "summary")
    assert summary.checksums == checksums
    assert summary.to_json()["checksums"] == checksums
    assert "checksums" not in parse_summary(minimal_summary(), "summary").to_json()  # older runs' summary unchanged


def test_a_checksum_that_is_no_sha256_is_a_damaged_summary():
    with pytest.raises(KitError, match=r"summary: damaged \(checksums: value error, oof.npy: not a sha256"):
        parse_summary({**minimal_summary(), "checksums": {"oof.npy": "abc"}}, "summary")


def test_a_run_reads_the_same_with_checksums_and_without(tmp_path):
    checked, older = load_run(array_run(tmp_path / "a")), load_run(array_run(tmp_path / "b", checksums=False))
    assert checked.summary.checksums and older.summary.checksums is None
    for name in ("oof", "labels", "test", "test_ids"):
        assert np.array_equal(getattr(checked, name), getattr(older, name))


@pytest.mark.parametrize("name", ["oof.npy", "labels.npy", "test.npy", "test_ids.npy"])
def test_an_array_from_another_run_of_the_same_shape_is_refused(tmp_path, name):
    folder = array_run(tmp_path / "run")
    other = array_run(tmp_path / "other", labels=(2, 1, 0, 0))
    for array, changed in (("oof.npy", OOF[::-1]), ("test.npy", TEST[::-1]), ("test_ids.npy", np.arange(2, 4))):
        save_array(other / array, changed)
    shutil.copy(other / name, folder / name)
    with pytest.raises(KitError) as error:
        _ = getattr(load_run(folder), name.removesuffix(".npy"))
    message = one_line(error, folder / name)
    assert "not the file run" in message and "wrote" in message and "kit cv --force" in message


def test_an_array_the_run_did_not_write_is_refused(tmp_path):
    folder = array_run(tmp_path / "run")
    (folder / "test.npy").unlink()
    (folder / "test_ids.npy").unlink()
    record_checksums(folder)  # a run without test data
    save_array(folder / "test.npy", TEST)  # copied in later
    with pytest.raises(KitError, match=r"test.npy: not a file run .* wrote \(the run records no test.npy\)") as error:
        _ = load_run(folder).test
    one_line(error, folder / "test.npy")


def test_an_older_run_without_checksums_is_not_verified(tmp_path):
    folder = array_run(tmp_path / "run", checksums=False)
    save_array(folder / "test.npy", TEST[::-1])
    assert np.array_equal(load_run(folder).test, TEST[::-1])


@pytest.mark.parametrize("labels", [(0, 1, 3, 1), (0, -1, 2, 1)])
def test_labels_outside_the_classes_are_one_line(tmp_path, labels):
    folder = array_run(tmp_path / "run", checksums=False, labels=labels)
    with pytest.raises(KitError, match=r"labels.npy: damaged \(row [12] has label -?\d, the run's classes are 0 to 2"):
        _ = load_run(folder).labels
    with pytest.raises(KitError, match=r"labels.npy: damaged") as error:
        load_member(folder)
    one_line(error, folder / "labels.npy")


def test_an_ensemble_member_refuses_another_runs_test_softmax_and_ids(tmp_path):
    first, second = array_run(tmp_path / "a"), array_run(tmp_path / "b")
    save_array(second / "test.npy", TEST[::-1])
    with pytest.raises(KitError, match="not the file run") as error:
        load_member(second)
    one_line(error, second / "test.npy")
    second = array_run(tmp_path / "c")
    save_array(second / "test_ids.npy", np.arange(1, len(TEST) + 1)[::-1].copy())
    with pytest.raises(KitError, match="not the file run") as error:  # a member reads its checked ids once
        check_compatible([load_member(first), load_member(second)])
    one_line(error, second / "test_ids.npy")


def test_a_fold_model_of_another_architecture_is_refused(tmp_path):
    folder = model_run(tmp_path / "run", {1: tiny_model(), 2: tiny_model()})
    assert len(load_fold_models(RunFolder(folder))) == 2
    tiny_model(hidden=5).save(folder / "fold-2" / "model.keras")  # same input and output, another model
    with pytest.raises(KitError, match="not the file run") as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-2" / "model.keras")
    with pytest.raises(KitError, match="not the file run"):
        load_run(folder).models()


def test_a_model_that_outputs_logits_is_refused(tmp_path):
    folder = model_run(tmp_path / "run", {1: tiny_model(activation="linear")}, checksums=False)
    with pytest.raises(KitError, match=r"does not end in a softmax \(its last layer .* activation linear: no") as e:
        load_fold_models(RunFolder(folder))
    one_line(e, folder / "fold-1" / "model.keras")


def test_a_softmax_model_whose_outputs_are_not_probabilities_is_refused(tmp_path):
    model = tiny_model()
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    folder = model_run(tmp_path / "run", {1: model})
    with pytest.raises(KitError, match=r"its outputs on a probe are not finite") as error:
        load_fold_models(RunFolder(folder))
    one_line(error, folder / "fold-1" / "model.keras")


def test_test_time_augmentation_refuses_a_fold_file_of_another_run(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (4, *SHAPE)).astype(np.float32)
    folder = tta_run(tmp_path / "run", tiny_model())
    assert Summary.model_validate(read_json(RunFolder(folder).summary_path, dict)).checksums
    augmented = with_tta(load_member(folder), images, images[:2], copies=1)
    assert augmented.oof.shape == OOF.shape and augmented.tta == 1
    tiny_model(hidden=5).save(folder / "fold-1" / "model.keras")
    with pytest.raises(KitError, match="not the file run") as error:
        with_tta(load_member(folder), images, images[:2], copies=1)
    one_line(error, folder / "fold-1" / "model.keras")
    save_array(folder / "fold-1" / "val_rows.npy", np.arange(4)[::-1].copy())
    with pytest.raises(KitError, match="not the file run") as error:
        with_tta(load_member(folder), images, images[:2], copies=1)
    one_line(error, folder / "fold-1" / "val_rows.npy")
