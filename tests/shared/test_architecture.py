"""The structure gates: shared/'s packages stand in layers, talk through public names, and no
module grows past 800 lines (docs/architecture.md).

Each check reads the sources (every import, at module level, inside functions and under
``TYPE_CHECKING`` alike), so a lazy import cannot slip past it.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from closure import package_surface

from tests.support import REPO_ROOT

SHARED = REPO_ROOT / "shared"
# Lowest first: a package may import its own modules and those of the packages below it.
LAYERS: dict[str, int] = {
    "webflow": 0,
    "core": 1,
    "cms": 2,
    "web": 3,
    "intake": 4,
    "uploads": 4,
}
PACKAGES = sorted(LAYERS)
MAX_MODULE_LINES = 800
SOURCE_FOLDERS = ("shared", "webflow_cli", "functions", "sandbox", "devstack", "bench", "deploy")


def _sources(*folders: str) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def _imports(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import of ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names], node.lineno


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "shared" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _name(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


SHARED_MODULES = [path for path in _sources("shared") if path.parent != SHARED]


@pytest.mark.parametrize("path", SHARED_MODULES, ids=_name)
def test_a_package_imports_only_its_own_modules_and_the_packages_below_it(path: Path) -> None:
    own = path.relative_to(SHARED).parts[0]
    wrong = [
        f"line {line}: {module}"
        for module, _, line in _imports(path)
        if (package := _package_of(module)) is not None
        and package != own
        and LAYERS[package] >= LAYERS[own]
    ]
    assert wrong == [], f"{_name(path)} reaches up or sideways: {wrong}"


@pytest.mark.parametrize("path", _sources("shared/webflow"), ids=_name)
def test_the_webflow_client_imports_nothing_else_of_shared(path: Path) -> None:
    outside = [
        module
        for module, _, _ in _imports(path)
        if module.startswith("shared.") and not module.startswith("shared.webflow")
    ]
    assert outside == []


@pytest.mark.parametrize("path", _sources("shared", "webflow_cli", "functions"), ids=_name)
def test_no_module_imports_the_private_names_of_another_package(path: Path) -> None:
    relative = path.relative_to(REPO_ROOT).parts
    own = relative[1] if relative[0] == "shared" and len(relative) > 2 else None
    private = [
        f"{module}.{name}"
        for module, names, _ in _imports(path)
        if module.startswith("shared.") and _package_of(module) != own
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


@pytest.mark.parametrize("path", _sources(*SOURCE_FOLDERS), ids=_name)
def test_no_module_is_longer_than_800_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines"


def _surface_imports(package: str) -> dict[str, str]:
    """{name: module} of the package's ``if TYPE_CHECKING:`` imports (what type checkers see, and
    what the bundles' closure follows)."""
    surface = package_surface(SHARED / package / "__init__.py")
    return {name: module.rsplit(".", 1)[-1] for name, module in surface.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_surface_names_what_it_hands_on_and_each_name_resolves(package: str) -> None:
    module = importlib.import_module(f"shared.{package}")
    surface = _surface_imports(package)

    assert sorted(module.__all__) == sorted(surface)
    for name, source in surface.items():
        defined = getattr(importlib.import_module(f"shared.{package}.{source}"), name)
        assert getattr(module, name) is defined, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        _ = module.not_a_public_name


def test_the_checks_see_an_upward_import() -> None:
    # The layer check can fail: the web edge imports the CMS domain, which stands below it.
    imported = {module for module, _, _ in _imports(SHARED / "web" / "forms.py")}
    assert any(_package_of(module) == "cms" for module in imported)
    assert LAYERS["cms"] < LAYERS["web"]
