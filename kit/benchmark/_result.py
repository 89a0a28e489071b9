"""What a bench measured (:class:`BenchResult`), with the targets it is held to: the numbers ``bench.json`` holds and
``bench.png`` draws."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kit.benchmark._backbones import BackboneBench
from kit.benchmark._fullsize import CVEstimate, FullSize
from kit.benchmark._images import ImageBench
from kit.benchmark._measure import Contender

PROBE_BATCHES = 40
RATIO_TARGET = 0.10  # of the notebook's full time
FIRST_REACH_TARGET = 0.25  # of the time the notebook itself first reached its final accuracy
SEEDS = 3
FOLDS = 5
BENCH_FILE = "bench.json"
PLOT_FILE = "bench.png"
DEFAULT_RECIPE = "turbo"
STARTUP_RUNS = 3
STARTUP_TARGET_SECONDS = 1.0
STARTUP = "kit cv --help start-up"
OPTIONS = "speed options"
DETERMINISTIC = "float32, deterministic ops"


@dataclass(frozen=True)
class BenchRows:
    """Where the bench's rows came from and how many each part has (``replicated``: rows repeated, speed only)."""

    source: str
    train_rows: int
    validation_rows: int
    inference_rows: int
    replicated: bool


@dataclass(frozen=True)
class StartupTime:
    """Wall seconds of ``kit cv --help`` in a fresh process, each run and their median, against the target."""

    command: str
    seconds: tuple[float, ...]
    median: float
    target: float = STARTUP_TARGET_SECONDS

    @property
    def met(self) -> bool:
        return self.median <= self.target


@dataclass(frozen=True)
class BenchResult:
    """Everything one bench measured; :meth:`to_json` is what ``bench.json`` holds."""

    machine: str
    load_average: tuple[float, ...]
    finished_at: str
    recipe: str
    recipe_hash: str
    data: BenchRows
    contenders: tuple[Contender, ...]
    time_to_notebook_accuracy_ratio: float | None
    ratio_target: float = RATIO_TARGET
    first_reach_ratio: float | None = None
    first_reach_target: float = FIRST_REACH_TARGET
    seeds: tuple[int, ...] = (0,)
    folds: int = FOLDS
    overrides: Mapping[str, Any] = field(default_factory=dict)
    option_images_per_s: Mapping[str, float] = field(default_factory=dict)
    option_warmup_seconds: Mapping[str, float] = field(default_factory=dict)
    verdicts: Mapping[str, str] = field(default_factory=dict)
    cli_startup: StartupTime | None = None
    cv_estimate: CVEstimate | None = None
    full_size: FullSize | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    images: ImageBench | None = None  # the image-file phase (kit.benchmark._images)
    backbones: BackboneBench | None = None  # the backbone phase (kit.benchmark._backbones)
    path: Path | None = None  # the bench.json written

    @property
    def notebook(self) -> Contender:
        return self.contenders[0]

    @property
    def kit(self) -> Contender:
        return self.contenders[1]

    def to_json(self) -> dict[str, Any]:
        """The result as plain JSON values (tuples become lists; the path it was written to is left out)."""
        content = asdict(self)
        content.pop("path")
        return content
