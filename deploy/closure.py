"""What one function runs: the project's modules its ``main.py`` reaches, and the distributions
those modules import.

Imports are read from the sources (at module level and inside functions alike; those under
``if TYPE_CHECKING:`` are not run and are left out). ``from shared.web import json_response``
reaches the module the package's lazy surface names for it (shared/__init__.py's
``lazy_surface``: the ``TYPE_CHECKING`` imports of the package's ``__init__`` say which). A
module's parents' ``__init__.py`` come with it. Third-party imports are mapped to the installed
distribution that provides them, and must be declared in pyproject.toml or brought in by a
declared one.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = [
    "Closure",
    "ClosureError",
    "distribution_roots",
    "import_closure",
    "package_surface",
    "runtime_imports",
]

# Every function is served by functions-framework, which its main.py does not import itself.
RUNTIME_DISTRIBUTIONS = frozenset({"functions-framework"})


class ClosureError(Exception):
    """A module the function imports cannot be found, or a package provides no distribution."""


@dataclass
class Closure:
    """The project files (relative paths) a function runs, and the third-party modules they
    import (dotted names, outside the standard library)."""

    files: set[str] = field(default_factory=set)
    external: set[str] = field(default_factory=set)


def runtime_imports(tree: ast.Module) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of each import that runs: ``if TYPE_CHECKING:`` blocks are left out."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node) if child is not node.test)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


def package_surface(init: Path) -> dict[str, str]:
    """{public name: dotted module} of a package's lazy surface (its TYPE_CHECKING imports)."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom) and child.module:
                    for alias in child.names:
                        names[alias.asname or alias.name] = child.module
    return names


class _Walk:
    def __init__(self, root: Path, packages: frozenset[str]) -> None:
        self.root = root
        self.packages = packages
        self.closure = Closure()
        self._seen: set[str] = set()

    def _path(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        return None

    def module(self, module: str) -> None:
        """Add a project module, its parents' __init__.py, and all it imports."""
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            dotted = ".".join(parts[:depth])
            if dotted in self._seen:
                continue
            path = self._path(dotted)
            if path is None:
                raise ClosureError(f"{dotted}: imported, but no such module in the project")
            self._seen.add(dotted)
            self.file(path)

    def file(self, path: Path) -> None:
        relative = path.relative_to(self.root).as_posix()
        if relative in self.closure.files:
            return
        self.closure.files.add(relative)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for module, names in runtime_imports(tree):
            self.imported(module, names)

    def imported(self, module: str, names: Iterable[str]) -> None:
        top = module.split(".")[0]
        if top in self.packages:
            self.module(module)
            init = self._path(module)
            for name in names:
                if self._path(f"{module}.{name}") is not None:
                    self.module(f"{module}.{name}")
                elif init is not None and init.name == "__init__.py":
                    target = package_surface(init).get(name)
                    if target is not None:
                        self.module(target)
        elif top not in sys.stdlib_module_names and top != "__future__":
            # "from google.cloud import storage": the name may be the module that says which
            # distribution it is (distribution_of takes the longest known prefix).
            self.closure.external.update([f"{module}.{name}" for name in names] or [module])


def import_closure(root: Path, entry: Path, packages: Iterable[str] = ("shared",)) -> Closure:
    """The closure of ``entry`` (a function's main.py): the project files under ``packages`` it
    reaches (paths relative to ``root``) and the third-party names they import (``module`` or
    ``module.name``)."""
    walk = _Walk(root, frozenset(packages))
    tree = ast.parse(entry.read_text(encoding="utf-8"), filename=str(entry))
    for module, names in runtime_imports(tree):
        walk.imported(module, names)
    return walk.closure


@functools.cache
def distribution_roots() -> dict[str, str]:
    """{importable dotted root: distribution name} of every installed distribution: its top-level
    modules, and the shallowest packages under a namespace package (``google.cloud.storage``).
    Read once per process: every bundle of a build asks."""
    roots: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] == "..":
                continue
            if len(parts) == 1 and file.suffix == ".py":
                roots.setdefault(file.stem, name)
            elif parts[-1] == "__init__.py":
                roots.setdefault(".".join(parts[:-1]), name)
            elif len(parts) == 1 and file.suffix in (".so", ".pyd"):
                roots.setdefault(file.name.split(".")[0], name)
    # A regular package's subpackages belong to it: keep the shallowest root of each.
    return {
        root: name
        for root, name in roots.items()
        if not any(root.startswith(other + ".") and roots[other] == name for other in roots)
    }


def distribution_of(module: str, roots: dict[str, str]) -> str:
    """The distribution that provides a dotted module (the longest root that is its prefix)."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        found = roots.get(".".join(parts[:depth]))
        if found is not None:
            return found
    raise ClosureError(f"{module}: imported, but no installed distribution provides it")
