"""The wheels dataset of a kernel: kit's own wheel and every wheel its inference needs beyond the scientific stack a
Kaggle image already has, for the kernel's Python and platform, so the kernel installs kit with no network.

kit's wheel is built with ``pip wheel --no-deps`` from a copy of its source. Its dependencies are resolved with pip
for the kernel (``pip install --dry-run --report`` with ``--only-binary=:all: --python-version --platform``), the
stack and everything it pulls in are left out (:data:`KAGGLE_STACK`: the image has them), and the rest is fetched
with ``pip download --no-deps``. Offline (``wheels_from``) the wheels are taken from a local folder instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from kit.errors import KitError

# What every Kaggle Python image has: kit leaves these and all they depend on to the image.
KAGGLE_STACK = (
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "pillow",
    "joblib",
)
PYTHON = "3.11"  # the Python of Kaggle's current image
PLATFORM = "manylinux_2_35_x86_64"  # its glibc (Ubuntu 22.04): wheels of this manylinux level and every older one
LEGACY = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}  # PEP 600 names of the older levels
SOURCE = ("pyproject.toml", "README.md", "kit")
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip archive holds
PIP_TIMEOUT = 1800  # seconds one pip command may take (TensorFlow's metadata, dozens of wheels)


def normalise(name: str) -> str:
    """A project name as PEP 503 compares it: ``Scikit_Learn`` → ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_tags(platform: str) -> list[str]:
    """Every platform tag a kernel of ``platform`` runs: a manylinux level (``manylinux_2_35_x86_64`` or
    ``manylinux2014_x86_64``) and all older ones (pip takes only the tags it is given); any other tag as it is."""
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform)
    modern = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not legacy and not modern:
        return [platform]
    glibc, arch = (LEGACY[legacy[1]], legacy[2]) if legacy else (int(modern[1]), modern[2])  # type: ignore[index]
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 4, -1)]
    tags += [f"{name}_{arch}" for name, minor in LEGACY.items() if minor <= glibc]
    return tags


def pip(arguments: Sequence[str], what: str) -> str:
    """Run ``python -m pip`` with ``arguments``; its output, or one line with pip's own error when it fails. Zip
    timestamps are fixed (``SOURCE_DATE_EPOCH``), so the same source gives the same wheel, byte for byte."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
        )
    except subprocess.TimeoutExpired:
        raise KitError(f"{what}: pip did not finish in {PIP_TIMEOUT} s; check the network connection") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:] or ["no output"]
        raise KitError(f"{what}: pip failed: {errors[0][:300]}")
    return done.stdout


def kit_source() -> Path:
    """The folder of kit's source (``pyproject.toml`` naming project kit, and ``kit/``)."""
    import kit

    root = Path(kit.__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if not project.is_file() or not re.search(r'^name\s*=\s*"kit"', project.read_text(), re.M):
        raise KitError(
            f"kit's source is not beside the installed package ({root}): build the kernel from a checkout of kit "
            "installed with pip install -e"
        )
    return root


def build_kit_wheel(dest: Path, offline: bool) -> Path:
    """Build kit's wheel into ``dest`` from a copy of its source (the checkout is left as it is); ``offline``:
    with the build backend installed here instead of a fresh one from the package registry."""
    root = kit_source()
    with tempfile.TemporaryDirectory(prefix="kit-wheel-") as scratch:
        copy = Path(scratch) / "kit"
        copy.mkdir()
        for name in SOURCE:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif source.is_file():
                shutil.copy2(source, copy / name)
        isolation = ["--no-build-isolation", "--no-index"] if offline else []
        out = Path(scratch) / "out"
        pip(["wheel", "--no-deps", *isolation, "--wheel-dir", str(out), str(copy)], "building kit's wheel")
        built = sorted(out.glob("kit-*.whl"))
        if len(built) != 1:
            raise KitError(f"building kit's wheel gave {len(built)} kit wheels instead of one")
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(built[0], dest / built[0].name))


def marker_environment(python: str) -> dict[str, str]:
    """The environment markers of a CPython ``python`` kernel on Linux x86-64."""
    from packaging.markers import default_environment

    full = python if python.count(".") == 2 else f"{python}.0"
    environment = dict(default_environment())
    environment.update(
        python_version=".".join(python.split(".")[:2]),
        python_full_version=full,
        implementation_name="cpython",
        implementation_version=full,
        platform_python_implementation="CPython",
        os_name="posix",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
    )
    return environment


def stack_closure(report: dict, python: str, stack: Iterable[str]) -> set[str]:
    """The projects of a pip report that the ``stack`` (names) pulls in, the stack included."""
    from packaging.requirements import InvalidRequirement, Requirement

    environment = marker_environment(python)
    requires = {}
    for item in report.get("install", []):
        needs = set()
        for text in item["metadata"].get("requires_dist") or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({**environment, "extra": ""}):
                needs.add(normalise(requirement.name))
        requires[normalise(item["metadata"]["name"])] = needs
    closure, pending = set(), [normalise(name) for name in stack]
    while pending:
        name = pending.pop()
        if name not in closure:
            closure.add(name)
            pending += sorted(requires.get(name, ()))
    return closure


def resolve(kit_wheel: Path, python: str, platform: str) -> list[str]:
    """``name==version`` of every project kit's wheel needs on the kernel beyond the Kaggle stack."""
    tags = [argument for tag in platform_tags(platform) for argument in ("--platform", tag)]
    with tempfile.TemporaryDirectory(prefix="kit-resolve-") as scratch:
        report_path = Path(scratch) / "report.json"
        pip(
            [
                *("install", "--dry-run", "--ignore-installed", "--only-binary=:all:"),
                *("--python-version", python, *tags, "--target", str(Path(scratch) / "target")),
                *("--report", str(report_path), str(kit_wheel)),
            ],
            f"resolving kit's dependencies for Python {python} on {platform}",
        )
        report = json.loads(report_path.read_text())
    left_out = stack_closure(report, python, KAGGLE_STACK)
    pins = []
    for item in report.get("install", []):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if normalise(name) not in left_out and normalise(name) != "kit":
            pins.append(f"{name}=={version}")
    return sorted(pins, key=str.lower)


def download(pins: Sequence[str], dest: Path, python: str, platform: str) -> None:
    """Download the wheels ``pins`` (``name==version``) for the kernel into ``dest``."""
    if not pins:
        return
    tags = [argument for tag in platform_tags(platform) for argument in ("--platform", tag)]
    pip(
        ["download", "--no-deps", "--only-binary=:all:", "--python-version", python, *tags, "-d", str(dest), *pins],
        f"downloading {len(pins)} wheels for Python {python} on {platform}",
    )


def collect_wheels(
    dest: Path, python: str = PYTHON, platform: str = PLATFORM, wheels_from: Path | None = None
) -> tuple[str, ...]:
    """Fill ``dest`` with kit's wheel and the wheels it needs on the kernel (from the package registry, or with
    ``wheels_from`` every wheel of that folder, offline); the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    kit_wheel = build_kit_wheel(dest, offline=wheels_from is not None)
    if wheels_from is not None:
        if not Path(wheels_from).is_dir():
            raise KitError.invalid("wheels_from", "a folder of wheels (.whl files)", str(wheels_from))
        for wheel in sorted(Path(wheels_from).glob("*.whl")):
            if not wheel.name.startswith("kit-"):
                shutil.copy2(wheel, dest / wheel.name)
    else:
        download(resolve(kit_wheel, python, platform), dest, python, platform)
    return tuple(sorted(path.name for path in dest.glob("*.whl")))
