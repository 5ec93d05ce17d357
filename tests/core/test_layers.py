"""The import contract: which modules may import which, read from the source (every import
statement, at module level or inside a function). The layers, from the bottom:

- server.core (settings, database, errors, the processing log) imports no domain;
- server.llm (the one LLM gateway) imports only core;
- a domain's models and repository modules import no service or servicer;
- a servicer (rpc.py) is imported only by the server's assembly (server.main) and by other
  servicers (for their message converters);
- nothing imports the entry points (server.main, server.cli, server.launcher, server.demo)
  but the entry points;
- the server imports of the workers package only the queue's side (workers.broker and
  workers.queue), never the worker's tasks, which build a broker from the environment.

Between domains, an import in both directions is a knot that every later change has to work
around; there is none. A domain here is its models, repositories and services; the servicers
are the API layer over all of them (a proto service may serve more than one domain: JobService
serves feedback, SchemaService the co-pilot), so their imports are held to the servicer rule
above instead. Where a lower domain needs an answer from a higher one in its transaction
(whether a project has a running job, what follows a project's update), it declares what it
needs and the entry points hand it in.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.processes import ROOT

# The entry points, by their place under server/ (server.demo is a package).
ENTRY_POINTS = {"main", "cli", "launcher", "demo"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module the file imports (for `from a import b`: a, and a.b should b be one)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    files = {module_name(p): p for package in packages for p in (ROOT / package).rglob("*.py")}
    return {
        module: {name for name in imports_of(path) if name in files and name != module}
        for module, path in files.items()
    }


GRAPH = import_graph("server", "workers")


def domain(module: str) -> str:
    """server.jobs.runner -> jobs; server.models -> models."""
    return module.split(".")[1] if module.startswith("server.") else module.split(".")[0]


def breaches(allowed: Callable[[str, str], bool]) -> list[str]:
    """Every import the rule does not allow, as "module imports module"."""
    return sorted(
        f"{module} imports {imported}"
        for module, imported_modules in GRAPH.items()
        for imported in imported_modules
        if not allowed(module, imported)
    )


def test_core_imports_no_domain() -> None:
    assert not breaches(
        lambda module, imported: domain(module) != "core" or domain(imported) == "core"
    )


def test_the_llm_gateway_imports_only_core() -> None:
    assert not breaches(
        lambda module, imported: domain(module) != "llm" or domain(imported) in {"core", "llm"}
    )


def test_models_and_repositories_import_no_service_or_servicer() -> None:
    def allowed(module: str, imported: str) -> bool:
        lower = module.rsplit(".", 1)[-1] in {"models", "repository"}
        return not lower or imported.rsplit(".", 1)[-1] not in {"service", "rpc"}

    assert not breaches(allowed)


def test_servicers_are_imported_only_by_the_assembly_and_other_servicers() -> None:
    def allowed(module: str, imported: str) -> bool:
        if not imported.endswith(".rpc"):
            return True
        return domain(module) in ENTRY_POINTS or module.endswith(".rpc")

    assert not breaches(allowed)


def test_nothing_imports_the_entry_points() -> None:
    assert not breaches(
        lambda module, imported: (
            domain(imported) not in ENTRY_POINTS or domain(module) in ENTRY_POINTS
        )
    )


def test_the_server_imports_no_worker_code() -> None:
    assert not breaches(
        lambda module, imported: (
            not module.startswith("server.")
            or not imported.startswith("workers.")
            or imported in {"workers.broker", "workers.queue"}
        )
    )
    # And those two build nothing from the environment when imported.
    assert "workers.tasks" not in GRAPH["workers.broker"] | GRAPH["workers.queue"]


def domain_edges() -> set[tuple[str, str]]:
    """(importer, imported) between two domains, servicers left out."""
    return {
        (domain(module), domain(imported))
        for module, imported_modules in GRAPH.items()
        if module.startswith("server.") and not module.endswith(".rpc")
        for imported in imported_modules
        if imported.startswith("server.") and domain(module) != domain(imported)
    }


def test_no_two_domains_import_each_other() -> None:
    edges = domain_edges()
    assert {frozenset(edge) for edge in edges if edge[::-1] in edges} == set()


def test_the_domains_form_layers() -> None:
    """No knot of any length either (a imports b imports c imports a): every domain can be
    given a layer above all it imports. Today, from the bottom: core; llm; auth and projects;
    documents; schema; jobs; copilot, feedback, quality and quotas; exports."""
    edges = domain_edges()
    remaining = {name for edge in edges for name in edge}
    while remaining:
        bottom = {
            name for name in remaining if not any(a == name and b in remaining for a, b in edges)
        }
        assert bottom, f"a knot among {sorted(remaining)}"
        remaining -= bottom


def test_each_process_that_writes_rows_registers_every_model() -> None:
    """The server and the worker import server.models: an ORM flush needs every table that a
    foreign key names, and which of them a process's other imports happen to bring in is
    no guarantee (the worker once lost the users table when the command line stopped
    importing the account service for it)."""
    importers = {module for module, imported in GRAPH.items() if "server.models" in imported}
    assert {"server.main", "workers.tasks"} <= importers
