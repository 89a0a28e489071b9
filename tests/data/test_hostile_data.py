"""Hostile data folders: spec file names that leave the data folder, names that are not slugs, and demo data that
would overwrite another competition's files or cannot be written — each one line, nothing changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from kit.competitions import get_competition, load_spec, parse_spec
from kit.data import infer_competition, load_extra, load_train, write_demo_data
from kit.errors import KitError


@pytest.mark.parametrize(
    ("files", "key"),
    [
        ({"train": "../../elsewhere/train.csv"}, "files.train"),
        ({"test": "/etc/passwd"}, "files.test"),
        ({"sample_submission": "sub/../../x.csv"}, "files.sample_submission"),
        ({"extra": ["ok.csv", "../x.csv"]}, r"files.extra\[1\]"),
        ({"solution": "C:\\\\answers.csv"}, "files.solution"),
    ],
)
def test_a_spec_file_name_outside_the_data_folder_is_refused(tmp_path, files, key):
    with pytest.raises(KitError, match=rf"^spec.toml: key {key}: .* is outside the data folder"):
        parse_spec({"files": files}, "spec.toml", "x")


def test_a_competition_toml_that_points_out_of_its_folder_is_never_read(tmp_path, tiny_dir):
    data = tmp_path / "data"
    shutil.copytree(tiny_dir, data)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(tiny_dir / "train.csv", tmp_path / "elsewhere" / "train.csv")
    (data / "competition.toml").write_text('[files]\ntrain = "../elsewhere/train.csv"\n')
    with pytest.raises(KitError, match=r"competition.toml: key files.train: '../elsewhere/train.csv' is outside"):
        load_spec(data / "competition.toml")
    digits = get_competition("digit-recognizer")
    with pytest.raises(KitError, match=r"key files.train: .* is outside the data folder"):
        load_train(data, replace(digits, train_file=str(tmp_path / "elsewhere" / "train.csv")))
    with pytest.raises(KitError, match=r"key files.extra: .* is outside the data folder"):
        load_extra(data, replace(digits, extra_files=("../elsewhere/train.csv",)))


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "..", "", "x" * 101, "with space"])
def test_names_that_become_folders_must_be_slugs(tmp_path, tiny_dir, name):
    with pytest.raises(KitError, match=r"^name: must be a name of letters, digits") as caught:
        infer_competition(tiny_dir, name=name, write=False)
    assert caught.value.render({"name": "--name"}).startswith("--name: must be")
    with pytest.raises(KitError, match=r"^spec.toml: key name: "):
        parse_spec({"name": name}, "spec.toml", "x")
    assert not (tiny_dir / "competition.toml").exists()


def test_kit_init_names_an_odd_folder_as_a_slug(tmp_path, tiny_dir):
    folder = tmp_path / "my data (v2)"
    shutil.copytree(tiny_dir, folder)
    assert infer_competition(folder, write=False).competition.name == "my-data-v2"


def test_demo_data_never_writes_over_another_competitions_folder(tmp_path, tiny_dir):
    data = tmp_path / "data"
    shutil.copytree(tiny_dir, data)
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    with pytest.raises(KitError, match=r"data: holds other files than kit's demo data .*nothing was changed"):
        write_demo_data(data)
    assert {path.name: path.read_bytes() for path in data.iterdir()} == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(KitError, match=r"holds other files than kit's demo data \(notes.txt\)"):
        write_demo_data(mine)
    assert sorted(path.name for path in mine.iterdir()) == ["notes.txt"]


def test_demo_data_rewrites_its_own_folder_and_an_empty_one(tmp_path):
    demo = write_demo_data(tmp_path / "demo", test_size=20, rows=100)
    first = (demo / "train.csv").read_bytes()
    write_demo_data(demo, test_size=20, rows=100)
    write_demo_data(demo, get_competition("Kannada-MNIST"), test_size=20, rows=100)  # its own files: rewritten
    assert (demo / "Dig-MNIST.csv").is_file()
    (tmp_path / "empty").mkdir()
    assert (write_demo_data(tmp_path / "empty", test_size=20, rows=100) / "train.csv").read_bytes() == first


def test_demo_data_that_cannot_be_written_is_one_line(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(KitError, match=r"a-file exists and is not a folder"):
        write_demo_data(afile)
    with pytest.raises(KitError, match=r"^/proc/kit-demo: cannot write there \("):
        write_demo_data("/proc/kit-demo")
    assert afile.read_text() == "x"


@pytest.mark.slow
def test_kit_demo_data_out_errors_are_one_line(tmp_path, tiny_dir):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    shutil.copytree(tiny_dir, tmp_path / "comp")
    for dest, message in ((afile, "exists and is not a folder"), ("/proc/x", "cannot write there"), ("comp", "other")):
        done = subprocess.run(
            [sys.executable, "-m", "kit", "demo-data", "--out", str(dest)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1 and message in lines[0], done.stderr
    assert (tmp_path / "comp" / "sample_submission.csv").read_bytes() == (
        tiny_dir / "sample_submission.csv"
    ).read_bytes()
