"""Generated image-file competitions, one per layout Kaggle ships, built from scikit-learn's real handwritten digits
as image files (PNG or JPEG of varying sizes, coloured) with Pillow: ``kit demo-data --layout LAYOUT``.

Each is written as Kaggle ships it, without a spec (``kit init`` infers one); :func:`demo_images` also gives the spec
a careful user would write by hand (a TOML table). ``solution.csv`` holds the test answers in the submission's own
columns (labels, 0/1 truth, one-hot columns or the true label), for ``kit score``.

| layout | like | files | metric | submission |
|---|---|---|---|---|
| seedlings | Plant Seedlings | ``train/<Species Name>/*.png``, ``test/*.png`` | micro-F1 | ``file,species`` |
| cactus | Aerial Cactus | ``train.csv`` (ids with ``.jpg``) + ``train/``, ``test/`` | ROC AUC | ``id,has_cactus`` = P |
| dogs-vs-cats | Dogs vs Cats Redux | ``train/cat.12.jpg``, ``test/N.jpg`` | log loss | ``id,label`` = P(dog) |
| dog-breed | Dog Breed | ``labels.csv`` (``id`` without suffix) + ``train/`` | log loss | ``id`` + one column a class |
| pathology | Plant Pathology 2020 | ``train.csv`` 0/1 columns, patients, ``images/`` | mean ROC AUC | a column each |
| aptos | APTOS 2019 | ``train.csv`` ``id_code,diagnosis`` + ``train_images/`` | QWK | ``id_code,diagnosis`` |
| whale | Humpback Whale | ``train.csv`` ``Image,Id`` + ``train/`` | MAP@5 | ``Image,Id`` = 5 labels |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from kit.data._demo import digit_images
from kit.errors import KitError

TRAIN, TEST = 1400, 300  # kit demo-data's default: 170 of each digit (the rarest digit has 174)
SPECIES = ("Black-grass", "Common Chickweed", "Fat Hen", "Loose Silky-bent", "Maize", "Scentless Mayweed",
           "Shepherds Purse", "Small-flowered Cranesbill", "Sugar beet", "Mäuse Gerste")  # fmt: skip
LAYOUTS = ("seedlings", "cactus", "dogs-vs-cats", "dog-breed", "pathology", "aptos", "whale")


@dataclass(frozen=True)
class DemoImages:
    """A written demo competition: its folder, the spec a careful user would write and the test ids."""

    name: str
    folder: Path
    spec: dict[str, Any]
    test_ids: list[Any]


def _digits(train: int, test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``train + test`` coloured digit images (32×32 RGB) and their digits, balanced over the classes, shuffled."""
    images, labels = digit_images((32, 32, 3))
    rng = np.random.default_rng(seed)
    each = -(-(train + test) // 10)
    rows = np.concatenate([rng.permutation(np.flatnonzero(labels == k))[:each] for k in range(10)])
    rows = rng.permutation(rows)[: train + test]
    colour = np.array([255, 160, 60], dtype=np.float64) / 255
    return (images[rows].astype(np.float64) * colour).astype(np.uint8), labels[rows]


def _save(image: np.ndarray, path: Path, index: int) -> None:
    """One image file, its size varying with ``index`` (24…40 pixels, not always square)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = (24 + 4 * (index % 5), 24 + 4 * ((index // 5) % 5))
    picture = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    picture.save(path, quality=95) if path.suffix == ".jpg" else picture.save(path)


def _frame(path: Path, columns: dict[str, Any]) -> None:
    pd.DataFrame(columns).to_csv(path, index=False)


def _image_spec(layout: str, **keys: Any) -> dict[str, Any]:
    return {"images": {"layout": layout, **keys}, "image": {"height": 32, "width": 32, "channels": 3}}


def _seedlings(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    for row in range(train):
        _save(images[row], folder / "train" / SPECIES[digits[row]] / f"{row:05x}a.png", row)
    names = [f"{row:07x}b.png" for row in range(test)]
    for row, name in enumerate(names):
        _save(images[train + row], folder / "test" / name, row)
    species = [SPECIES[d] for d in digits[train:]]
    _frame(folder / "sample_submission.csv", {"file": names, "species": [SPECIES[0]] * test})
    _frame(folder / "solution.csv", {"file": names, "species": species})
    spec = {"metric": "micro_f1", "classes": sorted(SPECIES), **_image_spec("folders", train="train", test="test")}
    spec["columns"] = {"submission": ["file", "species"]}
    return DemoImages("seedlings", folder, spec, names)


def _cactus(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    truth = (digits % 2 == 1).astype(int)
    ids = [f"{row:08x}c.jpg" for row in range(train + test)]
    for row, name in enumerate(ids[:train]):
        _save(images[row], folder / "train" / name, row)
    for row, name in enumerate(ids[train:]):
        _save(images[train + row], folder / "test" / name, row)
    _frame(folder / "train.csv", {"id": ids[:train], "has_cactus": truth[:train]})
    _frame(folder / "sample_submission.csv", {"id": ids[train:], "has_cactus": [0.5] * test})
    _frame(folder / "solution.csv", {"id": ids[train:], "has_cactus": truth[train:]})
    spec = {"metric": "roc_auc", "task": "binary", "classes": [0, 1], **_image_spec("csv", pattern="{id}")}
    spec["columns"] = {"label": "has_cactus", "id": "id", "submission": ["id", "has_cactus"]}
    spec["submission"] = {"kind": "probability"}
    return DemoImages("cactus", folder, spec, ids[train:])


def _dogs_vs_cats(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    animal = np.where(digits % 2 == 1, "dog", "cat")
    for row in range(train):
        _save(images[row], folder / "train" / f"{animal[row]}.{row}.jpg", row)
    for row in range(test):
        _save(images[train + row], folder / "test" / f"{row + 1}.jpg", row)
    ids = list(range(1, test + 1))
    _frame(folder / "sample_submission.csv", {"id": ids, "label": [0.5] * test})
    _frame(folder / "solution.csv", {"id": ids, "label": (animal[train:] == "dog").astype(int)})
    spec = {"metric": "log_loss", "task": "binary", "classes": ["cat", "dog"]}
    spec.update(_image_spec("filename", pattern="{label}.{n}.jpg", test_ids="stem"))
    spec["columns"] = {"submission": ["id", "label"]}
    spec["submission"] = {"kind": "probability"}
    return DemoImages("dogs-vs-cats", folder, spec, ids)


BREEDS = ("affenpinscher", "beagle", "boxer", "chow", "collie", "dingo", "kelpie", "pug", "saluki", "whippet")


def _dog_breed(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    ids = [f"{row:032x}" for row in range(train + test)]
    for row, name in enumerate(ids[:train]):
        _save(images[row], folder / "train" / f"{name}.jpg", row)
    for row, name in enumerate(ids[train:]):
        _save(images[train + row], folder / "test" / f"{name}.jpg", row)
    _frame(folder / "labels.csv", {"id": ids[:train], "breed": [BREEDS[d] for d in digits[:train]]})
    sample = {"id": ids[train:], **{breed: [0.1] * test for breed in BREEDS}}
    _frame(folder / "sample_submission.csv", sample)
    solution = {"id": ids[train:], **{b: (digits[train:] == k).astype(int) for k, b in enumerate(BREEDS)}}
    _frame(folder / "solution.csv", solution)
    spec = {"metric": "log_loss", "classes": list(BREEDS), "files": {"train": "labels.csv"}}
    spec.update(_image_spec("csv", pattern="{id}.jpg", test_ids="stem"))
    spec["columns"] = {"label": "breed", "id": "id", "submission": ["id", *BREEDS]}
    spec["submission"] = {"kind": "probabilities"}
    return DemoImages("dog-breed", folder, spec, ids[train:])


DISEASES = ("healthy", "multiple_diseases", "rust", "scab")


def _diseases(digits: np.ndarray) -> np.ndarray:
    """A 0/1 matrix with at least one label a row: healthy = 0/1, rust = even ≥ 2, scab = ≥ 5, multiple = both."""
    rust, scab = (digits % 2 == 0) & (digits >= 2), digits >= 5
    healthy = ~rust & ~scab
    return np.stack([healthy, rust & scab, rust, scab], axis=1).astype(int)


def _pathology(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    ids = [f"Train_{row}" for row in range(train)] + [f"Test_{row}" for row in range(test)]
    for row, name in enumerate(ids):
        _save(images[row], folder / "images" / f"{name}.jpg", row)
    matrix = _diseases(digits)
    patients = [f"P{row // 3:03d}" for row in range(train)]  # three images a patient
    frame = {"image_id": ids[:train], "patient_id": patients, **{d: matrix[:train, k] for k, d in enumerate(DISEASES)}}
    _frame(folder / "train.csv", frame)
    _frame(folder / "test.csv", {"image_id": ids[train:]})
    _frame(folder / "sample_submission.csv", {"image_id": ids[train:], **{d: [0.25] * test for d in DISEASES}})
    _frame(folder / "solution.csv", {"image_id": ids[train:], **{d: matrix[train:, k] for k, d in enumerate(DISEASES)}})
    spec = {"metric": "mean_roc_auc", "task": "multilabel", "classes": list(DISEASES)}
    spec.update(_image_spec("csv", train="images", test="images", pattern="{image_id}.jpg", test_ids="stem"))
    spec["columns"] = {"id": "image_id", "labels": list(DISEASES), "group": "patient_id",
                       "submission": ["image_id", *DISEASES]}  # fmt: skip
    spec["submission"] = {"kind": "probabilities"}
    return DemoImages("pathology", folder, spec, ids[train:])


def _aptos(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    grade = np.minimum(digits // 2, 4)
    ids = [f"{row:012x}" for row in range(train + test)]
    for row, name in enumerate(ids[:train]):
        _save(images[row], folder / "train_images" / f"{name}.png", row)
    for row, name in enumerate(ids[train:]):
        _save(images[train + row], folder / "test_images" / f"{name}.png", row)
    _frame(folder / "train.csv", {"id_code": ids[:train], "diagnosis": grade[:train]})
    _frame(folder / "test.csv", {"id_code": ids[train:]})
    _frame(folder / "sample_submission.csv", {"id_code": ids[train:], "diagnosis": [0] * test})
    _frame(folder / "solution.csv", {"id_code": ids[train:], "diagnosis": grade[train:]})
    spec = {"metric": "qwk", "task": "ordinal", "classes": 5}
    spec.update(_image_spec("csv", train="train_images", test="test_images", pattern="{id_code}.png", test_ids="stem"))
    spec["columns"] = {"label": "diagnosis", "id": "id_code", "submission": ["id_code", "diagnosis"]}
    return DemoImages("aptos", folder, spec, ids[train:])


WHALES = tuple(f"w_{k:07x}" for k in range(10))


def _whale(folder: Path, images: np.ndarray, digits: np.ndarray, train: int, test: int) -> DemoImages:
    ids = [f"{row:08x}.jpg" for row in range(train + test)]
    for row, name in enumerate(ids[:train]):
        _save(images[row], folder / "train" / name, row)
    for row, name in enumerate(ids[train:]):
        _save(images[train + row], folder / "test" / name, row)
    _frame(folder / "train.csv", {"Image": ids[:train], "Id": [WHALES[d] for d in digits[:train]]})
    _frame(folder / "sample_submission.csv", {"Image": ids[train:], "Id": [" ".join(WHALES[:5])] * test})
    _frame(folder / "solution.csv", {"Image": ids[train:], "Id": [WHALES[d] for d in digits[train:]]})
    spec = {"metric": "map_at_5", "classes": list(WHALES), **_image_spec("csv", pattern="{Image}")}
    spec["columns"] = {"label": "Id", "id": "Image", "submission": ["Image", "Id"]}
    spec["submission"] = {"kind": "top_k", "k": 5}
    return DemoImages("whale", folder, spec, ids[train:])


BUILDERS = {
    "seedlings": _seedlings,
    "cactus": _cactus,
    "dogs-vs-cats": _dogs_vs_cats,
    "dog-breed": _dog_breed,
    "pathology": _pathology,
    "aptos": _aptos,
    "whale": _whale,
}


def demo_images(dest: Path | str, layout: str, train: int = TRAIN, test: int = TEST, seed: int = 0) -> DemoImages:
    """Write the ``layout`` competition (one of :data:`LAYOUTS`) into ``dest``: ``train`` labelled and ``test``
    unlabelled digit images as files, as Kaggle ships them (no spec; the test answers in ``solution.csv``)."""
    if layout not in BUILDERS:
        raise KitError.invalid("layout", f"one of {', '.join(LAYOUTS)}", layout)
    if train < 20 or test < 1 or train + test > 1740:
        raise KitError.invalid("train", "at least 20 training and 1 test image, 1,740 in all", f"{train} + {test}")
    folder = Path(dest)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise KitError(f"{folder}: not an empty folder; give a new folder for the demo images", argument="dest")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        images, digits = _digits(train, test, seed)
        built = BUILDERS[layout](folder, images, digits, train, test)
    except OSError as error:
        raise KitError(f"{folder}: cannot write the demo images ({error.strerror or error})", argument="dest") from None
    return DemoImages(built.name, folder, {"name": layout, **built.spec}, built.test_ids)
