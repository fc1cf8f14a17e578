"""Imports point one way: no two packages of ``src/lsat`` import each other.

Every import in the source is read with ``ast`` (module level, inside functions and under
``TYPE_CHECKING`` alike), plus the module names handed to ``importlib.import_module``
(``lsat.cli`` loads the command modules from its ``COMMAND_MODULES``). Running ``python -m
lsat.cli`` in a subprocess is not an import. Each subpackage (``lsat.data``, ``lsat.engine``, ...)
is one node, each module at the top of ``lsat`` another. The top-level modules sit in three
layers:

- foundation (errors, io, paths, config, ...): imported by everything, importing only
  each other;
- domain (``recipe``): the paper recipe, between the models it sizes and the engine;
- commands (cli, summary, analyze, ...): on top, imported by nothing below them.

The node graph must have no cycle, except among the command modules themselves (a command
split over two files, like ``summary`` and its HTML page).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import lsat

SRC = Path(lsat.__file__).resolve().parent
FOUNDATION = {
    "lsat",
    "lsat.config",
    "lsat.errors",
    "lsat.formats",
    "lsat.io",
    "lsat.paths",
    "lsat.progress",
    "lsat.provenance",
    "lsat.runs",
    "lsat.safe_load",
    "lsat.schema_check",
    "lsat.settings",
}
DOMAIN = {"lsat.recipe"}
COMMANDS = {
    "lsat.analyze",
    "lsat.analyze_commands",
    "lsat.analyze_plots",
    "lsat.cli",
    "lsat.dvcgen",
    "lsat.provenance_show",
    "lsat.stats",
    "lsat.summary",
    "lsat.summary_html",
}


def module_names(src: Path = SRC) -> dict[str, Path]:
    """Dotted name → file of every module of the package rooted at ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = ["lsat", *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(code: str, name: str, modules: set[str], is_package: bool = False) -> dict[str, int]:
    """The lsat modules that module ``name`` (source ``code``) imports → first line."""
    found: dict[str, int] = {}
    package = name if is_package else name.rpartition(".")[0]

    def add(target: str, line: int) -> None:
        while target and target not in modules:  # `from lsat.x import name`: lsat.x
            target = target.rpartition(".")[0]
        if target.startswith("lsat") and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                add(f"{base}.{alias.name}" if base else alias.name, node.lineno)
        elif isinstance(node, ast.Call) and _called(node) == "import_module":
            for const in _strings(node.args[:1]):
                add(const.value, const.lineno)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith("_MODULES") for t in node.targets
        ):  # names handed to import_module later (lsat.cli.COMMAND_MODULES)
            for const in _strings([node.value]):
                add(const.value, const.lineno)
    return found


def _called(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _strings(nodes: list[ast.expr]) -> list[ast.Constant]:
    return [
        c
        for n in nodes
        for c in ast.walk(n)
        if isinstance(c, ast.Constant) and isinstance(c.value, str)
    ]


def node_of(module: str) -> str:
    """A subpackage's modules are one node (``lsat.data``); a top-level module its own."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (SRC / parts[1]).is_dir()):
        return ".".join(parts[:2])
    return module


def graph() -> dict[str, dict[str, str]]:
    """node → {imported node: 'file:line' of the first such import}."""
    modules = module_names()
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for target, line in imports_of(path.read_text(), name, set(modules), is_package).items():
            a, b = node_of(name), node_of(target)
            if a != b:
                where = f"{path.relative_to(SRC.parent.parent)}:{line}"
                edges[a].setdefault(b, where)
    return edges


def cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted({*edges, *(w for targets in edges.values() for w in targets)}):
        if v not in index:
            visit(v)
    return out


def _explain(comp: list[str], edges: dict[str, dict[str, str]]) -> str:
    return "\n".join(
        f"  {a} -> {b} ({where})"
        for a in comp
        for b, where in sorted(edges.get(a, {}).items())
        if b in comp
    )


def test_no_two_packages_import_each_other():
    edges = graph()
    bad = [c for c in cycles(edges) if not set(c) <= COMMANDS]
    assert not bad, "import cycles:\n" + "\n\n".join(_explain(c, edges) for c in bad)


def test_foundation_imports_only_the_foundation():
    edges = graph()
    bad = [
        f"  {a} -> {b} ({where})"
        for a in sorted(FOUNDATION)
        for b, where in sorted(edges.get(a, {}).items())
        if b not in FOUNDATION
    ]
    assert not bad, "foundation modules import layers above them:\n" + "\n".join(bad)


def test_nothing_below_the_commands_imports_them():
    edges = graph()
    bad = [
        f"  {a} -> {b} ({where})"
        for a, targets in sorted(edges.items())
        if a not in COMMANDS
        for b, where in sorted(targets.items())
        if b in COMMANDS
    ]
    assert not bad, "modules import the command layer above them:\n" + "\n".join(bad)


def test_every_top_level_module_has_a_layer():
    top = {node_of(m) for m in module_names()} - {
        f"lsat.{p.name}" for p in SRC.iterdir() if (p / "__init__.py").is_file()
    }
    assert top - FOUNDATION - DOMAIN - COMMANDS == set(), "add new modules to a layer here"
    assert (FOUNDATION | DOMAIN | COMMANDS) - top == set(), "a listed module no longer exists"


def test_the_reader_sees_local_relative_and_string_imports():
    """The checks above are only as good as this reader: it must see every kind of import."""
    modules = {"lsat", "lsat.a", "lsat.a.x", "lsat.a.y", "lsat.b", "lsat.b.z", "lsat.cli"}
    code = (
        "from lsat.a.x import f\n"
        "def g():\n"
        "    import lsat.b.z as zz\n"
        "    from . import y\n"
        "    from lsat import cli\n"
        "COMMAND_MODULES = ('lsat.b', 'not lsat.b')\n"
        "from lsat.a import not_a_module\n"
        "importlib.import_module('lsat.b.z')\n"
        "argv = ['-m', 'lsat.cli']\n"
    )
    found = imports_of(code, "lsat.a.w", modules)
    assert found == {
        "lsat.a.x": 1,
        "lsat.b.z": 3,
        "lsat.a.y": 4,
        "lsat.cli": 5,
        "lsat.b": 6,
        "lsat.a": 7,
    }
    assert imports_of("from lsat.a import not_a_module", "lsat.b", modules) == {"lsat.a": 1}
    loop = {"lsat.a": {"lsat.b": "f:1"}, "lsat.b": {"lsat.c": "f:2"}, "lsat.c": {"lsat.a": "f:3"}}
    assert cycles(loop) == [["lsat.a", "lsat.b", "lsat.c"]]
    assert cycles({"lsat.a": {"lsat.b": "f:1"}}) == []
