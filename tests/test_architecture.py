"""The design's rules, checked on the source (docs/architecture.md): small modules, dependencies that
point one way, no import cycles, tasks that know nothing of MLflow, HTTP or the CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from statops.tasks import TASKS

SOURCE = Path(__file__).resolve().parents[1] / "src" / "statops"
MAX_LINES = 400
FACES = ("statops.cli", "statops.serving", "statops.web", "statops.__main__")
LIFECYCLE = ("statops.registry", "statops.scoring", "statops.accounts", "statops.monitoring", "statops.review",
             "statops.pipelines", "statops.demo")
TASKS_AND_DATA = ("statops.tasks", "statops.data", "statops.classifications",
                  *(spec.split(":")[0].rsplit(".", 1)[0] for spec in TASKS.values()))
LAYERS = (FACES, LIFECYCLE, TASKS_AND_DATA)  # top down; everything else in statops is the base
WEB_AND_CLI = ("fastapi", "starlette", "uvicorn", "typer", "rich")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SOURCE.rglob("*.py") if "migrations" not in p.parts}


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    """Modules imported by `module`: everywhere, or only when it is imported (not inside functions,
    not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not top_level_only:
        nodes = list(ast.walk(tree))
    else:
        nodes = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # runs when called, not on import
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ClassDef):  # a class body runs on import; its methods do not
                for item in node.body:
                    if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        nodes.extend(ast.walk(item))
                continue
            nodes.extend(ast.walk(node))
    found = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_library_never_imports_a_face() -> None:
    offenders = {name: sorted(i for i in _imports(path, name, False) if _within(i, FACES))
                 for name, path in _modules().items() if not _within(name, FACES)}
    assert not {k: v for k, v in offenders.items() if v}


def _layer(name: str) -> int:
    """0 for a face, 1 lifecycle, 2 tasks and data, 3 the base."""
    return next((depth for depth, prefixes in enumerate(LAYERS) if _within(name, prefixes)), len(LAYERS))


def test_dependencies_point_down() -> None:
    """A module imports its own layer or the ones below: faces -> lifecycle -> tasks and data -> base."""
    modules = _modules()
    upward = {}
    for name, path in modules.items():
        above = sorted(i for i in _imports(path, name, False)
                       if i.startswith("statops.") and _layer(i) < _layer(name) and i != "statops")
        if above:
            upward[name] = above
    assert not upward


def test_tasks_know_nothing_of_mlflow_http_or_the_cli() -> None:
    tasks = tuple(spec.split(":")[0].rsplit(".", 1)[0] for spec in TASKS.values())
    assert "statops.coding" in tasks  # read from the registry of tasks, so a new task is checked too
    forbidden = ("mlflow", *WEB_AND_CLI, *LIFECYCLE, *FACES)
    offenders = {name: sorted(i for i in _imports(path, name, False) if _within(i, forbidden))
                 for name, path in _modules().items() if _within(name, tasks)}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_registry_knows_nothing_of_http() -> None:
    offenders = {name: sorted(i for i in _imports(path, name, False) if _within(i, WEB_AND_CLI + FACES))
                 for name, path in _modules().items() if _within(name, ("statops.registry", "statops.scoring"))}
    assert not {k: v for k, v in offenders.items() if v}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


@pytest.mark.parametrize("level", ["packages", "modules"])
def test_no_import_cycles(level: str) -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        for imported in _imports(path, name, True):
            target = next((m for m in sorted(modules, key=len, reverse=True) if _within(imported, (m,))), None)
            if target is None or target == name:
                continue
            if level == "packages":
                source, target = ".".join(name.split(".")[:2]), ".".join(target.split(".")[:2])
                if source == target:
                    continue
            else:
                source = name
                if path.name == "__init__.py" and _within(target, (name,)):
                    continue  # a package's __init__ re-exporting its own modules
            graph.setdefault(source, set()).add(target)
    assert _cycles(graph) == []


def test_importing_scoring_loads_no_web_stack_no_cli_and_no_mlflow() -> None:
    code = ("import sys, statops.scoring; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'typer', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
