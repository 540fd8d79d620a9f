"""Dependencies point down: ``system`` -> components -> ``lobbywatch``; production never imports tests.

The layers (CONTRIBUTING.md, "Where things go"):

* ``lobbywatch`` (the shared layer) imports no component and not ``system``;
* a component (``edge``, ``gateway``, ``server``, ``dashboards``) imports ``lobbywatch`` and
  itself only. Inside ``edge``, the simulator (``edge.simulate``) drives the real vision
  pipeline and device simulator, so it may import ``edge.vision`` and ``edge.devices``;
  those two import no other ``edge`` package;
* ``system`` (the ``lobbywatch`` command and the demo) may import everything above;
* no production module imports the test harness or the benchmarks: ``tests``, ``bench``,
  pytest and the other test-only libraries; nor does a component import
  ``lobbywatch.services`` (real services as child processes are for the demo, the tests and
  the benchmarks).

The import check runs in a fresh interpreter (nothing else loaded); the rules are checked on
the source (every ``import``, lazy ones inside functions included).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("edge", "gateway", "server", "dashboards")
PRODUCTION = ("lobbywatch", *COMPONENTS, "system")
NOT_PRODUCTION = ("tests", "bench", "pytest", "_pytest", "hypothesis", "schemathesis", "playwright")
HARNESS = "lobbywatch.services"
EDGE_MAY_IMPORT = {"edge.simulate": {"edge.vision", "edge.devices"}}

IMPORT_ALL_OF_LOBBYWATCH = """
import importlib, json, pkgutil, sys
import lobbywatch
for info in pkgutil.walk_packages(lobbywatch.__path__, "lobbywatch."):
    importlib.import_module(info.name)
tops = {"edge", "gateway", "server", "dashboards", "system"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tops)))
"""


@pytest.mark.real
def test_importing_every_lobbywatch_module_loads_no_component() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_OF_LOBBYWATCH],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in ``module``'s source, lazy ones included.

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a module); relative
    imports are resolved against the module's package.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violation(module: str, name: str) -> str | None:
    """Why ``module`` may not import ``name``; None when it may."""
    top = module.split(".")[0]
    if any(_within(name, t) for t in NOT_PRODUCTION):
        return "test harness or benchmark in production code"
    if top == "system":
        return None
    if top == "lobbywatch":
        if any(_within(name, t) for t in (*COMPONENTS, "system")):
            return "the shared layer imports a layer above it"
        return None
    if _within(name, HARNESS):
        return "a component uses the demo's and tests' child-process harness"
    if any(_within(name, t) for t in PRODUCTION if t not in ("lobbywatch", top)):
        return "a component imports another component (or system)"
    if top == "edge" and _within(name, "edge") and name.count(".") >= 1:
        own = ".".join(module.split(".")[:2])
        other = ".".join(name.split(".")[:2])
        if other != own and other not in EDGE_MAY_IMPORT.get(own, set()):
            return f"{own} imports {other}"
    return None


def _production_files() -> list[Path]:
    return sorted(p for top in PRODUCTION for p in (REPO / top).rglob("*.py"))


def test_production_modules_import_only_downwards() -> None:
    problems = [
        f"{path.relative_to(REPO)}:{line}: imports {name}: {why}"
        for path in _production_files()
        for line, name in _imports(
            path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py"
        )
        if (why := _violation(_module_name(path), name)) is not None
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "name", "allowed"),
    [
        ("lobbywatch.cli", "lobbywatch.config", True),
        ("lobbywatch.cli", "server.cli", False),
        ("lobbywatch.clock", "system.demo", False),
        ("server.timeseries.writer", "lobbywatch.services", False),
        ("server.app", "tests.conftest", False),
        ("gateway.run", "pytest", False),
        ("server.ingest", "bench.proc", False),
        ("dashboards.hall", "server.timeseries.lines", False),
        ("edge.simulate.hall", "edge.vision.pipeline", True),
        ("edge.vision.daemon", "edge.devices.agent", False),
        ("edge.devices.agent", "edge.simulate.runner", False),
        ("system.demo", "edge.simulate.runner", True),
        ("system.demo", "lobbywatch.services", True),
        ("system.cli", "tests.conftest", False),
    ],
)
def test_the_rule_itself(module: str, name: str, allowed: bool) -> None:
    assert (_violation(module, name) is None) is allowed


def test_lazy_and_relative_imports_are_seen() -> None:
    source = "def f():\n    from tests import conftest\n    from . import sibling\n"
    names = {name for _, name in _imports(source, "server.timeseries.example")}
    assert {"tests", "tests.conftest", "server.timeseries", "server.timeseries.sibling"} <= names
