"""Small shared helpers below every module that trains or scores: quiet TensorFlow start-up, thread and
determinism set-up, and the software versions a run records."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

from kit.utils._quiet import native_stderr_silenced


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def proc_mib(path: str, key: str) -> float | None:
    """A ``kB`` line ``key`` of a ``/proc`` file (``/proc/meminfo``, ``/proc/PID/status``…) in MiB; None where the
    file or the line is missing (another system, a process that has ended)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory_mib() -> float | None:
    """Memory the system can still give without swapping (``MemAvailable``), in MiB; None where it does not say."""
    return proc_mib("/proc/meminfo", "MemAvailable:")


def import_tensorflow():
    """Import TensorFlow with its native start-up lines (oneDNN notice, CUDA stubs) kept off stderr.

    Used by every module that needs TensorFlow, so a notebook or a terminal sees none of them.
    """
    if "tensorflow" not in sys.modules:
        with native_stderr_silenced():
            import tensorflow
    tensorflow = sys.modules["tensorflow"]
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def prepare_tensorflow(threads: int | None, deterministic: bool = True) -> None:
    """Make TensorFlow ops deterministic (or, with ``deterministic=False``, let them choose their fastest kernels and
    let Keras compile with XLA), quiet its retracing warnings (every fold builds a new model) and give a worker
    process ``threads`` threads (if not yet started)."""
    tf = import_tensorflow()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config

        config.disable_op_determinism()
    tf.get_logger().setLevel("ERROR")
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), per /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy of a recipe's ``train.precision``: ``"auto"`` is ``mixed_float16`` where a GPU is
    visible (its tensor cores; the optimizer scales the loss), else ``mixed_bfloat16`` on a CPU that computes
    bfloat16 natively (AVX-512 BF16 or AMX), else ``float32`` (emulated bfloat16 is slower than float32); any other
    value is itself."""
    if precision != "auto":
        return precision
    tf = import_tensorflow()
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def software_versions() -> dict[str, str]:
    """The versions that decide what a fold trains to: kit, TensorFlow and Keras."""
    tf = import_tensorflow()
    import keras

    return {"kit": metadata.version("kit"), "tensorflow": tf.__version__, "keras": keras.__version__}
