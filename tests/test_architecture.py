"""The house's plan, checked: packages that follow the data, imports that form a DAG (lazy, type-only and face imports
counted), short modules and functions, one owner of the run folder's file names, and a test folder per package."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "kit"
PACKAGES = sorted(p.name for p in KIT.iterdir() if (p / "__init__.py").is_file())
MAX_TOP_ENTRIES = 17  # the steps' packages (auto is the last), api, errors, __init__, __main__
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(KIT.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """Every kit module ``name`` imports anywhere (top level, inside functions, under TYPE_CHECKING) or lists in a
    lazy face (``lazy_loader.attach(__name__, submod_attrs={...})``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str, names: list[str]) -> None:
        for attribute in names:
            if f"{target}.{attribute}" in MODULES:
                found.add(f"{target}.{attribute}")
            elif target in MODULES:
                found.add(target)

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] == "kit":
                add(target, [alias.name for alias in node.names])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "attach":
            for keyword in node.keywords:
                if keyword.arg == "submod_attrs" and isinstance(keyword.value, ast.Dict):
                    for key in keyword.value.keys:
                        found.add(f"{name}.{key.value}")
        elif isinstance(node, ast.Dict) and name == "kit":  # kit/__init__'s _LAZY: name -> (module, attribute)
            for value in node.values:
                if isinstance(value, ast.Tuple) and isinstance(value.elts[0], ast.Constant):
                    found.add(value.elts[0].value)
    found.discard(name)
    return found


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def test_every_imported_kit_module_exists():
    missing = {(name, target) for name, targets in GRAPH.items() for target in targets if target not in MODULES}
    assert not missing


def test_the_kit_modules_import_each_other_as_a_dag():
    # `import kit.x.y` runs kit/__init__ first; that edge is Python's, not the code's, so the root is left out as target
    graph = {name: {t for t in targets if t != "kit"} for name, targets in GRAPH.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_packages_depend_on_each_other_as_a_dag():
    def package_of(module: str) -> str:
        return module.split(".")[1] if module.count(".") else "kit"

    graph: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        graph.setdefault(package_of(name), set()).update(
            package_of(t) for t in targets if t != "kit" and package_of(t) != package_of(name)
        )
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"package cycle: {' -> '.join(error.args[1])}")


def test_kit_has_at_most_sixteen_entries_at_its_top():
    entries = sorted(p.name for p in KIT.iterdir() if p.name != "__pycache__")
    assert len(entries) <= MAX_TOP_ENTRIES, entries


def test_no_module_is_longer_than_350_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long


def test_no_function_is_longer_than_80_lines():
    long = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            lines = node.end_lineno - node.lineno + 1 if hasattr(node, "end_lineno") else 0
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and lines > MAX_FUNCTION_LINES:
                long[f"{name}.{node.name}"] = lines
    assert not long


def test_only_the_run_folder_names_its_summary_file():
    owners = {"kit.crossval._rundir"}
    naming = {name for name, path in MODULES.items() if re.search(r"summary\.json", path.read_text())}
    assert naming <= owners, naming - owners


def test_only_the_engine_and_training_import_tensorflow_at_module_level():
    heavy = {"tensorflow", "keras", "keras_tuner"}
    allowed = ("kit.engine.", "kit.tuning._hypermodel", "kit.tuning._tuners")
    offenders = set()
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in heavy for n in names) and not name.startswith(allowed):
                offenders.add(name)
    assert not offenders


def test_tests_have_a_folder_per_package():
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert set(PACKAGES) <= folders, set(PACKAGES) - folders


def test_the_readme_tree_matches_the_folders():
    block = (ROOT / "README.md").read_text().split("<!-- tree -->")[1]
    shown = set(re.findall(r"^  (\w+)/", block, re.M))
    assert shown == set(PACKAGES), shown ^ set(PACKAGES)
    top_files = {p.name for p in KIT.glob("*.py")}
    assert top_files <= set(re.findall(r"\b(\w+\.py)\b", block)), top_files
