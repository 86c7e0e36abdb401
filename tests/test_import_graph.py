"""The import graph of the two processes and what they share, read from the
source with `ast` (nothing is imported):

- global_cp never imports zone_cp, nor zone_cp global_cp;
- common/ imports neither process, nor the tooling (mzsim, scenarios, bench, tests);
- every module under common/ is used by global_cp or zone_cp, following imports
  from their modules through common/, so common/ holds only what the processes use.

Modules are found by walking the tree. Every import counts, at module level or
in a function. A module also imports each module whose dotted name it spells
in a string, absolute or relative to its package: that is how the CA backend
types name their runtime modules, loaded only when a backend is built."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("global_cp", "zone_cp")
SHARED = "common"
NOT_FROM_COMMON = ("global_cp", "zone_cp", "mzsim", "scenarios", "bench", "tests")


@dataclass(frozen=True)
class Module:
    name: str  # dotted: common.ca.vault
    path: Path

    @property
    def package(self) -> str:
        """What a relative import is relative to."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]

    @property
    def top(self) -> str:
        return self.name.partition(".")[0]


def discover(*packages: str) -> dict[str, Module]:
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = Module(name, path)
    return found


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _with_parents(name: str) -> Iterator[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py too."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def imports_of(module: Module, known: dict[str, Module]) -> set[str]:
    """Dotted names `module` imports, with `from pkg import name` resolved to
    pkg.name where that is a module."""
    tree = ast.parse(module.path.read_text(), filename=str(module.path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    # Lazy loads by name: "common.ca.vault.backend", or ".backend" relative to this package.
    spelled = (node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str))
    names.update(n for text in spelled
                 for n in (text, module.package + text if text.startswith(".") else "") if n in known)
    return {name for name in names if name}


KNOWN = discover(SHARED, *PROCESSES)
GRAPH = {name: imports_of(module, KNOWN) for name, module in KNOWN.items()}


def _violations(modules: list[Module], forbidden: tuple[str, ...], rule: str) -> list[str]:
    return [f"{m.path.relative_to(ROOT)} imports {name}: {rule}"
            for m in modules for name in sorted(GRAPH[m.name]) if name.partition(".")[0] in forbidden]


@pytest.mark.parametrize("process, other", [("global_cp", "zone_cp"), ("zone_cp", "global_cp")])
def test_the_processes_never_import_each_other(process: str, other: str) -> None:
    modules = [m for m in KNOWN.values() if m.top == process]
    assert modules, f"no modules found under {process}/"
    bad = _violations(modules, (other,), f"{process} never imports {other}")
    assert not bad, "\n".join(bad)


def test_common_imports_neither_process_nor_the_tooling() -> None:
    modules = [m for m in KNOWN.values() if m.top == SHARED]
    bad = _violations(modules, NOT_FROM_COMMON, f"common/ imports none of {', '.join(NOT_FROM_COMMON)}")
    assert not bad, "\n".join(bad)


def reachable_from(starts: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        name = todo.pop()
        if name in seen or name not in KNOWN:
            continue
        seen.add(name)
        todo.extend(parent for imported in GRAPH[name] for parent in _with_parents(imported))
    return seen


def test_every_common_module_is_used_by_a_process() -> None:
    used = reachable_from([name for name, m in KNOWN.items() if m.top in PROCESSES])
    unused = [f"{m.path.relative_to(ROOT)} ({name}) is imported by neither global_cp nor zone_cp: common/ holds "
              "only what the two processes use (move it next to its users, e.g. under mzsim/)"
              for name, m in KNOWN.items() if m.top == SHARED and name not in used]
    assert not unused, "\n".join(unused)


def _resolve(module: Module, source: str) -> str:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ImportFrom)
    return _absolute(module, node)


def test_relative_imports_resolve_from_a_module_and_from_a_package() -> None:
    module = Module("common.ca.vault", ROOT / "common" / "ca" / "vault.py")
    package = Module("common.ca", ROOT / "common" / "ca" / "__init__.py")
    assert _resolve(module, "from .base import X") == "common.ca.base"
    assert _resolve(module, "from ..errors import X") == "common.errors"
    assert _resolve(module, "from common.x509util import X") == "common.x509util"
    assert _resolve(package, "from .base import X") == "common.ca.base"
    assert _resolve(package, "from . import vault") == "common.ca"
