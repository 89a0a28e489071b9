"""Train folds on a Dask cluster (``Client.submit``), or one fold per GPU on a machine with several GPUs.

Workers need no shared disk: the client scatters the images to every worker once, each fold task returns its
:class:`~kit.crossval._rundir.FoldResult` (metrics, softmaxes, serialized model) and the client writes the run folder.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.errors import KitError

if TYPE_CHECKING:
    from kit.crossval._fold import FoldJob, Runner
    from kit.crossval._rundir import FoldResult
    from kit.data import ImageSet
    from kit.utils import Callback

CONNECT_TIMEOUT = 10.0
WORKERS_TIMEOUT = 60.0


def gpu_devices_present() -> bool:
    """Whether this machine shows processes a GPU device node (NVIDIA ``/dev/nvidia0``…, AMD ROCm ``/dev/kfd``) that
    ``CUDA_VISIBLE_DEVICES`` leaves visible; without one TensorFlow sees no GPU, so callers need not import it."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return Path("/dev/kfd").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def visible_gpus() -> list[str]:
    """The GPUs TensorFlow sees here, as the ``CUDA_VISIBLE_DEVICES`` entries that pin a process to each one.

    On a machine without GPU devices it answers without importing TensorFlow: the process that hands folds to
    ``--jobs`` workers then stays small (TensorFlow's ~450 MiB would sit idle beside the workers')."""
    if not gpu_devices_present():
        return []
    from kit.utils import import_tensorflow

    tf = import_tensorflow()
    count = len(tf.config.list_physical_devices("GPU"))
    listed = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    return listed[:count] if listed else [str(index) for index in range(count)]


def _prepare_worker(processes_on_host: int) -> dict[str, str]:
    """Run on a worker before its first fold: its share of the host's cores for TensorFlow; return its versions."""
    from kit.utils import prepare_tensorflow, software_versions, usable_cores

    prepare_tensorflow(max(1, usable_cores() // processes_on_host))
    return software_versions()


def _log_epoch(topic: str, fold: int, epoch: int, logs: dict[str, float]) -> None:
    """Run inside a fold task: send one finished epoch to the client as a Dask event."""
    from distributed import get_worker

    logs = {key: float(value) for key, value in logs.items()}
    get_worker().log_event(topic, {"fold": fold, "epoch": epoch, "logs": logs})


@contextmanager
def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``address``; a one-line error if none answers (or the address is
    not one). The half-made client of a failed connection is closed at once: left to the garbage collector, it
    would try to close itself at exit and print a ``TimeoutError`` traceback after the error."""
    from distributed import Client

    client = Client.__new__(Client)
    try:
        client.__init__(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        with suppress(Exception):
            client.close(timeout=timeout)
        raise KitError(
            f"no Dask scheduler answered at {address} ({error}); start one with `dask scheduler` "
            "and pass its tcp://HOST:8786 address",
            argument="cluster",
        ) from None
    with client:
        yield client


@contextmanager
def local_gpu_cluster(gpus: Sequence[str], workers: int) -> Iterator[Any]:
    """A local cluster of ``workers`` one-thread processes, worker ``i`` pinned to GPU ``gpus[i % len(gpus)]``."""
    from distributed import Nanny, Scheduler, SpecCluster

    specs = {
        index: {
            "cls": Nanny,
            "options": {
                "nthreads": 1,
                "env": {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)], "TF_FORCE_GPU_ALLOW_GROWTH": "true"},
            },
        }
        for index in range(workers)
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    with SpecCluster(workers=specs, scheduler=scheduler, silence_logs=logging.ERROR) as cluster:
        yield cluster


def prepare_workers(client: Any, timeout: float = WORKERS_TIMEOUT, expected: int = 1) -> dict[str, dict[str, str]]:
    """Wait for ``expected`` workers, check them (one thread each, same software as here) and split each host's cores
    among them; workers that join later train with TensorFlow's default threads."""
    try:
        client.wait_for_workers(expected, timeout=timeout)
    except TimeoutError:
        raise KitError(
            f"cluster {client.scheduler.address}: no Dask worker joined within {timeout:.0f} s; "
            "start one with `dask worker ADDRESS --nthreads 1`"
        ) from None
    workers = client.scheduler_info()["workers"]
    for address, info in workers.items():
        if info["nthreads"] != 1:
            raise KitError(
                f"Dask worker {address} runs {info['nthreads']} threads; start workers with --nthreads 1 "
                "so that each fold has a process (and its seeds) to itself; TensorFlow still uses all the cores"
            )
    hosts = Counter(info["host"] for info in workers.values())
    found: dict[str, dict[str, str]] = {}
    try:
        for host, count in hosts.items():
            on_host = [address for address, info in workers.items() if info["host"] == host]
            found.update(client.run(_prepare_worker, count, workers=on_host))
    except ImportError as error:
        raise KitError(
            f"a Dask worker cannot import kit ({error}); install the same kit on every worker machine"
        ) from None
    from kit.utils import software_versions

    here = software_versions()
    for address, versions in found.items():
        if versions != here:
            raise KitError(f"Dask worker {address} runs {versions}, this machine {here}; install the same versions")
    return found


@contextmanager
def dask_folds(
    address: str | None,
    callbacks: Callback,
    train: ImageSet | None = None,
    test: ImageSet | None = None,
    gpus: Sequence[str] = (),
    workers: int = 0,
    task: Callable[..., Any] | None = None,
) -> Iterator[Runner]:
    """While open, yield a runner that trains fold jobs on the cluster, yielding their results as they finish.

    ``address`` names a running scheduler; without one, a local cluster of ``workers`` processes is started with one
    GPU of ``gpus`` each. The image sets ``train`` and ``test`` are sent to every worker once, not per fold. Epochs
    reach ``callbacks`` as Dask events (epoch 0: the fold begins). ``task(job, train, test, report)`` is what a
    worker runs per job (:func:`~kit.crossval._fold.train_fold`).
    """
    from distributed import Client, as_completed

    if task is None:
        from kit.crossval._fold import train_fold as task
    with ExitStack() as stack:
        if address is None:
            client = stack.enter_context(
                Client(stack.enter_context(local_gpu_cluster(gpus, workers)), set_as_default=False)
            )
        else:
            client = stack.enter_context(connect(address))
        prepare_workers(client, expected=workers if address is None else 1)  # a local cluster: all its workers
        topic = f"kit-epochs-{uuid.uuid4().hex}"

        def relay(event: tuple[float, dict[str, Any]]) -> None:
            message = event[1]  # Dask adds the sending worker to it
            if message["epoch"] == 0:
                callbacks.on_fold_begin(message["fold"])
            else:
                callbacks.on_epoch_end(message["fold"], message["epoch"], message["logs"])

        client.subscribe_topic(topic, relay)
        stack.callback(client.unsubscribe_topic, topic)
        given = [part for part in (train, test) if part is not None]
        futures = iter(client.scatter(given, broadcast=True) if given else [])
        shared = [None if part is None else next(futures) for part in (train, test)]
        report = partial(_log_epoch, topic)

        def run(jobs: Iterable[FoldJob]) -> Iterator[FoldResult]:
            submitted = [client.submit(task, job, *shared, report, pure=False) for job in jobs]
            for future in as_completed(submitted, loop=client.loop):
                yield future.result()

        yield run
