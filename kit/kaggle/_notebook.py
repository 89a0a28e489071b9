"""The kernel's own files: its inference notebook (built with nbformat), ``kernel-metadata.json`` and the datasets'
``dataset-metadata.json``.

The notebook installs kit from the wheels dataset with no network (``pip install --no-index --find-links``), finds
the competition's folder and the models dataset under ``/kaggle/input`` (``$KAGGLE_ROOT/input``: tests lay out a
Kaggle tree elsewhere), and writes ``/kaggle/working/submission.csv`` with :func:`kit.kaggle.predict_kernel`, which
reads whatever test files are there and checks the result against ``sample_submission.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError

KERNEL_METADATA = "kernel-metadata.json"
DATASET_METADATA = "dataset-metadata.json"
DATASET_MARKER = "kit-dataset.json"  # in both datasets: what kit made them for, and the hash of their content
MIN_TITLE, MAX_TITLE = 5, 50  # Kaggle's bounds on a kernel's title
MIN_DATASET, MAX_DATASET = 6, 50  # and on a dataset's slug and title
OWNER_PLACEHOLDER = "your-kaggle-username"  # written when no owner is known; kit kernel push puts the user's name in

SETUP = '''import importlib, os, subprocess, sys
from pathlib import Path

ROOT = Path(os.environ.get("KAGGLE_ROOT", "/kaggle"))  # Kaggle's tree; tests lay one out elsewhere
INPUT, WORKING = ROOT / "input", ROOT / "working"
COMPETITION, WHEELS, KIT = {competition}, {wheels}, {kit}


def find_input(slug, marker=None):
    """The input folder ``slug`` (holding ``marker``): where Kaggle mounts it, else the first one a few levels down."""
    for pattern in (slug, f"*/{{slug}}", f"*/*/{{slug}}", f"*/*/*/{{slug}}"):
        for path in sorted(INPUT.glob(pattern)):
            if path.is_dir() and (marker is None or (path / marker).exists()):
                return path
    seen = sorted(path.name for path in INPUT.iterdir()) if INPUT.is_dir() else []
    raise FileNotFoundError(f"no input {{slug}} under {{INPUT}} (it has: {{', '.join(seen) or 'nothing'}}); add it")


wheels = find_input(WHEELS, "{marker}")
install = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--quiet"]
if subprocess.run([*install, f"kit=={{KIT}}"]).returncode != 0:
    # the image's scientific stack is older or newer than kit's pins: install the wheels as they are
    print("kit's pins do not match this image's packages; installing its wheels without the version checks")
    subprocess.run([*install, "--no-deps", *map(str, sorted(wheels.glob("*.whl")))], check=True)
importlib.invalidate_caches()
'''

PREDICT = """from kit.kaggle import predict_kernel

models, data = find_input({models}, "{manifest}"), find_input(COMPETITION)
result = predict_kernel(models, data, WORKING / "submission.csv")
print(f"wrote {{result.path}}: {{result.rows}} rows, checked against {{result.checked_against}}; "
      f"{{len(result.runs)}} runs ({{result.weighting}}{{f', TTA ×{{result.tta}}' if result.tta else ''}}) "
      f"in {{result.seconds:.0f}} s")
"""

TRAIN = """import tempfile
import kit

job = Path(tempfile.mkdtemp(prefix="kit-job-"))  # not under WORKING: only the run folder is the output
(job / {recipe_file!r}).write_text({recipe!r})
(job / {spec_file!r}).write_text({spec!r})
result = kit.cv(str(job / {recipe_file!r}), data=find_input(COMPETITION), competition=str(job / {spec_file!r}),
                out=WORKING / "runs" / {run!r}, folds={folds!r}, epochs={epochs!r})
print(f"run {run!r}: OOF accuracy {{result.oof_accuracy:.4f}} over {{len(result.folds)}} folds")
"""

SHOW = """import pandas as pd

pd.read_csv(WORKING / "submission.csv").head()
"""


@dataclass(frozen=True)
class KernelNames:
    """The slugs of a kernel and its two datasets (``owner/slug``), from its title."""

    owner: str
    title: str
    slug: str

    @property
    def kernel(self) -> str:
        return f"{self.owner}/{self.slug}"

    def dataset_slug(self, role: str) -> str:
        return f"{self.slug[: MAX_DATASET - len(role) - 1]}-{role}"

    def dataset(self, role: str) -> str:
        return f"{self.owner}/{self.dataset_slug(role)}"


def slugify(title: str) -> str:
    """The slug Kaggle makes of a title, with the client's own function (its push warns when the id differs)."""
    from slugify import slugify as client_slugify  # python-slugify, the kaggle client's dependency

    return client_slugify(title)


def kernel_names(title: str, owner: str) -> KernelNames:
    """The names of a kernel titled ``title``, checked against Kaggle's bounds; one line otherwise."""
    slug = slugify(title)
    if not MIN_TITLE <= len(title) <= MAX_TITLE or len(slug) < MIN_TITLE:
        raise KitError.invalid(
            "name", f"a kernel title of {MIN_TITLE} to {MAX_TITLE} characters, mostly letters and digits", title
        )
    if not owner or slugify(owner) != owner.lower():
        raise KitError.invalid("owner", "a Kaggle username (letters, digits and hyphens)", owner)
    return KernelNames(owner, title, slug)


def setup_cell(competition: str, wheels: str, kit_version: str) -> str:
    """The first code cell: Kaggle's paths, the input finder, and kit installed from the wheels dataset."""
    values = {"competition": competition, "wheels": wheels, "kit": kit_version}
    return SETUP.format(marker=DATASET_MARKER, **{key: json.dumps(value) for key, value in values.items()})


def notebook(names: KernelNames, competition: str, kit_version: str, about: str) -> Any:
    """The inference notebook: install kit offline, predict the test files, show the submission's head. Its cells
    have fixed ids, so the same build gives the same bytes (and push nothing new to run)."""
    import nbformat

    book = nbformat.v4.new_notebook()
    book.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python"},
    )
    from kit.kaggle._bundle import MANIFEST

    setup = setup_cell(competition, names.dataset_slug("wheels"), kit_version)
    predict = PREDICT.format(models=json.dumps(names.dataset_slug("models")), manifest=MANIFEST)
    book.cells = [
        nbformat.v4.new_markdown_cell(f"# {names.title}\n\n{about}", id="about"),
        nbformat.v4.new_code_cell(setup, id="install-kit"),
        nbformat.v4.new_code_cell(predict, id="predict"),
        nbformat.v4.new_code_cell(SHOW, id="show"),
    ]
    nbformat.validate(book)
    return book


def training_notebook(names: KernelNames, competition: Any, kit_version: str, job: dict[str, Any], about: str) -> Any:
    """The training notebook: install kit offline, then ``kit cv`` of the recipe (``job``: its name, TOML text,
    folds and epochs) into ``/kaggle/working/runs/<name>``, the output ``kit kernel train`` brings back."""
    import nbformat

    from kit.competitions import spec_toml

    book = nbformat.v4.new_notebook()
    book.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python"},
    )
    setup = setup_cell(competition.name, names.dataset_slug("wheels"), kit_version)
    train = TRAIN.format(
        recipe_file=f"{job['name']}.toml",
        recipe=job["toml"],
        spec_file=f"{competition.name}.toml",
        spec=spec_toml(competition),
        run=job["name"],
        folds=job["folds"],
        epochs=job["epochs"],
    )
    book.cells = [
        nbformat.v4.new_markdown_cell(f"# {names.title}\n\n{about}", id="about"),
        nbformat.v4.new_code_cell(setup, id="install-kit"),
        nbformat.v4.new_code_cell(train, id="train"),
    ]
    nbformat.validate(book)
    return book


def write_notebook(folder: Path, names: KernelNames, book: Any) -> Path:
    """Write the notebook ``book`` as ``folder/<slug>.ipynb``."""
    import nbformat

    path = folder / f"{names.slug}.ipynb"
    nbformat.write(book, str(path))
    return path


def kernel_metadata(names: KernelNames, competition: str, gpu: bool, code_file: str, models: bool = True) -> dict:
    """``kernel-metadata.json``: a private notebook on the competition and its datasets (the models dataset unless
    ``models`` is False: a training kernel), internet off (the client's default is on), the GPU as asked."""
    return {
        "id": names.kernel,
        "title": names.title,
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "competition_sources": [competition],
        "dataset_sources": [names.dataset("models"), names.dataset("wheels")] if models else [names.dataset("wheels")],
        "kernel_sources": [],
        "model_sources": [],
    }


def dataset_metadata(names: KernelNames, role: str, description: str) -> dict[str, Any]:
    """``dataset-metadata.json`` of the ``role`` (models or wheels) dataset: private, its title from the kernel's."""
    title = f"{names.title[: MAX_DATASET - len(role) - 1]} {role}"
    return {
        "title": title if len(title) >= MIN_DATASET else f"kit {role}",
        "id": names.dataset(role),
        "licenses": [{"name": "CC0-1.0" if role == "models" else "other"}],
        "description": description,
    }


def write_json_file(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
