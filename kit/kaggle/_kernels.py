"""``kit kernel build``: a code-competition kernel for an ensemble of runs, as a folder Kaggle takes as it is.

``OUT/models/`` is the models dataset (:mod:`kit.kaggle._bundle`), ``OUT/wheels/`` the wheels dataset
(:mod:`kit.kaggle._wheels`), each with its ``dataset-metadata.json`` and ``kit-dataset.json`` (the hash of its
content, which ``kit kernel push`` compares with what Kaggle has), and ``OUT/kernel/`` the inference notebook with its
``kernel-metadata.json`` (:mod:`kit.kaggle._notebook`). The parts are written in a temporary folder inside ``OUT``
and moved into place once all are complete, so a failed build leaves an earlier one as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import ANOTHER, KitError
from kit.kaggle._datasets import write_marker
from kit.kaggle._notebook import (
    DATASET_METADATA,
    KERNEL_METADATA,
    OWNER_PLACEHOLDER,
    KernelNames,
    dataset_metadata,
    kernel_metadata,
    kernel_names,
    notebook,
    write_json_file,
    write_notebook,
)
from kit.kaggle._wheels import PLATFORM, PYTHON, collect_wheels
from kit.utils import Callback, as_callback_list, renamed
from kit.utils._io import TEMP_PREFIX

KERNELS_DIR = Path("kernels")
PARTS = ("kernel", "models", "wheels")


@dataclass(frozen=True)
class KernelBuild:
    """A built kernel folder: the kernel's and datasets' ids, what it combines and how (the ensemble's OOF scores;
    ``tta``: the augmented copies averaged in, 0 for none), the wheels it carries; ``owner_known`` is False when the
    ids hold a placeholder that ``push`` fills in."""

    folder: Path
    title: str
    kernel: str
    models_dataset: str
    wheels_dataset: str
    competition: str
    notebook: Path
    runs: tuple[str, ...]
    weighting: str
    weights: tuple[float, ...] | None
    oof_accuracy: float
    oof_loss: float
    wheels: tuple[str, ...]
    gpu: bool
    owner_known: bool = True
    tta: int = 0

    @property
    def kernel_dir(self) -> Path:
        return self.folder / "kernel"

    @property
    def models_dir(self) -> Path:
        return self.folder / "models"

    @property
    def wheels_dir(self) -> Path:
        return self.folder / "wheels"


def configured_owner() -> str | None:
    """The Kaggle username the client's configuration names (``KAGGLE_USERNAME``, ``kaggle.json``), read without
    contacting Kaggle; None when it names none (with an access token the name is known once authenticated)."""
    from kit.kaggle import credentials

    api = credentials.new_client()
    with credentials.quiet():
        try:
            values = api.read_config_environment(api.read_config_file(quiet=True))
        except (OSError, ValueError):
            return None
    return values.get(api.CONFIG_NAME_USER) or None


def combined(
    runs: Sequence[str | Path],
    combining: dict[str, Any],
    data_dir: Path | str | None,
    callbacks: Iterable[Callback],
) -> tuple[Any, dict | None]:
    """The ensemble of ``runs`` as ``kit predict`` combines them (``combining``: weights, auto_weights, select,
    stack, metric, tta: fitted on the OOF softmaxes with the augmented copies averaged in), and a stack's meta-model
    as arrays."""
    from kit.ensemble import Stacked, build_ensemble

    ensemble = build_ensemble(runs, data_dir=data_dir, callbacks=callbacks, **combining)
    for member in ensemble.members:
        train = (member.summary.recipe_content or {}).get("train") or {}
        if train.get("snapshots") not in (None, False):
            raise KitError(
                f"run {member.run.root}: a snapshot ensemble ([train.snapshots]) votes several snapshots per fold and "
                "keeps only the last one's model, so a kernel cannot reproduce its predictions; leave it out"
            )
    if not combining.get("stack"):
        return ensemble, None
    from kit.kaggle._stackfile import stack_arrays

    members = ensemble.members
    stacked = Stacked([member.run for member in members]).fit([member.oof for member in members], ensemble.labels)
    return ensemble, stack_arrays(stacked.meta)


def competition_of(ensemble: Any, data_dir: Path | str | None) -> Any:
    """The spec the runs were trained with: their data folder's ``competition.toml``, else kit's spec of the name."""
    from kit.competitions import as_competition

    summary = ensemble.members[0].summary
    return as_competition(summary.competition, data_dir if data_dir is not None else summary.data_dir)


def prepare(out: Path, force: bool) -> Path:
    """A fresh temporary folder inside ``out`` to build in, once ``out`` is known to be free (or ``force``)."""
    if out.exists() and not out.is_dir():
        raise KitError(f"{out}: exists and is not a folder", fix=("out", ANOTHER))
    if not force and any((out / part).exists() for part in PARTS):
        raise KitError(f"{out}: holds a built kernel already", fix=(("force", True), ("out", ANOTHER)))
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out, prefix=f"{TEMP_PREFIX}build-"))
    except OSError as error:
        raise KitError(f"{out}: cannot write there ({error.strerror or error})", fix=("out", ANOTHER)) from None


def move_into_place(scratch: Path, out: Path) -> None:
    """Replace ``out``'s parts with those built in ``scratch`` (the push record beside them stays)."""
    for part in PARTS:
        if (out / part).exists():
            shutil.rmtree(out / part)
        os.replace(scratch / part, out / part)


def write_wheels(scratch: Path, names: KernelNames, wheels: dict[str, Any]) -> tuple[str, ...]:
    """Write the wheels dataset into ``scratch/wheels`` (``wheels``: python, platform, wheels_from); their names."""
    import kit

    wheel_names = collect_wheels(scratch / "wheels", **wheels)
    about = f"kit {kit.__version__} and the wheels it needs beyond Kaggle's image, for kernels with no internet."
    write_json_file(scratch / "wheels" / DATASET_METADATA, dataset_metadata(names, "wheels", about))
    write_marker(scratch / "wheels", "wheels", names.kernel)
    return wheel_names


def write_datasets(
    scratch: Path, names: KernelNames, ensemble: Any, stack: dict | None, competition: Any, wheels: dict[str, Any]
) -> tuple[str, ...]:
    """Write the models and wheels datasets into ``scratch``; the wheels' file names."""
    import kit
    from kit.kaggle._bundle import write_models

    members = ensemble.members
    details = {"kit": kit.__version__, "oof_accuracy": ensemble.oof_accuracy, "oof_loss": ensemble.oof_loss}
    weights = None if stack is not None else [float(weight) for weight in ensemble.weights]
    runs = [member.run for member in members]
    write_models(scratch / "models", runs, weights, ensemble.weighting, competition, stack, details, ensemble.tta)
    about = f"The fold models of {len(members)} kit runs for {competition.name}, made by kit kernel build."
    write_json_file(scratch / "models" / DATASET_METADATA, dataset_metadata(names, "models", about))
    write_marker(scratch / "models", "models", names.kernel)
    return write_wheels(scratch, names, wheels)


def write_kernel(scratch: Path, names: KernelNames, ensemble: Any, competition: Any, gpu: bool) -> Path:
    """Write the notebook and its ``kernel-metadata.json`` into ``scratch/kernel``; the notebook's path."""
    import kit

    (scratch / "kernel").mkdir()
    runs = ", ".join(member.name for member in ensemble.members)
    how = ensemble.weighting + (f", test-time augmentation ×{ensemble.tta}" if ensemble.tta else "")
    about = (
        f"Predicts the test files of `{competition.name}` with the fold models of {runs} ({how}) "
        "and writes `submission.csv`, checked against `sample_submission.csv`. It needs no internet: kit comes "
        "from the wheels dataset. Built by `kit kernel build`."
    )
    book = notebook(names, competition.name, kit.__version__, about)
    notebook_path = write_notebook(scratch / "kernel", names, book)
    metadata = kernel_metadata(names, competition.name, gpu, notebook_path.name)
    write_json_file(scratch / "kernel" / KERNEL_METADATA, metadata)
    return notebook_path


@renamed(data_dir="data")
def build_kernel(
    runs: Sequence[str | Path],
    out: Path | str | None = None,
    *,
    title: str | None = None,
    owner: str | None = None,
    gpu: bool = False,
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    select: bool = False,
    stack: bool = False,
    metric: str | None = None,
    tta: int = 0,
    data: Path | str | None = None,
    python_version: str = PYTHON,
    platform: str = PLATFORM,
    wheels_from: Path | str | None = None,
    force: bool = False,
    callbacks: Iterable[Callback] | Callback = (),
) -> KernelBuild:
    """Build the kernel folder ``out`` (default ``kernels/<slug of the title>``) for the ensemble of ``runs``.

    The runs are combined as ``kit predict`` combines them (equal vote; ``weights``, ``auto_weights``, ``select`` or
    ``stack``, optimising ``metric`` as there: by default the competition's for fitted weights and a smooth stand-in
    for selection; with ``tta`` augmented copies of the images averaged in, as ``kit predict --tta`` averages them, the
    OOF ones read from ``data`` or the runs' own data folder), and the combiner's parameters saved as data; the
    kernel averages the same copies of its test images in. The title (default ``kit <competition>``, so each build
    for a competition is a new version of one kernel) gives the kernel's slug; ``owner`` (default the username the
    kaggle client's configuration names) owns it and its datasets. The wheels are resolved for Python
    ``python_version`` on ``platform`` from the package registry, or taken from the folder ``wheels_from``.
    ``gpu`` asks Kaggle for a GPU. An existing build in ``out`` is replaced only with ``force``.
    """
    data_dir = data  # the name inside (``data_dir`` is the deprecated keyword)
    progress = as_callback_list(callbacks)
    combining = {"weights": weights, "auto_weights": auto_weights, "select": select, "stack": stack, "metric": metric}
    combining["tta"] = tta
    progress.on_phase("combining the runs", 0, 1)
    ensemble, arrays = combined(runs, combining, data_dir, progress)
    competition = competition_of(ensemble, data_dir)
    found = owner or configured_owner()
    names = kernel_names(title or f"kit {competition.name}", found or OWNER_PLACEHOLDER)
    out = Path(out) if out is not None else KERNELS_DIR / names.slug
    scratch = prepare(out, force)
    try:
        progress.on_phase("writing the models and wheels datasets", 0, 2)
        wheels = {"python": python_version, "platform": platform, "wheels_from": wheels_from}
        wheel_names = write_datasets(scratch, names, ensemble, arrays, competition, wheels)
        progress.on_phase("writing the notebook", 1, 2)
        written = write_kernel(scratch, names, ensemble, competition, gpu)
        move_into_place(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    progress.on_phase("writing the notebook", 2, 2)
    return KernelBuild(
        folder=out,
        title=names.title,
        kernel=names.kernel,
        models_dataset=names.dataset("models"),
        wheels_dataset=names.dataset("wheels"),
        competition=competition.name,
        notebook=out / "kernel" / written.name,
        runs=tuple(str(member.run.root) for member in ensemble.members),
        weighting=ensemble.weighting,
        weights=None if stack else tuple(float(weight) for weight in ensemble.weights),
        oof_accuracy=ensemble.oof_accuracy,
        oof_loss=ensemble.oof_loss,
        wheels=wheel_names,
        gpu=gpu,
        owner_known=found is not None,
        tta=ensemble.tta,
    )
