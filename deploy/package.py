"""Build reproducible Cloud Functions (gen2) source bundles, one zip per function.

Each bundle holds the function's ``main.py`` at the root, the modules of the ``shared`` package
it reaches beside it (its import closure, deploy/closure.py: upload-asset alone carries the image
code) and a ``requirements.txt`` of exact pins of the distributions those modules import (and
functions-framework), so that Cloud Build installs only what the function runs, at the versions
the project was tested with. Beside each source it puts the CPython 3.12
bytecode (``__pycache__/<name>.cpython-312.pyc``, checked-hash pycs of PEP 552) compiled by a 3.12
interpreter: the buildpack compiles only the dependencies, so without them every new instance would
compile the project's sources on its cold start. The same inputs always give a byte-identical zip:
entries are sorted, timestamps are fixed at 1980-01-01, permissions are fixed, no extra attributes
are written, and hash-based pycs carry no timestamp.

Usage::

    python deploy/package.py [--out dist] [--function NAME ...] [--pins closure|direct]
                             [--bytecode-python PATH] [--require-bytecode]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from closure import (
    RUNTIME_DISTRIBUTIONS,
    Closure,
    ClosureError,
    distribution_of,
    distribution_roots,
    import_closure,
)
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
TARGET_PYTHON = tuple(int(part) for part in TARGET_ENVIRONMENT["python_version"].split("."))
BYTECODE_TIMEOUT_SECONDS = 300

# Run by the target-version interpreter: prints its implementation, version and cache tag.
_PROBE_SCRIPT = (
    "import sys; "
    "print(sys.implementation.name, *sys.version_info[:3], sys.implementation.cache_tag)"
)
# Run by the target-version interpreter in a folder holding a copy of the bundle's sources, whose
# names (relative, "/"-separated) it reads as JSON from stdin. It writes checked-hash pycs beside
# them and prints {source name: pyc name}. dfile records the in-bundle name in the code objects, not
# the temporary folder's.
_COMPILE_SCRIPT = """\
import importlib.util, json, os, py_compile, sys
written = {}
for name in json.load(sys.stdin):
    source = os.path.join(sys.argv[1], name)
    cfile = importlib.util.cache_from_source(source, optimization="")
    try:
        py_compile.compile(
            source, cfile=cfile, dfile=name, doraise=True, optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except py_compile.PyCompileError as exc:
        sys.exit(exc.msg)
    written[name] = os.path.relpath(cfile, sys.argv[1]).replace(os.sep, "/")
json.dump(written, sys.stdout)
"""


class PackagingError(Exception):
    """A bundle cannot be built; the message says what to fix."""


@dataclass(frozen=True)
class BytecodePython:
    """An interpreter of the runtime's Python version, which compiles the bundles' bytecode."""

    executable: str
    version: str  # e.g. "3.12.1"
    cache_tag: str  # e.g. "cpython-312", as in __pycache__/main.cpython-312.pyc


@dataclass(frozen=True)
class Bundle:
    """One built source bundle."""

    function: str
    path: Path
    files: int
    size: int
    sha256: str
    bytecode: str | None = None  # cache tag of the pycs it carries, None without bytecode


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
        "# Exact pins of the function's " + scope + ",",
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


def bundle_entries(
    root: Path, function: str, closure: Closure, requirements: str
) -> dict[str, bytes]:
    """Collect the files of one function's bundle as ``{archive name: content}``: its folder's
    sources and the modules of ``shared`` its main.py reaches (``closure``)."""
    function_dir = root / "functions" / function
    if not (function_dir / "main.py").is_file():
        raise PackagingError(f"functions/{function}/main.py not found")
    if not (root / SHARED_PACKAGE / "__init__.py").is_file():
        raise PackagingError(f"{SHARED_PACKAGE}/__init__.py not found")
    entries = _python_sources(function_dir, "")
    shared_entries = {name: (root / name).read_bytes() for name in sorted(closure.files)}
    clash = set(entries) & set(shared_entries)
    if clash:
        raise PackagingError(f"functions/{function} shadows shared files: {sorted(clash)}")
    entries.update(shared_entries)
    if "requirements.txt" in entries:
        raise PackagingError(f"functions/{function} must not carry its own requirements.txt")
    entries["requirements.txt"] = requirements.encode("utf-8")
    return entries


def function_closure(root: Path, function: str) -> Closure:
    """What the function's main.py reaches (deploy/closure.py), read once per build.

    Raises:
        PackagingError: a source does not parse, or imports a project module that is not there.
    """
    try:
        return import_closure(root, root / "functions" / function / "main.py", [SHARED_PACKAGE])
    except SyntaxError as exc:
        raise PackagingError(
            f"functions/{function}: cannot compile the bundle's {exc.filename}, line "
            f"{exc.lineno}: {exc.msg}"
        ) from exc
    except ClosureError as exc:
        raise PackagingError(f"functions/{function}: {exc}") from exc


def function_requirements(
    function: str, closure: Closure, declared: Sequence[Requirement]
) -> list[Requirement]:
    """The declared requirements of the distributions the function's modules import (and
    functions-framework, which serves it).

    Raises:
        PackagingError: a module imports a distribution that no declared requirement brings in.
    """
    roots = distribution_roots()
    try:
        used = {distribution_of(name, roots) for name in closure.external}
    except ClosureError as exc:
        raise PackagingError(f"functions/{function}: {exc}") from exc
    used |= RUNTIME_DISTRIBUTIONS
    chosen = [r for r in declared if canonicalize_name(r.name) in used]
    brought = {pin.partition("==")[0] for pin in resolve_pins(chosen, closure=True)}
    undeclared = sorted(used - brought)
    if undeclared:
        raise PackagingError(
            f"functions/{function} imports {undeclared}, which pyproject.toml does not declare "
            "(nor does a declared dependency bring them in)"
        )
    return chosen


def _interpreter_env() -> dict[str, str]:
    """The environment of the bytecode interpreter: none of this process's PYTHON* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def _run_python(
    executable: str, script: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a script with an interpreter, without its site packages, in _interpreter_env()."""
    try:
        return subprocess.run(
            [executable, "-S", "-s", "-c", script, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=_interpreter_env(),
            timeout=BYTECODE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackagingError(f"{executable}: cannot run: {exc}") from exc


def probe_python(executable: str) -> BytecodePython:
    """Ask an interpreter what it is; refuse it unless it is CPython of the runtime's version."""
    result = _run_python(executable, _PROBE_SCRIPT)
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 5:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise PackagingError(f"{executable}: cannot run: {lines[0]}")
    implementation, major, minor, micro, cache_tag = fields
    version = f"{major}.{minor}.{micro}"
    target = ".".join(map(str, TARGET_PYTHON))
    if implementation != "cpython" or (int(major), int(minor)) != TARGET_PYTHON:
        raise PackagingError(
            f"{executable} is {implementation} {version}; the runtime is CPython {target}"
        )
    return BytecodePython(executable, version, cache_tag)


def _pyenv_interpreters(name: str) -> list[str]:
    """pyenv's installations of the runtime's Python version, newest first.

    pyenv's shim for python3.12 runs only while a 3.12 is a selected version, so the installations
    themselves are candidates too.
    """
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    prefix = "{}.{}.".format(*TARGET_PYTHON)
    found = []
    for folder in versions.glob(prefix + "*"):
        patch = folder.name.removeprefix(prefix)
        if patch.isdigit() and (folder / "bin" / name).is_file():
            found.append((int(patch), str(folder / "bin" / name)))
    return [path for _, path in sorted(found, reverse=True)]


def find_bytecode_python() -> BytecodePython:
    """Find an interpreter of the runtime's version: python3.12 on PATH, then pyenv's.

    Raises:
        PackagingError: none was found that runs and is CPython 3.12.
    """
    name = "python{}.{}".format(*TARGET_PYTHON)
    on_path = shutil.which(name)
    candidates = ([on_path] if on_path else []) + _pyenv_interpreters(name)
    problems = []
    for candidate in candidates:
        try:
            return probe_python(candidate)
        except PackagingError as exc:
            problems.append(str(exc))
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise PackagingError(f"no working {name} found on PATH or in pyenv{detail}")


def compile_bytecode(entries: Mapping[str, bytes], python: BytecodePython) -> dict[str, bytes]:
    """Compile the .py entries into checked-hash pycs, as ``{archive name: content}``.

    The pyc of ``shared/x.py`` is ``shared/__pycache__/x.<cache tag>.pyc``. It holds the source's
    hash and no timestamp, so it is reproducible, and the runtime recompiles a source edited since.
    """
    names = sorted(name for name in entries if name.endswith(".py"))
    with tempfile.TemporaryDirectory(prefix="package-bytecode-") as tmp:
        for name in names:
            source = Path(tmp, name)
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(entries[name])
        result = _run_python(python.executable, _COMPILE_SCRIPT, tmp, stdin=json.dumps(names))
        if result.returncode != 0:
            detail = result.stderr.strip() or f"exit status {result.returncode}"
            raise PackagingError(f"{python.executable} cannot compile the bundle: {detail}")
        written: dict[str, str] = json.loads(result.stdout)
        return {pyc: Path(tmp, pyc).read_bytes() for pyc in written.values()}


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
    bytecode: BytecodePython | None = None,
) -> list[Bundle]:
    """Build the bundles of the given functions (all by default) into out_dir.

    With ``bytecode``, that interpreter compiles each bundle's sources into pycs it carries.

    Raises:
        PackagingError: a function, the shared package or a dependency is missing, or a source
            does not compile.
    """
    available = discover_functions(root)
    selected = list(functions) if functions else available
    if not selected:
        raise PackagingError(f"no functions/*/main.py found under {root}")
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise PackagingError(f"unknown function(s) {unknown}; available: {available}")
    declared = project_dependencies(root / "pyproject.toml")
    bundles = []
    for function in sorted(set(selected)):
        reached = function_closure(root, function)
        wanted = function_requirements(function, reached, declared)
        requirements = requirements_text(resolve_pins(wanted, closure=closure), closure=closure)
        entries = bundle_entries(root, function, reached, requirements)
        if bytecode is not None:
            entries.update(compile_bytecode(entries, bytecode))
        data = zip_bytes(entries)
        path = out_dir / f"{function}.zip"
        _write_atomically(path, data)
        digest = hashlib.sha256(data).hexdigest()
        tag = bytecode.cache_tag if bytecode else None
        bundles.append(Bundle(function, path, len(entries), len(data), digest, tag))
    return bundles


def all_requirements(root: Path = REPO_ROOT, functions: Sequence[str] | None = None) -> str:
    """One requirements file of the pins every selected bundle holds (to fetch their wheels)."""
    declared = project_dependencies(root / "pyproject.toml")
    pins: set[str] = set()
    for function in functions or discover_functions(root):
        reached = function_closure(root, function)
        pins.update(resolve_pins(function_requirements(function, reached, declared)))
    return requirements_text(sorted(pins), closure=True)


def format_table(bundles: Sequence[Bundle]) -> str:
    """Render the bundles as a plain-text table."""
    rows = [("function", "files", "bytes", "bytecode", "sha256", "path")]
    rows += [
        (b.function, str(b.files), str(b.size), b.bytecode or "none", b.sha256, str(b.path))
        for b in bundles
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
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
    parser.add_argument(
        "--bytecode-python",
        metavar="PATH",
        help="CPython 3.12 interpreter that compiles the bytecode; default: python3.12 on PATH, "
        "then pyenv's 3.12",
    )
    parser.add_argument(
        "--require-bytecode",
        action="store_true",
        help="fail, instead of warning and building without bytecode, when no 3.12 is found",
    )
    parser.add_argument(
        "--print-requirements",
        action="store_true",
        help="print the pins of every selected bundle together (one requirements file) and stop",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _bytecode_python(executable: str | None, *, required: bool) -> BytecodePython | None:
    """The interpreter for the bytecode, or None after a warning when there is none."""
    try:
        return probe_python(executable) if executable else find_bytecode_python()
    except PackagingError as exc:
        if required:
            raise PackagingError(f"{exc}; --require-bytecode: no bundle without bytecode") from exc
        print(
            f"package: warning: {exc}; building without bytecode, so each new instance will "
            "compile the sources on its cold start",
            file=sys.stderr,
        )
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = parse_args(argv)
    if args.print_requirements:
        try:
            print(all_requirements(args.root, args.functions), end="")
        except PackagingError as exc:
            print(f"package: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        bytecode = _bytecode_python(args.bytecode_python, required=args.require_bytecode)
        bundles = build(
            args.out,
            functions=args.functions,
            root=args.root,
            closure=args.pins == "closure",
            bytecode=bytecode,
        )
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 2
    print(format_table(bundles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
