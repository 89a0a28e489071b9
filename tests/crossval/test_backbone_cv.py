"""The fast photo recipe end to end through the command line, on a generated image-file competition (``kit init``):
``kit cv photo-fast`` with its backbone's weights from a local file (no network; MobileNetV3Small at 32 px, 2 folds,
3 epochs, frozen for the first; the file made here, its BatchNorm statistics set on digit images) finishes with an
OOF score in the competition's metric; killed with SIGKILL just after a fold's checkpoint of the frozen phase and
again of the unfrozen phase, reruns go on from those checkpoints and end with oof.npy and test.npy byte-identical to
the uninterrupted run's; ``weights = "run:PATH"`` carries that run's backbone, bit for bit, into a run on another
layout; a missing weights file, a file of another backbone and ImageNet weights with no network are one ``error:``
line naming the file (or where to place it) before any fold trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from image_data import build

pytestmark = pytest.mark.slow  # builds Keras applications and trains them in `kit cv` processes

RUN_TIMEOUT = 600
ARRAYS = ("oof.npy", "test.npy")
# The recipe's own code path (adamw, one-cycle, label smoothing, photo augmentation, precision auto, dropout, the
# phase switch and the discriminative rate), with a backbone and sizes that train in seconds on a CPU.
FAST = [
    'model.backbone.name="MobileNetV3Small"',
    'model.backbone.unfreeze_from="expanded_conv_6"',
    "model.backbone.input_size=32",
    "model.backbone.freeze_epochs=1",
    "cv.folds=2",
    "train.epochs=3",
    "train.batch_size=16",  # 4 steps an epoch on a fold's 60 training images
]
# Runs the kit command line with os.replace watched (every atomic write of kit ends in one): each fold checkpoint's
# state.json is noted as "fold-K:E" (E epochs done) in the file KIT_CHECKPOINTS, and the process SIGKILLs itself just
# after the rename of the one named by KIT_KILL_AT.
KILLED_KIT = """
import json, os, signal, sys
from pathlib import Path
target, log = os.environ.get("KIT_KILL_AT"), os.environ.get("KIT_CHECKPOINTS")
rename = os.replace

def replace(source, destination, *args, **kwargs):
    rename(source, destination, *args, **kwargs)
    path = Path(destination)
    if path.name == "state.json" and path.parent.name == "checkpoint":
        written = f"{path.parent.parent.name}:{json.loads(path.read_text())['epochs_done']}"
        if log:
            with open(log, "a") as stream:
                stream.write(written + "\\n")
        if written == target:
            os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
sys.argv = ["kit", *sys.argv[1:]]
from kit.cli import main
main()
"""


def kit(*args, home: Path, cwd: Path, kill_at: str = "", log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``kit ARGS`` in a fresh process (``kill_at``, ``log``: see KILLED_KIT) with an empty Keras home and no way
    out to the network (an unreachable proxy), so that nothing is read from a real Keras cache nor downloaded."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(home), "KIT_KILL_AT": kill_at}
    env["KIT_CHECKPOINTS"] = str(log or "")
    env |= {name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    for name in ("no_proxy", "NO_PROXY"):
        env.pop(name, None)
    command = [sys.executable, "-c", KILLED_KIT, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=RUN_TIMEOUT)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done


def cv(data: Path, out: Path, weights: str, *sets: str, **options) -> subprocess.CompletedProcess:
    """``kit cv photo-fast`` on ``data`` into ``out``, one process (the kill hook sees the folds' checkpoints)."""
    args = ["cv", "photo-fast", "--data", data, "--out", out, "--jobs", "1"]
    for key in (f"model.backbone.weights={json.dumps(weights)}", *sets):
        args += ["--set", key]
    return kit(*args, **options)


def calibrate(keras, backbone) -> None:
    """Set the BatchNorm statistics of a randomly initialised backbone to those of real digit images, layer by layer,
    as a pretrained file's are: with the initial ones (mean 0, variance 1) in inference mode, as the frozen phase and
    unfrozen BatchNorm run, a random MobileNetV3's features are ~1e-11 and every prediction is uniform."""
    from kit.data._demo import digit_images

    layers = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0  # the moving statistics become this batch's
    backbone(digit_images((32, 32, 3))[0][:64].astype("float32"), training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    """A working folder with an empty Keras home, two generated competitions (``kit init``-ed, their metric as their
    page states) and a MobileNetV3Small weights file made here (random weights, calibrated BatchNorm statistics)."""
    root = tmp_path_factory.mktemp("backbone-cv")
    home = root / "keras-home"
    home.mkdir()
    folders = {}
    for layout, metric in (("seedlings", "micro_f1"), ("aptos", "qwk")):
        built = build(layout, root / layout)
        ok(kit("init", "--data", built.folder, "--set", f"metric={metric}", home=home, cwd=root))
        folders[layout] = built.folder
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras

    backbone = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg", include_preprocessing=True
    )
    calibrate(keras, backbone)
    weights = root / "MobileNetV3Small.weights.h5"
    backbone.save_weights(weights)
    return {"root": root, "home": home, **folders, "MobileNetV3Small": weights}


@pytest.fixture(scope="module")
def reference(place) -> Path:
    """The uninterrupted run of the fast recipe from the local MobileNetV3Small weights file."""
    out = place["root"] / "runs" / "reference"
    ok(cv(place["seedlings"], out, str(place["MobileNetV3Small"]), *FAST, home=place["home"], cwd=place["root"]))
    return out


def test_the_fast_recipe_runs_from_a_local_weights_file_to_an_oof_score_in_the_metric(place, reference):
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["metric"] == "micro_f1" and 0.0 <= summary["oof_score"] <= 1.0
    assert summary["recipe_content"]["model"]["backbone"]["weights"] == str(place["MobileNetV3Small"])
    assert [fold["epochs"] for fold in summary["folds"]] == [3, 3]
    oof = np.load(reference / "oof.npy")
    assert oof.shape == (120, 10) and np.allclose(oof.sum(axis=1), 1.0, atol=1e-4)
    assert oof.std(axis=0).mean() > 1e-3  # the images tell apart: the byte-identity below is no identity of constants
    assert np.load(reference / "test.npy").shape == (30, 10)
    assert not list(reference.glob("fold-*/checkpoint"))  # a finished fold keeps no checkpoint
    assert not any((place["home"] / "models").glob("*"))  # nothing came from (or went into) the Keras cache


def phase_of(checkpoint: Path) -> tuple[int, str]:
    """(epochs done, backbone phase) that a fold's checkpoint recorded."""
    state = json.loads((checkpoint / "state.json").read_text())
    phases = [entry["phase"] for entry in state["callbacks"] if entry["kind"] == "BackbonePhases"]
    assert len(phases) == 1, state["callbacks"]
    return state["epochs_done"], phases[0]


def test_killed_in_the_frozen_then_the_unfrozen_phase_reruns_give_the_same_arrays(place, reference):
    out, weights = place["root"] / "runs" / "killed", str(place["MobileNetV3Small"])
    story, logs = [], [place["root"] / f"checkpoints-{index}.log" for index in range(3)]
    # fold 1 killed just after its first epoch's checkpoint: frozen (the rerun unfreezes at its first epoch); fold 2
    # after its second: unfrozen (the rerun goes on unfrozen, the backbone's optimizer slots restored)
    for log, (kill_at, expected) in zip(logs, (("fold-1:1", (1, "frozen")), ("fold-2:2", (2, "unfrozen")))):
        fold = kill_at.split(":")[0]
        options = {"home": place["home"], "cwd": place["root"], "kill_at": kill_at, "log": log}
        killed = cv(place["seedlings"], out, weights, *FAST, **options)
        assert killed.returncode == -9, (kill_at, killed.stderr[-3000:])
        assert phase_of(out / fold / "checkpoint") == expected, kill_at
        assert not (out / "summary.json").exists()
        story.append(f"{kill_at}: killed, checkpoint {expected}")
    ok(cv(place["seedlings"], out, weights, *FAST, home=place["home"], cwd=place["root"], log=logs[2]))
    written = [log.read_text().split() for log in logs]
    # each rerun went on from the checkpoint the kill left: no epoch trained twice
    assert written == [["fold-1:1"], ["fold-1:2", "fold-1:3", "fold-2:1", "fold-2:2"], ["fold-2:3"]], written
    for name in ARRAYS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs after {story}"
    assert not list(out.glob("fold-*/checkpoint"))


def backbone_weights(path: Path) -> list[np.ndarray]:
    import keras

    import kit.engine  # noqa: F401  (registers kit's layers and optimizers)
    from kit.engine import find_backbone

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    return [np.asarray(weight) for weight in find_backbone(model).get_weights()]


def test_run_transfer_through_the_command_line_trains_on_another_layout(place, reference):
    out = place["root"] / "runs" / "transfer"
    # one epoch, frozen throughout: the new run's backbones must be the first run's fold-1 backbone, bit for bit
    sets = [*FAST, "train.epochs=1"]
    done = ok(cv(place["aptos"], out, f"run:{reference}", *sets, home=place["home"], cwd=place["root"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == "qwk" and -1.0 <= summary["oof_score"] <= 1.0, done.stdout[-2000:]
    assert np.load(out / "oof.npy").shape == (120, 5)
    source = backbone_weights(reference / "fold-1" / "model.keras")
    for fold in ("fold-1", "fold-2"):
        copied = backbone_weights(out / fold / "model.keras")
        assert len(copied) == len(source) and all(np.array_equal(a, b) for a, b in zip(source, copied)), fold


@pytest.mark.parametrize("case", ["missing file", "another backbone's file", "imagenet offline"])
def test_weights_that_cannot_be_read_are_one_error_line_before_any_fold(place, case):
    """The shipped recipe as it is (EfficientNetV2B0 at 96 px), but for its weights."""
    out = place["root"] / "runs" / case.replace(" ", "-").replace("'", "")
    home = place["root"] / f"home-{out.name}"
    home.mkdir()
    if case == "missing file":
        weights = named = str(place["root"] / "nowhere" / "efficientnetv2-b0.weights.h5")
    elif case == "another backbone's file":
        weights = named = str(place["MobileNetV3Small"])
    else:
        weights, named = "imagenet", str(home / "models" / "efficientnetv2-b0_notop.h5")
    args = ["cv", "photo-fast", "--data", place["seedlings"], "--out", out, "--jobs", "1"]
    if weights != "imagenet":  # the recipe's own weights = "imagenet" otherwise
        args += ["--set", f"model.backbone.weights={json.dumps(weights)}"]
    failed = kit(*args, home=home, cwd=place["root"])
    assert failed.returncode == 1, (failed.returncode, failed.stdout[-2000:], failed.stderr[-3000:])
    assert "Traceback" not in failed.stderr + failed.stdout, failed.stderr[-3000:]
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), failed.stderr[-3000:]
    assert named in errors[0], errors[0]
    if case == "another backbone's file":
        assert "not weights of EfficientNetV2B0" in errors[0]
    if case == "imagenet offline":
        assert "could not be downloaded" in errors[0] and not any((home / "models").glob("*"))
    assert not (out / "fold-1").exists() and not (out / "summary.json").exists()
