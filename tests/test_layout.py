"""The layout's promises: imports flow one way (fitmodel ← store ← assets ← checks ← pipelines),
no module imports another in a circle, the domain stays pure, and the catalog is what README
shows."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

LAYERS = ["fitmodel", "store", "assets", "checks", "pipelines"]
"""Bottom first: a package may import those before it, and itself."""
IMPURE = (
    "dagster",
    "great_expectations",
    "duckdb",
    "deltalake",
    "os",
    "urllib.request",
    "http",
    "socket",
    "subprocess",
)
"""What the domain (fitmodel) never imports: no orchestration, engine, storage or network."""


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module or package an import statement of `path` names (at any depth)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in modules else node.module)
    return names


def test_imports_flow_one_way_and_the_domain_is_pure():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        layer = LAYERS.index(name.split(".")[0])
        for imported in _imports(path, modules):
            top = imported.split(".")[0]
            if top in LAYERS and LAYERS.index(top) > layer:
                wrong.append(f"{name} imports {imported}, a package above it")
            if name.startswith("fitmodel") and any(
                imported == p or imported.startswith(p + ".") for p in IMPURE
            ):
                wrong.append(f"{name} imports {imported}: fitmodel is pure polars")
    assert wrong == []


def test_no_module_imports_another_in_a_circle():
    modules = _modules()
    graph = {
        name: {i for i in _imports(path, modules) if i in modules and i != name}
        for name, path in modules.items()
    }
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_readme_shows_the_catalog_and_every_table_is_described():
    from store.catalog import CATALOG
    from store.layout import layout_text

    readme = (ROOT / "README.md").read_text()
    assert layout_text() in readme
    for table in CATALOG.values():
        assert table.grain.startswith("One "), table.name
        assert all(text for _, _, text in table.columns), table.name


def test_each_package_says_what_it_may_import():
    for i, package in enumerate(LAYERS):
        text = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text())) or ""
        allowed = (
            text.split("May import: ", 1)[1].split(".\n")[0] if "May import: " in text else None
        )
        assert allowed is not None, f"{package}/__init__.py does not say what it may import"
        if i:
            assert allowed.rstrip(".") == ", ".join(LAYERS[:i]), package
        else:
            assert allowed.startswith("no other corners package"), package


PROBE = (
    "import json, os, sys; import {0}; "
    "print(json.dumps([os.environ.get('_RJEM_MALLOC_CONF'), 'polars' in sys.modules]))"
)
"""Imports a module in a fresh process; prints the allocator setting and whether polars loaded."""


def _probe(module: str, setting: str | None) -> list:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if setting is not None:
        env["_RJEM_MALLOC_CONF"] = setting
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module)],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_every_package_above_the_domain_sets_polars_allocator_before_polars_loads():
    """polars reads `_RJEM_MALLOC_CONF` at its first allocation. Each package's `__init__` runs
    before any of its modules, so importing the package alone must set it (without loading
    polars); a value the user set is kept (polars adds it after its own defaults)."""
    for package in LAYERS[1:]:
        assert _probe(package, None) == ["dirty_decay_ms:5000,muzzy_decay_ms:5000", False], package
    conf, loaded = _probe("store.ingest", "dirty_decay_ms:0")
    assert loaded and conf.endswith(",dirty_decay_ms:0") and "5000" not in conf
