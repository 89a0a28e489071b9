"""Small generated image-file competitions, one per layout kit must handle, built from the demo digits as real image
files (PNG, JPEG, …, of varying sizes) with Pillow.

Each builder writes the competition as Kaggle ships it (no spec): ``kit init`` must infer ``spec``, the spec a careful
user would write by hand (``build(...).spec`` is a TOML table). ``solution.csv`` holds the test answers in the
submission's own columns (labels, 0/1 truth, one-hot columns or the true label), for ``kit score``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from kit.data._demo import digit_images

TRAIN, TEST = 120, 30
SPECIES = ("Black-grass", "Common Chickweed", "Fat Hen", "Loose Silky-bent", "Maize", "Scentless Mayweed",
           "Shepherds Purse", "Small-flowered Cranesbill", "Sugar beet", "Mäuse Gerste")  # fmt: skip
LAYOUTS = ("seedlings", "cactus", "dogs-vs-cats", "dog-breed", "pathology", "aptos", "whale")


@dataclass(frozen=True)
class Built:
    name: str
    folder: Path
    spec: dict[str, Any]
    test_ids: list[Any]
    expect: dict[str, Any] = field(default_factory=dict)


def _digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """TRAIN + TEST coloured digit images (32×32 RGB) and their digits, balanced over the classes, shuffled."""
    images, labels = digit_images((32, 32, 3))
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.permutation(np.flatnonzero(labels == k))[: (TRAIN + TEST) // 10] for k in range(10)])
    rows = rng.permutation(rows)
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


def _seedlings(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    for row in range(TRAIN):
        _save(images[row], folder / "train" / SPECIES[digits[row]] / f"{row:05x}a.png", row)
    names = [f"{row:07x}b.png" for row in range(TEST)]
    for row, name in enumerate(names):
        _save(images[TRAIN + row], folder / "test" / name, row)
    species = [SPECIES[d] for d in digits[TRAIN:]]
    _frame(folder / "sample_submission.csv", {"file": names, "species": [SPECIES[0]] * TEST})
    _frame(folder / "solution.csv", {"file": names, "species": species})
    spec = {"metric": "micro_f1", "classes": sorted(SPECIES), **_image_spec("folders", train="train", test="test")}
    spec["columns"] = {"submission": ["file", "species"]}
    return Built("seedlings", folder, spec, names)


def _cactus(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    truth = (digits % 2 == 1).astype(int)
    ids = [f"{row:08x}c.jpg" for row in range(TRAIN + TEST)]
    for row, name in enumerate(ids[:TRAIN]):
        _save(images[row], folder / "train" / name, row)
    for row, name in enumerate(ids[TRAIN:]):
        _save(images[TRAIN + row], folder / "test" / name, row)
    _frame(folder / "train.csv", {"id": ids[:TRAIN], "has_cactus": truth[:TRAIN]})
    _frame(folder / "sample_submission.csv", {"id": ids[TRAIN:], "has_cactus": [0.5] * TEST})
    _frame(folder / "solution.csv", {"id": ids[TRAIN:], "has_cactus": truth[TRAIN:]})
    spec = {"metric": "roc_auc", "task": "binary", "classes": [0, 1], **_image_spec("csv", pattern="{id}")}
    spec["columns"] = {"label": "has_cactus", "id": "id", "submission": ["id", "has_cactus"]}
    spec["submission"] = {"kind": "probability"}
    return Built("cactus", folder, spec, ids[TRAIN:])


def _dogs_vs_cats(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    animal = np.where(digits % 2 == 1, "dog", "cat")
    for row in range(TRAIN):
        _save(images[row], folder / "train" / f"{animal[row]}.{row}.jpg", row)
    for row in range(TEST):
        _save(images[TRAIN + row], folder / "test" / f"{row + 1}.jpg", row)
    ids = list(range(1, TEST + 1))
    _frame(folder / "sample_submission.csv", {"id": ids, "label": [0.5] * TEST})
    _frame(folder / "solution.csv", {"id": ids, "label": (animal[TRAIN:] == "dog").astype(int)})
    spec = {"metric": "log_loss", "task": "binary", "classes": ["cat", "dog"]}
    spec.update(_image_spec("filename", pattern="{label}.{n}.jpg", test_ids="stem"))
    spec["columns"] = {"submission": ["id", "label"]}
    spec["submission"] = {"kind": "probability"}
    return Built("dogs-vs-cats", folder, spec, ids)


BREEDS = ("affenpinscher", "beagle", "boxer", "chow", "collie", "dingo", "kelpie", "pug", "saluki", "whippet")


def _dog_breed(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    ids = [f"{row:032x}" for row in range(TRAIN + TEST)]
    for row, name in enumerate(ids[:TRAIN]):
        _save(images[row], folder / "train" / f"{name}.jpg", row)
    for row, name in enumerate(ids[TRAIN:]):
        _save(images[TRAIN + row], folder / "test" / f"{name}.jpg", row)
    _frame(folder / "labels.csv", {"id": ids[:TRAIN], "breed": [BREEDS[d] for d in digits[:TRAIN]]})
    sample = {"id": ids[TRAIN:], **{breed: [0.1] * TEST for breed in BREEDS}}
    _frame(folder / "sample_submission.csv", sample)
    solution = {"id": ids[TRAIN:], **{b: (digits[TRAIN:] == k).astype(int) for k, b in enumerate(BREEDS)}}
    _frame(folder / "solution.csv", solution)
    spec = {"metric": "log_loss", "classes": list(BREEDS), "files": {"train": "labels.csv"}}
    spec.update(_image_spec("csv", pattern="{id}.jpg", test_ids="stem"))
    spec["columns"] = {"label": "breed", "id": "id", "submission": ["id", *BREEDS]}
    spec["submission"] = {"kind": "probabilities"}
    return Built("dog-breed", folder, spec, ids[TRAIN:])


DISEASES = ("healthy", "multiple_diseases", "rust", "scab")


def _diseases(digits: np.ndarray) -> np.ndarray:
    """A 0/1 matrix with at least one label a row: healthy = 0/1, rust = even ≥ 2, scab = ≥ 5, multiple = both."""
    rust, scab = (digits % 2 == 0) & (digits >= 2), digits >= 5
    healthy = ~rust & ~scab
    return np.stack([healthy, rust & scab, rust, scab], axis=1).astype(int)


def _pathology(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    ids = [f"Train_{row}" for row in range(TRAIN)] + [f"Test_{row}" for row in range(TEST)]
    for row, name in enumerate(ids):
        _save(images[row], folder / "images" / f"{name}.jpg", row)
    matrix = _diseases(digits)
    patients = [f"P{row // 3:03d}" for row in range(TRAIN)]  # three images a patient
    train = {"image_id": ids[:TRAIN], "patient_id": patients, **{d: matrix[:TRAIN, k] for k, d in enumerate(DISEASES)}}
    _frame(folder / "train.csv", train)
    _frame(folder / "test.csv", {"image_id": ids[TRAIN:]})
    _frame(folder / "sample_submission.csv", {"image_id": ids[TRAIN:], **{d: [0.25] * TEST for d in DISEASES}})
    _frame(folder / "solution.csv", {"image_id": ids[TRAIN:], **{d: matrix[TRAIN:, k] for k, d in enumerate(DISEASES)}})
    spec = {"metric": "mean_roc_auc", "task": "multilabel", "classes": list(DISEASES)}
    spec.update(_image_spec("csv", train="images", test="images", pattern="{image_id}.jpg", test_ids="stem"))
    spec["columns"] = {"id": "image_id", "labels": list(DISEASES), "group": "patient_id",
                       "submission": ["image_id", *DISEASES]}  # fmt: skip
    spec["submission"] = {"kind": "probabilities"}
    return Built("pathology", folder, spec, ids[TRAIN:])


def _aptos(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    grade = np.minimum(digits // 2, 4)
    ids = [f"{row:012x}" for row in range(TRAIN + TEST)]
    for row, name in enumerate(ids[:TRAIN]):
        _save(images[row], folder / "train_images" / f"{name}.png", row)
    for row, name in enumerate(ids[TRAIN:]):
        _save(images[TRAIN + row], folder / "test_images" / f"{name}.png", row)
    _frame(folder / "train.csv", {"id_code": ids[:TRAIN], "diagnosis": grade[:TRAIN]})
    _frame(folder / "test.csv", {"id_code": ids[TRAIN:]})
    _frame(folder / "sample_submission.csv", {"id_code": ids[TRAIN:], "diagnosis": [0] * TEST})
    _frame(folder / "solution.csv", {"id_code": ids[TRAIN:], "diagnosis": grade[TRAIN:]})
    spec = {"metric": "qwk", "task": "ordinal", "classes": 5}
    spec.update(_image_spec("csv", train="train_images", test="test_images", pattern="{id_code}.png", test_ids="stem"))
    spec["columns"] = {"label": "diagnosis", "id": "id_code", "submission": ["id_code", "diagnosis"]}
    return Built("aptos", folder, spec, ids[TRAIN:])


WHALES = tuple(f"w_{k:07x}" for k in range(10))


def _whale(folder: Path, images: np.ndarray, digits: np.ndarray) -> Built:
    ids = [f"{row:08x}.jpg" for row in range(TRAIN + TEST)]
    for row, name in enumerate(ids[:TRAIN]):
        _save(images[row], folder / "train" / name, row)
    for row, name in enumerate(ids[TRAIN:]):
        _save(images[TRAIN + row], folder / "test" / name, row)
    _frame(folder / "train.csv", {"Image": ids[:TRAIN], "Id": [WHALES[d] for d in digits[:TRAIN]]})
    _frame(folder / "sample_submission.csv", {"Image": ids[TRAIN:], "Id": [" ".join(WHALES[:5])] * TEST})
    _frame(folder / "solution.csv", {"Image": ids[TRAIN:], "Id": [WHALES[d] for d in digits[TRAIN:]]})
    spec = {"metric": "map_at_5", "classes": list(WHALES), **_image_spec("csv", pattern="{Image}")}
    spec["columns"] = {"label": "Id", "id": "Image", "submission": ["Image", "Id"]}
    spec["submission"] = {"kind": "top_k", "k": 5}
    return Built("whale", folder, spec, ids[TRAIN:])


BUILDERS = {
    "seedlings": _seedlings,
    "cactus": _cactus,
    "dogs-vs-cats": _dogs_vs_cats,
    "dog-breed": _dog_breed,
    "pathology": _pathology,
    "aptos": _aptos,
    "whale": _whale,
}


def build(layout: str, folder: Path, seed: int = 0) -> Built:
    """Write the ``layout`` competition into ``folder`` (created) and return what its spec must say."""
    folder.mkdir(parents=True, exist_ok=True)
    images, digits = _digits(seed)
    built = BUILDERS[layout](folder, images, digits)
    return Built(built.name, folder, {"name": layout, **built.spec}, built.test_ids, built.expect)


def write_spec(built: Built) -> Path:
    """Write ``built.spec`` as the folder's ``competition.toml`` (the hand-written spec)."""
    import tomli_w

    path = built.folder / "competition.toml"
    path.write_bytes(tomli_w.dumps(built.spec).encode())
    return path
