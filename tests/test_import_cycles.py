"""No import cycles between pixelgif's modules, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, also those inside functions: a function-level import is how a module
defers torch, not a licence to depend on a module that depends back on it, and lazy cycles
still fail at run time when the first call comes during the other module's import. Imports
under ``if TYPE_CHECKING:`` do not count: they never run. A package's implicit import by its
submodules does not count either (``a.b`` runs ``a/__init__`` first): otherwise every package
that re-exports a submodule's names would be a cycle.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pixelgif

CHECKED_PACKAGES = ("pixelgif",)  # every module of the package

ROOT = Path(pixelgif.__file__).resolve().parent


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Return {dotted module name: file} for every .py under ``root`` (packages by their ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Yield the Import/ImportFrom nodes of ``tree``, at any depth, except under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = list(node.orelse)  # the body only runs for type checkers
        stack.extend(children)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Return the pixelgif modules that module ``name`` (file ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from a import b` imports module a.b when there is one, else a name of a.
            submodules = [f"{origin}.{alias.name}" for alias in node.names]
            targets = [sub if sub in modules else origin for sub in submodules]
        for target in targets:
            # `import a.b.c` or a name below a module: the longest prefix that is a module of ours.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Return {module: the pixelgif modules it imports} for every module of the package."""
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of ``graph`` with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(start: str) -> None:
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _checked(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in CHECKED_PACKAGES)


def _cycle_path(component: list[str], graph: dict[str, set[str]]) -> str:
    """Return a shortest cycle through the component's first module, as "a -> b -> a"."""
    members, start = set(component), component[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node] & members):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return " -> ".join([*reversed(path), start])
            if target not in previous:
                previous[target] = node
                queue.append(target)
    return " <-> ".join(component)


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    graph = import_graph()
    assert "pixelgif.train.loop" in graph["pixelgif.train.lora.trainer"]  # relative, top level
    assert "pixelgif.train.lora.trainer" in graph["pixelgif.train.lora"]  # inside a function
    assert "pixelgif.errors" in graph["pixelgif"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycle_path(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == "a -> b -> c -> a"


def test_no_import_cycles_in_checked_packages():
    graph = import_graph()
    bad = [component for component in cycles(graph) if any(_checked(m) for m in component)]
    assert not bad, "import cycles:\n" + "\n".join(_cycle_path(c, graph) for c in bad)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_engine_imports_nothing_from_the_models():
    """``morph/`` drives a `Backend` that ``models/`` builds: the dependency goes models -> morph only."""
    graph = import_graph()
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _under(module, "pixelgif.morph")
        for target in targets
        if _under(target, "pixelgif.models")
    )
    assert not bad, "morph/ imports models/:\n" + "\n".join(bad)


def test_only_the_command_line_imports_the_command_line():
    """batch/, web/ and run.py share settings, options and error messages through modules below ``cli/``."""
    graph = import_graph()
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if not _under(module, "pixelgif.cli") and module != "pixelgif.__main__"  # the entry point runs the CLI
        for target in targets
        if _under(target, "pixelgif.cli")
    )
    assert not bad, "modules outside cli/ import cli/:\n" + "\n".join(bad)


def test_the_layer_checks_see_a_violation():
    graph = {"pixelgif.morph.engine": {"pixelgif.models.loading"}, "pixelgif.batch.jobs": {"pixelgif.cli.morph"}}
    assert [
        (m, t) for m, ts in graph.items() for t in ts if _under(m, "pixelgif.morph") and _under(t, "pixelgif.models")
    ]
    assert not _under("pixelgif.morphing", "pixelgif.morph")
