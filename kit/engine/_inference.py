"""Fast inference of trained fold models: their softmax outputs averaged in ONE graph, run by TensorFlow Lite's
XNNPACK kernels on fixed-size batches, or by Keras itself where that engine is unavailable.

``precision="float32"`` (the default) gives Keras' float32 probabilities to about 1e-6, about twice as fast as the
same Keras graph on a 2-core CPU; a model trained in mixed bfloat16 is evaluated in float32, its weights unchanged.
``precision="int8"`` quantizes the weights to int8 per channel and the activations per batch (TensorFlow Lite's
dynamic-range quantization, run by XNNPACK's VNNI kernels where the CPU has them): about twice faster again, with
probabilities within about 0.02 of float32's — as far as bfloat16 inference is from them.

Every compiled graph is checked against Keras on a probe batch before it is used, so a wrong conversion is never used
silently: ``engine="auto"`` falls back to Keras (float32), ``engine="tflite"`` fails.
"""

from __future__ import annotations

import gc
import logging
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kit.errors import KitError
from kit.utils import import_tensorflow, native_stderr_silenced, usable_cores

ENGINES = ("auto", "tflite", "keras")
PRECISIONS = ("float32", "int8")
BATCH = 64  # XNNPACK: 64 beat 256 by ~8 % in float32 here (docs/speed-notes.md); Keras runs at KERAS_BATCH
KERAS_BATCH = 1024
MAX_BATCH = 65_536
PROBE_ROWS = 64
TOLERANCE = {"float32": 1e-4, "int8": 0.05}  # largest probability difference from Keras accepted on the probe


@dataclass(frozen=True)
class Predictor:
    """A compiled ensemble of fold models: call it on images (uint8 or float, rows × the models' input shape) for
    the float32 mean of their softmax outputs. Calls from several threads take turns (one interpreter)."""

    engine: str
    precision: str
    models: int
    classes: int
    batch: int
    threads: int  # TensorFlow Lite's threads (Keras uses TensorFlow's own pool)
    input_shape: tuple[int, ...]
    run: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    fallback: str | None = None  # why "auto" fell back to Keras, if it did

    @property
    def description(self) -> str:
        """What computed the probabilities, e.g. "tflite int8" or "keras float32 (TensorFlow Lite: …)"."""
        return f"{self.engine} {self.precision}" + (f" ({self.fallback})" if self.fallback else "")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if tuple(images.shape[1:]) != self.input_shape:
            raise KitError(f"images: shape {tuple(images.shape)}, the models take (rows, {self.input_shape})")
        if not len(images):
            return np.zeros((0, self.classes), np.float32)
        with garbage_collection_paused():
            return self.run(images)


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (and back as it was). The batch loop frees its arrays by
    reference counting, but its allocations trigger collections; in a process that has trained models (a notebook,
    the bench), one collection walks ~500,000 objects and finalizes TensorFlow's leftovers, and the first pass over
    28,000 test images ran at ~7,000 images/s instead of ~10,800 (docs/speed-notes.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def float32_copy(model: Any, name: str) -> Any:
    """``model`` rebuilt with float32 layers (mixed-precision casts gone) and the same weights, named ``name``."""
    import keras

    def as_float32(layer: Any) -> Any:
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    copy.name = name
    return copy


def averaged_graph(models: Sequence[Any]) -> Any:
    """One Keras model: the float32 copies of ``models`` on a shared input, their softmax outputs averaged.

    Built under Keras' float32 global policy whatever the caller set (a notebook's ``mixed_float16``, say), which is
    restored after: under a mixed global policy the wrappers and the average compute in half precision, the converted
    graph disagrees with Keras on the probe, and prediction falls back to Keras at half the speed."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copies = [float32_copy(model, f"fold_{index + 1}") for index, model in enumerate(models)]
        inputs = keras.Input(shape=tuple(models[0].input_shape[1:]), dtype="float32")
        outputs = [copy(inputs) for copy in copies]
        return keras.Model(inputs, keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0], name="folds")
    finally:
        keras.config.set_dtype_policy(previous)


def in_batches(images: np.ndarray, batch: int, step: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``step`` on float32 batches of exactly ``batch`` rows (the last one padded with zeros), results concatenated
    and the padding dropped; ``images`` has at least one row (:class:`Predictor` answers empty input itself)."""
    results = []
    for start in range(0, len(images), batch):
        part = np.asarray(images[start : start + batch], dtype=np.float32)
        rows = len(part)
        if rows < batch:
            part = np.concatenate([part, np.zeros((batch - rows, *part.shape[1:]), np.float32)])
        results.append(step(part)[:rows])
    return np.concatenate(results).astype(np.float32, copy=False)


def tflite_runner(graph: Any, batch: int, threads: int, int8: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """``graph`` frozen at an input of ``batch`` rows (static shapes: no shape arithmetic left in the graph) and
    converted to TensorFlow Lite (XNNPACK kernels); with ``int8``, dynamic-range quantized."""

    tf = import_tensorflow()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = tuple(graph.input_shape[1:])
    function = tf.function(lambda x: graph(x, training=False), input_signature=[tf.TensorSpec([batch, *shape])])
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # "consider providing the trackable_obj": the frozen function needs none
    try:
        with warnings.catch_warnings(), native_stderr_silenced():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice (LiteRT is its successor)
            converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
            if int8:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights int8, activations quantized per batch
            content = converter.convert()
            interpreter = tf.lite.Interpreter(model_content=content, num_threads=threads)
            source = interpreter.get_input_details()[0]["index"]
            target = interpreter.get_output_details()[0]["index"]
            interpreter.allocate_tensors()  # creates the XNNPACK delegate, which announces itself on stderr
    finally:
        absl.setLevel(level)

    lock = threading.Lock()  # one interpreter: its input and output tensors are shared

    def step(part: np.ndarray) -> np.ndarray:
        with lock:
            interpreter.set_tensor(source, part)
            interpreter.invoke()
            return interpreter.get_tensor(target).copy()

    return lambda images: in_batches(images, batch, step)


def keras_runner(graph: Any, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    """``graph.predict_on_batch`` on float32 batches of ``batch`` rows (no tf.data iterator: an autotuned one takes
    ~3 s to be destroyed after every ``predict``, see :func:`kit.engine._pipeline.without_autotune`)."""
    return lambda images: in_batches(images, batch, lambda part: np.asarray(graph.predict_on_batch(part)))


def checked_graph(models: Sequence[Any]) -> Any:
    """:func:`averaged_graph` of ``models``, which must share their input shape and number of classes."""
    shapes = {tuple(model.input_shape[1:]) for model in models}
    classes = {model.output_shape[-1] for model in models}
    if len(shapes) > 1 or len(classes) > 1:
        raise KitError(
            f"models: they differ in input shape {sorted(shapes)} or classes {sorted(classes)}; pass one kind"
        )
    try:
        return averaged_graph(models)
    except (ValueError, TypeError, KeyError) as error:
        raise KitError(f"models: cannot be rebuilt as one float32 graph ({error})") from None


def compile_predictor(
    models: Sequence[Any],
    engine: str = "auto",
    batch: int | None = None,
    threads: int | None = None,
    probe: np.ndarray | None = None,
    precision: str = "float32",
) -> Predictor:
    """One :class:`Predictor` for Keras ``models`` (the fold models of a run, or any models of one input shape):
    the mean of their softmax outputs.

    ``engine``: ``"tflite"`` (TensorFlow Lite with XNNPACK), ``"keras"``, or ``"auto"`` (TensorFlow Lite, falling back
    to Keras if it is missing, fails to convert, or differs from Keras on the probe batch by more than 1e-4 in
    float32, 0.05 in int8). ``precision``: ``"float32"`` or ``"int8"`` (TensorFlow Lite only; see the module).
    ``probe``: images to check the engines on (default: random pixels; real images check int8 better).
    """
    if engine not in ENGINES:
        raise KitError.invalid("engine", f"one of {', '.join(ENGINES)}", engine)
    if precision not in PRECISIONS:
        raise KitError.invalid("precision", f"one of {', '.join(PRECISIONS)}", precision)
    if precision == "int8" and engine == "keras":
        raise KitError("int8 runs on engine tflite (or auto); engine keras computes in float32", argument="precision")
    if not models:
        raise KitError("none given; pass at least one trained model", argument="models")
    if batch is not None and not 1 <= batch <= MAX_BATCH:
        raise KitError.invalid("batch", f"1–{MAX_BATCH:,} images", batch)
    if threads is not None and threads < 1:
        raise KitError.invalid("threads", "at least 1", threads)
    threads = threads or usable_cores()
    graph = checked_graph(models)
    shape, classes = tuple(graph.input_shape[1:]), int(graph.output_shape[-1])
    keras_batch = batch or KERAS_BATCH
    keras_run = keras_runner(graph, keras_batch)
    if engine == "keras":
        return Predictor("keras", "float32", len(models), classes, keras_batch, threads, shape, keras_run)
    if probe is None or not len(probe):
        probe = np.random.default_rng(0).uniform(0, 255, (PROBE_ROWS, *shape)).astype(np.float32)
    if tuple(probe.shape[1:]) != shape:
        raise KitError(f"probe: shape {tuple(probe.shape)}, the models take (rows, {shape})")
    probe = probe[:PROBE_ROWS]
    expected = keras_run(probe)
    try:
        tflite_run = tflite_runner(graph, batch or BATCH, threads, int8=precision == "int8")
        difference, tolerance = float(np.max(np.abs(tflite_run(probe) - expected))), TOLERANCE[precision]
        if not difference <= tolerance:
            raise ValueError(f"its probabilities differ from Keras' by {difference:.1e} (more than {tolerance:.0e})")
    except Exception as error:  # any failure to convert or to agree means: use Keras
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = f"TensorFlow Lite: {first_line}"
        if engine == "tflite":
            raise KitError(f"engine tflite: {reason}; use engine keras (or auto)") from None
        return Predictor("keras", "float32", len(models), classes, keras_batch, threads, shape, keras_run, reason)
    return Predictor("tflite", precision, len(models), classes, batch or BATCH, threads, shape, tflite_run)
