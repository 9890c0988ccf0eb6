"""The import graph of ``realtime``, read from the source: one direction, no cycles, no imports hidden in functions.

Each module belongs to one layer below; a module imports only from its own layer and the layers before it.
A new module must be placed here, which is the point: where it sits is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import realtime

PACKAGE = Path(realtime.__file__).parent

LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "types", "exceptions", "conf", "names", "links", "loops", "eager", "methods", "modelvalues", "slots",
            "streams", "logging", "transactions", "request", "users", "filters", "keepalive", "redis_client",
            "participants", "naming", "probes",
        },
    ),
    ("protocol", {"protocol"}),
    ("channel layer", {"events", "lifetime", "sync", "registry", "resume_store", "user_groups"}),
    (
        "connections and transports",
        {"connection", "local", "transports", "auth", "endpoints", "origins", "permissions", "results", "resume"},
    ),
    ("dispatcher", {"dispatcher", "invocations", "takeover"}),
    ("clients, groups, presence", {"clients", "groups", "presence"}),
    ("hubs", {"hubs"}),
    ("context and push", {"context", "model_events", "middleware", "celery", "eventstream", "push_api", "capture"}),
    ("entry points", {"routing", "testing", "checks", "management", "apps", "templatetags", "typescript"}),
]  # fmt: skip

ALLOWED_IN_FUNCTIONS = {("realtime.apps", "realtime.checks")}
"""Django's pattern: ``AppConfig.ready`` registers the checks, which import the hubs, once apps are ready."""


def module_name(path: Path) -> str:
    parts = ["realtime", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(module: str, node: ast.ImportFrom | ast.Import) -> set[str]:
    """The ``realtime`` modules that ``node`` (in ``module``) imports."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    if node.level:
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base not in MODULES:
        return set()
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}


def top_level_imports(module: str) -> set[str]:
    """What ``module`` imports when it is imported: not under ``if TYPE_CHECKING``, not inside functions."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(imported(module, node))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])

    visit(ast.parse(MODULES[module].read_text()).body)
    return found - {module}


def function_imports(module: str) -> set[str]:
    """The ``realtime`` modules imported inside a function or method body of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    return {
        target
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for target in imported(module, node)
    }


GRAPH = {module: top_level_imports(module) for module in MODULES}


def layer_of(module: str) -> int:
    name = module.split(".")[1] if module != "realtime" else ""
    for index, (_, names) in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"{module} is in no layer of {__name__}.LAYERS: place it where it belongs")


def test_the_graph_reads_real_imports():
    """Guards the reader itself: known edges are seen, and hidden ones are not mistaken for module-level."""
    assert "realtime.lifetime" in GRAPH["realtime.clients"]
    assert "realtime.lifetime" in GRAPH["realtime.transports.claim"]  # from .. import lifetime, loops
    assert "realtime.protocol.messages" in GRAPH["realtime.protocol.json"]
    assert "realtime.checks" in function_imports("realtime.apps")
    assert "realtime.checks" not in GRAPH["realtime.apps"]
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"realtime"}))  # the lazy facade: last test
def test_every_module_is_in_a_layer(module):
    layer_of(module)


def test_imports_go_one_way():
    """A module imports only from its own layer and those before it (protocol → connections and transports →
    dispatcher → clients, groups, presence → hubs → context and push)."""
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in GRAPH.items()
        if module != "realtime"
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    """Tarjan's strongly connected components over the module-level imports: every component is one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while (member := stack.pop()) != module:
                component.append(member)
            if component:
                cycles.append(sorted([module, *component]))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


def test_no_import_hides_in_a_function():
    """Imports inside functions are how cycles get dodged; only the ones in ``ALLOWED_IN_FUNCTIONS`` remain."""
    hidden = {(module, target) for module in MODULES for target in function_imports(module)}
    assert hidden == ALLOWED_IN_FUNCTIONS


def test_importing_realtime_imports_nothing_else_of_it():
    """``import realtime`` needs no settings: the public names load lazily, on first use."""
    assert GRAPH["realtime"] == set()
