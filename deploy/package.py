"""Build reproducible Cloud Functions (gen2) source bundles, one zip per function.

Each bundle holds the function's ``main.py`` at the root, the ``shared`` package beside it
(Python sources only) and a ``requirements.txt`` of exact pins, so that Cloud Build installs the
dependency versions the project was tested with. The same inputs always give a byte-identical zip:
entries are sorted, timestamps are fixed at 1980-01-01, permissions are fixed and no extra
attributes are written.

Usage::

    python deploy/package.py [--out dist] [--function NAME ...] [--pins closure|direct]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import os
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_PACKAGE = "shared"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can carry
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_COMPRESS_LEVEL = 9
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", ".pytest_cache"})

# Cloud Functions runtime "python312": CPython 3.12 on Linux x86_64. Environment markers of the
# dependencies are evaluated for that interpreter, not for the one running this script.
TARGET_ENVIRONMENT: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.12.0",
    "python_version": "3.12",
    "sys_platform": "linux",
}


class PackagingError(Exception):
    """A bundle cannot be built; the message says what to fix."""


@dataclass(frozen=True)
class Bundle:
    """One built source bundle."""

    function: str
    path: Path
    files: int
    size: int
    sha256: str


def discover_functions(root: Path) -> list[str]:
    """Return the names of the function folders (those holding a main.py), sorted."""
    functions_dir = root / "functions"
    if not functions_dir.is_dir():
        return []
    return sorted(p.parent.name for p in functions_dir.glob("*/main.py") if p.is_file())


def project_dependencies(pyproject_path: Path) -> list[Requirement]:
    """Return the runtime requirements declared in pyproject.toml's [project.dependencies]."""
    try:
        data = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackagingError(f"{pyproject_path}: cannot read project metadata: {exc}") from exc
    raw = data.get("project", {}).get("dependencies", [])
    try:
        return [Requirement(item) for item in raw]
    except InvalidRequirement as exc:
        raise PackagingError(f"{pyproject_path}: invalid dependency: {exc}") from exc


def _applies(
    requirement: Requirement, extras: Iterable[str], environment: Mapping[str, str]
) -> bool:
    """Tell whether a requirement's marker holds in the target environment for any extra."""
    if requirement.marker is None:
        return True
    candidates = list(extras) or [""]
    return any(requirement.marker.evaluate({**environment, "extra": e}) for e in candidates)


def _installed(requirement: Requirement, wanted_by: str) -> importlib.metadata.Distribution:
    """Return the installed distribution for a requirement, checking the version range."""
    try:
        distribution = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise PackagingError(
            f"{requirement.name} (required by {wanted_by}) is not installed in this environment; "
            "run `make install` first"
        ) from exc
    version = distribution.version
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        raise PackagingError(
            f"{requirement.name} {version} is installed but {wanted_by} requires "
            f"{requirement.specifier}; reinstall the environment"
        )
    return distribution


def resolve_pins(
    requirements: Sequence[Requirement],
    *,
    closure: bool = True,
    environment: Mapping[str, str] = TARGET_ENVIRONMENT,
) -> list[str]:
    """Pin requirements to the versions installed in the running environment.

    Args:
        requirements: the direct runtime requirements of the project.
        closure: also pin every transitive runtime dependency (what Cloud Build would otherwise
            resolve afresh on each deploy).
        environment: marker environment of the deployment target.

    Returns:
        ``name==version`` lines, sorted by normalised name.
    """
    pins: dict[str, str] = {}
    seen_extras: dict[str, set[str]] = {}
    pending: list[tuple[Requirement, str]] = [
        (r, "pyproject.toml") for r in requirements if _applies(r, (), environment)
    ]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        distribution = _installed(requirement, wanted_by)
        pins[name] = distribution.version
        extras = set(requirement.extras)
        known = seen_extras.get(name)
        if not closure or (known is not None and extras <= known):
            continue
        seen_extras[name] = (known or set()) | extras
        for line in distribution.requires or []:
            child = Requirement(line)
            if _applies(child, seen_extras[name], environment):
                pending.append((child, f"{name}=={distribution.version}"))
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def requirements_text(pins: Sequence[str], *, closure: bool) -> str:
    """Render requirements.txt for a bundle."""
    scope = "runtime dependency closure" if closure else "direct runtime dependencies"
    header = [
        "# Exact pins of the project's " + scope + ",",
        "# built by deploy/package.py from pyproject.toml for CPython 3.12 on Linux.",
    ]
    return "\n".join([*header, *pins]) + "\n"


def _python_sources(directory: Path, prefix: str) -> dict[str, bytes]:
    """Return ``{archive name: content}`` for the .py files below a directory."""
    entries: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(
            d for d in dirnames if d not in EXCLUDED_DIRS and not d.startswith(".")
        )
        relative_dir = Path(dirpath).relative_to(directory)
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            arcname = (Path(prefix) / relative_dir / filename).as_posix()
            entries[arcname] = (Path(dirpath) / filename).read_bytes()
    return entries


def bundle_entries(root: Path, function: str, requirements: str) -> dict[str, bytes]:
    """Collect the files of one function's bundle as ``{archive name: content}``."""
    function_dir = root / "functions" / function
    if not (function_dir / "main.py").is_file():
        raise PackagingError(f"functions/{function}/main.py not found")
    shared_dir = root / SHARED_PACKAGE
    if not (shared_dir / "__init__.py").is_file():
        raise PackagingError(f"{SHARED_PACKAGE}/__init__.py not found")
    entries = _python_sources(function_dir, "")
    shared_entries = _python_sources(shared_dir, SHARED_PACKAGE)
    clash = set(entries) & set(shared_entries)
    if clash:
        raise PackagingError(f"functions/{function} shadows shared files: {sorted(clash)}")
    entries.update(shared_entries)
    if "requirements.txt" in entries:
        raise PackagingError(f"functions/{function} must not carry its own requirements.txt")
    entries["requirements.txt"] = requirements.encode("utf-8")
    return entries


def zip_bytes(entries: Mapping[str, bytes]) -> bytes:
    """Return a deterministic zip archive of the entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE_TIME)
            info.create_system = 3  # Unix, so that external_attr carries the mode
            info.external_attr = ZIP_FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[arcname], compresslevel=ZIP_COMPRESS_LEVEL)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def build(
    out_dir: Path,
    *,
    functions: Sequence[str] | None = None,
    root: Path = REPO_ROOT,
    closure: bool = True,
) -> list[Bundle]:
    """Build the bundles of the given functions (all by default) into out_dir.

    Raises:
        PackagingError: a function, the shared package or a dependency is missing.
    """
    available = discover_functions(root)
    selected = list(functions) if functions else available
    if not selected:
        raise PackagingError(f"no functions/*/main.py found under {root}")
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise PackagingError(f"unknown function(s) {unknown}; available: {available}")
    pins = resolve_pins(project_dependencies(root / "pyproject.toml"), closure=closure)
    requirements = requirements_text(pins, closure=closure)
    bundles = []
    for function in sorted(set(selected)):
        entries = bundle_entries(root, function, requirements)
        data = zip_bytes(entries)
        path = out_dir / f"{function}.zip"
        _write_atomically(path, data)
        digest = hashlib.sha256(data).hexdigest()
        bundles.append(Bundle(function, path, len(entries), len(data), digest))
    return bundles


def format_table(bundles: Sequence[Bundle]) -> str:
    """Render the bundles as a plain-text table."""
    rows = [("function", "files", "bytes", "sha256", "path")]
    rows += [(b.function, str(b.files), str(b.size), b.sha256, str(b.path)) for b in bundles]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (dist)")
    parser.add_argument(
        "--function",
        action="append",
        dest="functions",
        metavar="NAME",
        help="build only this function (repeatable); default: every functions/*/main.py",
    )
    parser.add_argument(
        "--pins",
        choices=("closure", "direct"),
        default="closure",
        help="pin every runtime dependency (closure, default) or only the direct ones",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = parse_args(argv)
    try:
        bundles = build(
            args.out, functions=args.functions, root=args.root, closure=args.pins == "closure"
        )
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 2
    print(format_table(bundles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
