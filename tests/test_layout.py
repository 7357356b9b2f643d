"""The package's layout holds: stages import only lower stages, there are no import circles,
and no module reaches into another's ``_private`` names."""

from __future__ import annotations

import ast
from pathlib import Path

import qa

ROOT = Path(qa.__file__).parent
# lower stages first; a module may import its own stage and those before it
STAGES = [
    ("config", "errors", "types", "hashing", "lexicon"),
    ("ingest",),
    ("embed",),
    ("index",),
    ("retrieve", "questions"),
    ("read",),
    ("pipeline", "__init__"),
    ("evaluation",),
    ("surfaces", "training"),
]
RANK = {name: n for n, names in enumerate(STAGES) for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(("qa", *rel.parts)).removesuffix(".__init__")
        out[name] = path
    return out


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every ``import qa…`` / ``from qa… import …``, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names if a.name.split(".")[0] == "qa")
    return out


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_stages_import_only_lower_stages() -> None:
    wrong = []
    for name, path in _modules().items():
        for target, _ in _imports(path):
            if RANK[_stage(target)] > RANK[_stage(name)]:
                wrong.append(f"{name} imports {target}")
    assert not wrong


def test_no_private_names_cross_modules() -> None:
    wrong = [
        f"{name} imports {target}.{n}"
        for name, path in _modules().items()
        for target, names in _imports(path)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not wrong


def test_no_import_circles() -> None:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = set()
        for target, names in _imports(path):
            targets.update(f"{target}.{n}" for n in names if f"{target}.{n}" in mods)
            if target in mods and not any(f"{target}.{n}" in mods for n in names):
                targets.add(target)
        graph[name] = targets - {name}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, node])):
                return found
        state[node] = 2
        return None

    for start in mods:
        if start not in state:
            cycle = visit(start, [])
            assert cycle is None, " -> ".join(cycle)


# inside qa.index, each module may import only those listed before it
INDEX_ORDER = [
    "ann",
    "format",
    "verify",
    "store",
    "stale",
    "shards",
    "distributed",
    "build",
    "updater",
]


def test_index_modules_import_only_those_before_them() -> None:
    mods = {n for n in _modules() if n.startswith("qa.index.")}
    assert mods == {f"qa.index.{m}" for m in INDEX_ORDER}, "place a new module in INDEX_ORDER"
    wrong = []
    for name in sorted(mods):
        rank = INDEX_ORDER.index(name.removeprefix("qa.index."))
        for target, names in _imports(_modules()[name]):
            inner = [f"{target}.{n}" for n in names] if target == "qa.index" else [target]
            for t in inner:
                if t.startswith("qa.index.") and INDEX_ORDER.index(t.split(".")[2]) >= rank:
                    wrong.append(f"{name} imports {t}")
    assert not wrong
