"""The house tells the flow: every module's imports, read with ``ast``, point down the layers only.

Layers, bottom first (a module may import its own room and any room of a lower layer):

    forms                         survey definitions, pure
    sync                          transport: CouchDB client, embedded server, bootstrap, names, time
    server.refusals               the bilingual refusal every room raises
    server.validation, .access    pure validation; accounts, devices, sessions, lock-out
    server.households             pure household model and matching
    server.casework               pure decisions: review, tiers, identification, roster, privacy
    server.pipeline               the worker and the stores between CouchDB and the domain
    server.web                    the Flask faces: gateway, OpenRosa, API, clerk app
    server.ops                    the fangpin command, supervisor, demo

The domain rooms also stay free of I/O: no HTTP, no CouchDB client, no processes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("forms", "sync", "server")
LAYERS: dict[str, int] = {
    "forms": 0,
    "sync": 1,
    "server.refusals": 2,
    "server.validation": 3,
    "server.access": 3,
    "server.households": 4,
    "server.casework": 5,
    "server.pipeline": 6,
    "server.web": 7,
    "server.ops": 8,
}
PURE = ("server.refusals", "server.validation", "server.households", "server.casework")
IMPURE = (
    *("flask", "werkzeug", "requests", "ibmcloudant", "ibm_cloud_sdk_core", "gunicorn", "subprocess", "socket"),
    *("sync.couch", "sync.embedded", "sync.bootstrap", "sync.audit", "sync.form_catalog", "sync.settings"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, function-level imports included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names if is_module(f"{module}.{alias.name}")}
    return found


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def room(module: str) -> str | None:
    """The room (a key of LAYERS) a project module lives in; None for a package's own root."""
    matches = [r for r in LAYERS if module == r or module.startswith(r + ".")]
    return max(matches, key=len) if matches and module != "server" else None


def project_graph() -> dict[str, set[str]]:
    graph = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            graph[module_name(path)] = imports_of(path)
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    """What breaks the layering in an import graph (module -> modules it imports)."""
    found = []
    for module, imported in sorted(graph.items()):
        home = room(module)
        if home is None:
            if module not in PACKAGES:
                found.append(f"{module} is in no room: put it in one of {sorted(LAYERS)}")
            continue
        for target in sorted(imported):
            there = room(target) if target.split(".")[0] in PACKAGES else None
            if home in PURE and any(target == i or target.startswith(i + ".") for i in IMPURE):
                found.append(f"{module} imports {target}: {home} is pure domain code (no I/O)")
            if there is None or there == home:
                continue
            if LAYERS[there] >= LAYERS[home]:
                found.append(f"{module} imports {target}: {home} (layer {LAYERS[home]}) may only use lower "
                             f"layers, {there} is layer {LAYERS[there]}")  # fmt: skip
    return found


def room_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between rooms, and between the top-level packages, whatever the layers say."""
    cycles = []
    for level in (room, lambda m: m.split(".")[0]):
        edges: dict[str, set[str]] = {}
        for module, imported in graph.items():
            a = level(module)
            for target in imported:
                b = level(target) if target.split(".")[0] in PACKAGES else None
                if a and b and a != b:
                    edges.setdefault(a, set()).add(b)
        for start in sorted(edges):
            stack = [(start, [start])]
            while stack:
                node, path = stack.pop()
                for nxt in sorted(edges.get(node, ())):
                    if nxt == start:
                        cycles.append([*path, start])
                    elif nxt not in path:
                        stack.append((nxt, [*path, nxt]))
    return cycles


def test_every_import_points_down_the_layers():
    graph = project_graph()
    assert len(graph) > 70 and sum(len(v) for v in graph.values()) > 300  # the scan read the real code
    assert violations(graph) == []


def test_no_import_cycle_between_rooms_or_packages():
    assert room_cycles(project_graph()) == []


def test_the_checks_catch_what_they_are_for():
    """The checker itself, on graphs with one fault each, so the two tests above cannot pass empty."""
    good = {"sync.couch": {"sync.settings"}, "server.web.app": {"server.pipeline.worker", "sync.couch"}}
    assert violations(good) == [] and room_cycles(good) == []
    upward = {"sync.worker": {"server.casework.tiers"}}
    assert violations(upward) == ["sync.worker imports server.casework.tiers: sync (layer 1) may only use lower "
                                  "layers, server.casework is layer 5"]  # fmt: skip
    sideways = {"server.access.accounts": {"server.validation.idcard"}}
    assert len(violations(sideways)) == 1
    impure = {"server.casework.tiers": {"sync.couch"}}
    assert violations(impure) == ["server.casework.tiers imports sync.couch: server.casework is pure domain code "
                                  "(no I/O)"]  # fmt: skip
    homeless = {"server.helpers": set()}
    assert "in no room" in violations(homeless)[0]
    loop = {"server.web.api": {"server.ops.cli"}, "server.ops.cli": {"server.web.gateway"}}
    assert room_cycles(loop) and room_cycles(loop)[0][0] == room_cycles(loop)[0][-1]
    assert room_cycles({"forms.spec": {"sync.names"}, "sync.bootstrap": {"forms"}})
