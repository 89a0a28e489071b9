"""``kit kernel train``: ``kit cv`` of a recipe on Kaggle's machines (a GPU by default), through the kernel machinery
of ``kit kernel push`` — the data from the competition's input, kit and its wheels from a wheels dataset — and the
finished run folder brought back with ``kernels_output``: a run folder like a local one (read by kit's checked
reader before it is put in place), so ``kit predict`` combines Kaggle-trained and local runs.

The kernel folder (``kernels/<slug>``: the notebook, its metadata and the wheels dataset) is rebuilt on every call;
the same recipe, data spec and kit give the same bytes, so a rerun uploads and pushes nothing and follows the version
already running.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import ANOTHER, KitError
from kit.kaggle._datasets import DatasetSync
from kit.kaggle._follow import KERNEL_POLL
from kit.kaggle._kernels import KERNELS_DIR, configured_owner, write_wheels
from kit.kaggle._notebook import (
    KERNEL_METADATA,
    OWNER_PLACEHOLDER,
    kernel_metadata,
    kernel_names,
    training_notebook,
    write_json_file,
    write_notebook,
)
from kit.kaggle._push import deadline_of, read_state, run_on_kaggle
from kit.kaggle._wheels import PLATFORM, PYTHON
from kit.kaggle.submitting import Poll
from kit.kaggle.transport import RETRY, Retry
from kit.utils import Callback, as_callback_list, renamed

RUNS_DIR = Path("runs")


@dataclass(frozen=True)
class KernelTraining:
    """A run trained on Kaggle: the local run folder it was brought back to, its OOF accuracy, the kernel and
    version that trained it (``pushed``: by this call, else found running or finished), the kernel folder."""

    run: Path
    oof_accuracy: float
    folds: int
    kernel: str
    version: int | None
    pushed: bool
    folder: Path
    datasets: tuple[DatasetSync, ...]


def write_training(
    folder: Path, recipe: Any, competition: Any, job: dict[str, Any], options: dict[str, Any]
) -> tuple[str, Path]:
    """(Re)write the kernel folder of a training job: the wheels dataset, the notebook and its metadata; the
    kernel's id and the notebook's path. The push record beside them stays."""
    import kit

    owner = options["owner"] or configured_owner()
    names = kernel_names(options["title"] or f"kit {recipe.name} {competition.name}"[:50], owner or OWNER_PLACEHOLDER)
    for part in ("kernel", "wheels"):
        shutil.rmtree(folder / part, ignore_errors=True)
    write_wheels(folder, names, options["wheels"])
    about = (
        f"Trains recipe `{recipe.name}` on `{competition.name}` with kit cv ({job['folds'] or 'its'} folds) and "
        "leaves the run folder in the output, for `kit kernel train` to bring back. No internet: kit comes from "
        "the wheels dataset."
    )
    (folder / "kernel").mkdir()
    book = training_notebook(names, competition, kit.__version__, job, about)
    written = write_notebook(folder / "kernel", names, book)
    metadata = kernel_metadata(names, competition.name, options["gpu"], written.name, models=False)
    write_json_file(folder / "kernel" / KERNEL_METADATA, metadata)
    return names.kernel, written


def bring_back(output: Path, name: str, dest: Path, force: bool) -> Path:
    """Move the run folder ``runs/<name>`` of the kernel's output to ``dest``, once kit's checked reader reads it as
    a finished run; one line when it is not one, or ``dest`` holds a run and ``force`` is not given."""
    from kit.crossval import RunFolder, load_run

    found = output / "runs" / name
    try:
        summary = RunFolder(load_run(found).path).summary_path
    except KitError as error:
        raise KitError(f"the kernel's output holds no finished run {name} ({error}); see its log on Kaggle") from None
    same = (
        dest.is_dir() and (dest / summary.name).is_file() and (dest / summary.name).read_bytes() == summary.read_bytes()
    )
    if same:  # brought back by an earlier call
        return dest
    if dest.exists() and not force:
        raise KitError(f"{dest}: holds another run already", fix=(("force", True), ("out", ANOTHER)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(found, dest)  # the output folder keeps its copy: a rerun finds it there
    return dest


@renamed(data_dir="data")
def train_kernel(
    recipe: Any,
    competition: str | None = None,
    *,
    data: Path | str | None = None,
    out: Path | str | None = None,
    folder: Path | str | None = None,
    title: str | None = None,
    owner: str | None = None,
    gpu: bool = True,
    folds: int | None = None,
    epochs: int | None = None,
    timeout: float | None = None,
    poll: Poll = KERNEL_POLL,
    retry: Retry = RETRY,
    python_version: str = PYTHON,
    platform: str = PLATFORM,
    wheels_from: Path | str | None = None,
    force: bool = False,
    callbacks: Iterable[Callback] | Callback = (),
) -> KernelTraining:
    """Run ``kit cv`` of ``recipe`` (a name or a ``.toml`` path; ``folds``, ``epochs`` as for ``kit cv``) on Kaggle
    and bring the run folder back to ``out`` (default ``runs/<recipe>``).

    The competition's spec comes from ``data``'s ``competition.toml`` or kit's spec of ``competition``; Kaggle
    gives the kernel that competition's files. The kernel (``title``, default ``kit <recipe> <competition>``; owned
    by ``owner``; a GPU unless ``gpu`` is False) lives in ``folder`` (default ``kernels/<slug>``) with its wheels
    dataset (resolved for ``python_version`` on ``platform``, or taken from ``wheels_from``). With ``timeout`` the
    call ends within that many seconds, and a rerun follows the same kernel version. ``force`` pushes the kernel
    again and replaces a run already in ``out``.
    """
    data_dir = data  # the name inside (``data_dir`` is the deprecated keyword)
    from kit.competitions import as_competition
    from kit.crossval import load_run
    from kit.recipes import load_recipe, recipe_toml

    progress = as_callback_list(callbacks)
    loaded = load_recipe(str(recipe)) if not hasattr(recipe, "table") else recipe
    spec = as_competition(competition, data_dir)
    options = {
        "owner": owner,
        "title": title,
        "gpu": gpu,
        "wheels": {"python": python_version, "platform": platform, "wheels_from": wheels_from},
    }
    job = {"name": loaded.name, "toml": recipe_toml(loaded), "folds": folds, "epochs": epochs}
    home = Path(folder) if folder is not None else KERNELS_DIR / f"train-{loaded.name}-{spec.name}"
    home.mkdir(parents=True, exist_ok=True)
    progress.on_phase("writing the training kernel", 0, 1)
    write_training(home, loaded, spec, job, options)
    state = read_state(home)
    ran = run_on_kaggle(home, state, retry, poll, deadline_of(timeout), force, progress, "kit kernel train")
    dest = bring_back(ran.output, loaded.name, Path(out) if out is not None else RUNS_DIR / loaded.name, force)
    result = load_run(dest)
    return KernelTraining(
        dest, result.oof_accuracy, len(result.folds), ran.kernel, ran.version, ran.pushed, home, ran.datasets
    )
