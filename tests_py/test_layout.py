"""The layout keeps its promises: layers import downwards only, nothing imports in a
circle (imports inside functions included), and the account states are named as a
list only by the state machine and its seeds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from fsm.machine import State

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eod", "flows", "fsm")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "generated" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every project module `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod when there is one
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# Who may import whom: (importers, what they must not import, why)
LAYERS = [
    (
        lambda m: not _in(m, "eod.cli", "eod.commands"),
        ("eod.cli", "eod.commands"),
        "the CLI is the top layer",
    ),
    (
        lambda m: not _in(m, "eod.devkit", "eod.cli", "eod.commands"),
        ("eod.devkit",),
        "the product does not depend on its dev kit",
    ),
    (
        lambda m: (
            _in(m, "eod", "fsm")
            and not _in(m, "eod.cli", "eod.commands", "eod.admin", "eod.devkit")
        ),
        ("flows",),
        "the close's machinery does not know its Prefect wiring",
    ),
    (lambda m: _in(m, "fsm"), ("eod", "flows"), "the state machine stands alone"),
]


@pytest.mark.parametrize(("importer", "forbidden", "why"), LAYERS, ids=[w for *_, w in LAYERS])
def test_layers_import_downwards(importer, forbidden, why):
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if importer(m)
        for t in targets
        if _in(t, *forbidden)
    )
    assert wrong == [], why


def test_the_close_has_one_way_in():
    """Only the service starts the flow (the chaos harness wraps the flow's stage runner
    to strike faults into it; it starts closes through the service too)."""
    starters = sorted(
        m
        for m, targets in GRAPH.items()
        if "flows.eod_close" in targets
        and m.startswith("eod")
        and not m.startswith("eod.devkit.chaos")
    )
    assert starters == []
    assert "flows.eod_close" in GRAPH["flows.service"]


STATE_NAMES = [s.value for s in State]
# a state name, not an event subject such as `account.suspended`
_NAME = re.compile(r"(?<![.\w])(" + "|".join(map(re.escape, STATE_NAMES)) + r")\b")
# The platform's own legacy DDL (CONTRACT section 4: the enum once had three values).
LEGACY_PLATFORM_DDL = {Path("eod/migrations/versions/0001_platform_schema.sql")}


def _state_lists(text: str) -> list[str]:
    """Bracketed groups on one line that name two or more distinct account states."""
    hits = []
    for line in text.splitlines():
        for group in re.findall(r"[\[(][^\[\]()]*[\])]", line):
            if len(set(_NAME.findall(group))) >= 2:
                hits.append(line.strip())
    return hits


def test_account_states_are_listed_only_by_the_machine_and_its_seeds():
    found = []
    for pattern in ("*.py", "*.sql", "*.yml"):
        for path in ROOT.rglob(pattern):
            rel = path.relative_to(ROOT)
            if rel.parts[0] in ("fsm", "seeds", "tests_py", "target", "logs") or rel.parts[
                0
            ].startswith("."):
                continue
            if rel in LEGACY_PLATFORM_DDL:
                continue
            found += [f"{rel}: {hit}" for hit in _state_lists(path.read_text(errors="replace"))]
    assert found == []


def test_the_state_list_finder_finds_a_list():
    assert _state_lists('if state not in ("suspended", "restricted"):') != []
    assert _state_lists('transition(cur, user_id, "suspended", actor, reason)') == []
