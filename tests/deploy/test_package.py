"""deploy/package.py: bundle layout, exact pins, bytecode, reproducibility, and importability."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import package
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {
    "create-items": "create_items",
    "drain-intake": "drain_intake",
    "update-items": "update_items",
    "publish-live": "publish_live",
    "upload-asset": "upload_asset",
}


@pytest.fixture(scope="module")
def python312() -> package.BytecodePython:
    """The CPython 3.12 interpreter package.py would compile with; skipped (even in CI) without."""
    try:
        return package.find_bytecode_python()
    except package.PackagingError as exc:
        pytest.skip(str(exc))


def _direct_dependency_names() -> set[str]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return {canonicalize_name(Requirement(d).name) for d in data["project"]["dependencies"]}


def _requirements(archive: zipfile.ZipFile) -> list[str]:
    lines = archive.read("requirements.txt").decode().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_bundle_holds_main_at_root_and_the_shared_sources_it_reaches(
    fake_project: Path, tmp_path: Path
) -> None:
    # WHEN
    (bundle,) = package.build(tmp_path / "dist", root=fake_project)

    # THEN
    with zipfile.ZipFile(bundle.path) as archive:
        names = archive.namelist()
    assert names == [
        "main.py",
        "requirements.txt",
        "shared/__init__.py",
        "shared/helpers.py",
        "shared/sub/__init__.py",
        "shared/sub/lazy.py",
    ]  # shared/unused.py is reached by nothing
    assert bundle.path == tmp_path / "dist" / "demo.zip"
    assert bundle.files == len(names)


def test_bundle_entries_have_fixed_timestamps_permissions_and_no_extras(
    fake_project: Path, tmp_path: Path
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project)

    with zipfile.ZipFile(bundle.path) as archive:
        infos = archive.infolist()
        comment = archive.comment
    assert comment == b""
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename
        assert info.create_system == 3, info.filename
        assert info.extra == b"", info.filename
        assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename


def test_requirements_pin_every_dependency_exactly_at_the_installed_version(
    fake_project: Path, tmp_path: Path
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project)

    with zipfile.ZipFile(bundle.path) as archive:
        pins = _requirements(archive)
    assert [p.partition("==")[0] for p in pins] == sorted(p.partition("==")[0] for p in pins)
    names = set()
    for pin in pins:
        name, _, version = pin.partition("==")
        assert version, pin
        assert importlib.metadata.version(name) == version
        names.add(canonicalize_name(name))
    # what the function imports (pydantic) and what serves it, with their closures, and nothing
    # the function never imports (Pillow, Cloud Storage), never the dev tools
    assert {"functions-framework", "pydantic", "flask", "pydantic-core"} <= names
    assert not {"pillow", "google-cloud-storage", "rich"} & names
    assert not {"pytest", "hypothesis", "python-hcl2", "pip", "setuptools"} & names


def test_direct_pins_hold_only_the_declared_dependencies_the_function_imports(
    fake_project: Path, tmp_path: Path
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project, closure=False)

    with zipfile.ZipFile(bundle.path) as archive:
        pins = _requirements(archive)
    names = {canonicalize_name(p.partition("==")[0]) for p in pins}
    assert names == {"functions-framework", "pydantic"}
    assert names <= _direct_dependency_names()


def test_an_import_no_declared_dependency_brings_is_refused(
    fake_project: Path, tmp_path: Path
) -> None:
    (fake_project / "shared/helpers.py").write_text("import hypothesis\n")

    with pytest.raises(package.PackagingError, match=r"imports \['hypothesis'\]"):
        package.build(tmp_path / "dist", root=fake_project)


def test_an_import_of_a_missing_project_module_is_named(fake_project: Path, tmp_path: Path) -> None:
    (fake_project / "shared/helpers.py").write_text("from shared.gone import thing\n")

    with pytest.raises(package.PackagingError, match=r"shared\.gone: imported, but no such"):
        package.build(tmp_path / "dist", root=fake_project)


def test_markers_are_evaluated_for_the_python312_target() -> None:
    requirements = [
        Requirement('httpx; python_version >= "3.12"'),
        Requirement('pydantic; python_version < "3.12"'),
        Requirement('anyascii; sys_platform == "win32"'),
    ]

    pins = package.resolve_pins(requirements)

    names = {p.partition("==")[0] for p in pins}
    assert "httpx" in names
    assert not {"pydantic", "anyascii"} & names


def test_a_missing_dependency_is_named() -> None:
    with pytest.raises(package.PackagingError, match="no-such-distribution-xyz"):
        package.resolve_pins([Requirement("no-such-distribution-xyz>=1")])


def test_an_installed_version_outside_the_declared_range_is_refused() -> None:
    with pytest.raises(package.PackagingError, match="httpx .* requires <0.0.1"):
        package.resolve_pins([Requirement("httpx<0.0.1")])


def test_two_builds_are_byte_identical_even_after_touching_sources(
    fake_project: Path, tmp_path: Path
) -> None:
    (first,) = package.build(tmp_path / "one", root=fake_project)
    first_bytes = first.path.read_bytes()
    for source in (fake_project / "functions/demo/main.py", fake_project / "shared/helpers.py"):
        os.utime(source, (2_000_000_000, 2_000_000_000))
        source.chmod(0o755)

    (second,) = package.build(tmp_path / "two", root=fake_project)

    assert second.path.read_bytes() == first_bytes
    assert second.sha256 == first.sha256 == hashlib.sha256(first_bytes).hexdigest()


def test_a_changed_source_changes_the_bundle(fake_project: Path, tmp_path: Path) -> None:
    (first,) = package.build(tmp_path / "one", root=fake_project)
    (fake_project / "shared/helpers.py").write_text("def answer() -> int:\n    return 43\n")

    (second,) = package.build(tmp_path / "two", root=fake_project)

    assert second.sha256 != first.sha256


def _cli(fake_project: Path, out: Path, *args: str) -> int:
    return package.main(["--root", str(fake_project), "--out", str(out), *args])


def test_cli_prints_a_table_with_sha256(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dist"

    code = _cli(fake_project, out, "--function", "demo")

    assert code == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["function", "files", "bytes", "bytecode", "sha256", "path"]
    digest = hashlib.sha256((out / "demo.zip").read_bytes()).hexdigest()
    assert row.split()[0] == "demo"
    assert digest in row.split()


def test_cli_without_a_312_interpreter_warns_and_builds_sources_only(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-python3.12"

    code = _cli(fake_project, tmp_path / "dist", "--bytecode-python", str(missing))

    assert code == 0
    output = capsys.readouterr()
    assert output.err.startswith(f"package: warning: {missing}: cannot run")
    assert "building without bytecode" in output.err
    header, row = output.out.splitlines()
    assert row.split()[header.split().index("bytecode")] == "none"
    with zipfile.ZipFile(tmp_path / "dist" / "demo.zip") as archive:
        assert not [n for n in archive.namelist() if n.endswith(".pyc")]


def test_cli_refuses_an_interpreter_of_another_version(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if sys.version_info[:2] == package.TARGET_PYTHON:
        pytest.skip("this interpreter is the target's version")

    code = _cli(fake_project, tmp_path, "--bytecode-python", sys.executable, "--require-bytecode")

    assert code == 2
    version = "{}.{}.{}".format(*sys.version_info[:3])
    assert f"{sys.executable} is cpython {version}; the runtime is CPython 3.12" in (
        capsys.readouterr().err
    )
    assert not list(tmp_path.glob("*.zip"))


def test_cli_require_bytecode_fails_without_an_interpreter(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-python3.12"

    code = _cli(fake_project, tmp_path, "--bytecode-python", str(missing), "--require-bytecode")

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"package: {missing}: cannot run")
    assert "--require-bytecode" in error
    assert not list(tmp_path.glob("*.zip"))


def test_cli_states_the_bytecode_it_included(
    fake_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    python312: package.BytecodePython,
) -> None:
    code = _cli(fake_project, tmp_path, "--bytecode-python", python312.executable)

    assert code == 0
    output = capsys.readouterr()
    assert output.err == ""
    header, row = output.out.splitlines()
    assert row.split()[header.split().index("bytecode")] == "cpython-312"


def test_cli_refuses_an_unknown_function(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = package.main(["--root", str(fake_project), "--out", str(tmp_path), "--function", "nope"])

    assert code == 2
    assert "unknown function(s) ['nope']" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.zip"))


def _run_in_bundle(
    bundle_dir: Path, code: str, *, python: str = sys.executable, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run code with the bundle first on sys.path, in a clean environment, writing no bytecode."""
    # -I: ignore PYTHON* variables and the user site; -S: no site module, so no .pth file (such as
    # the editable install of this project) can put the repository on sys.path; -B: write no
    # bytecode (PYTHONDONTWRITEBYTECODE=1 would be ignored under -I). The environment keeps what a
    # pyenv shim needs to find its interpreter.
    env = {
        key: os.environ[key] for key in ("PATH", "PYENV_ROOT", "PYENV_VERSION") if key in os.environ
    }
    env["HOME"] = str(Path.home())
    prelude = f"import sys\nsys.path[:0] = [{str(bundle_dir)!r}]\n"
    return subprocess.run(
        [python, "-I", "-S", "-B", *flags, "-c", prelude + code],
        check=False,
        cwd=bundle_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _import_from_bundle(bundle_dir: Path, entry_point: str) -> subprocess.CompletedProcess[str]:
    """Import main from an extracted bundle with only the bundle and site-packages on sys.path."""
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    code = (
        f"sys.path[1:1] = {site_dirs!r}\n"
        "import main, shared\n"
        f"assert shared.__file__.startswith({str(bundle_dir)!r}), shared.__file__\n"
        f"assert callable(getattr(main, {entry_point!r}))\n"
        "print('ok')\n"
    )
    return _run_in_bundle(bundle_dir, code)


def _extract(bundle: package.Bundle, into: Path) -> Path:
    with zipfile.ZipFile(bundle.path) as archive:
        archive.extractall(into)
    return into


# Run by the 3.12 interpreter in an extracted bundle: what it expects of each pyc, as JSON.
_EXPECTED_PYCS = """\
import importlib.util, json, marshal, pathlib
report = {"magic": importlib.util.MAGIC_NUMBER.hex(), "hashes": {}, "filenames": {}}
for source in sorted(pathlib.Path(".").rglob("*.py")):
    pyc = pathlib.Path(importlib.util.cache_from_source(str(source)))
    report["hashes"][source.as_posix()] = importlib.util.source_hash(source.read_bytes()).hex()
    if pyc.is_file():
        report["filenames"][source.as_posix()] = marshal.loads(pyc.read_bytes()[16:]).co_filename
print(json.dumps(report))
"""


def _pyc_name(source: str) -> str:
    path = PurePosixPath(source)
    return (path.parent / "__pycache__" / f"{path.stem}.cpython-312.pyc").as_posix()


def _assert_checked_hash_pycs(
    bundle: package.Bundle, python: package.BytecodePython, extracted: Path
) -> None:
    """Every source of the bundle has a checked-hash pyc of the 3.12 interpreter, of that source."""
    assert bundle.bytecode == "cpython-312"
    with zipfile.ZipFile(bundle.path) as archive:
        names = archive.namelist()
        pycs = {n: archive.read(n) for n in names if n.endswith(".pyc")}
    sources = [n for n in names if n.endswith(".py")]
    expected = {name: _pyc_name(name) for name in sources}
    assert sorted(pycs) == sorted(expected.values())
    result = _run_in_bundle(extracted, _EXPECTED_PYCS, python=python.executable)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for source, pyc_name in expected.items():
        pyc = pycs[pyc_name]
        assert pyc[:4].hex() == report["magic"], pyc_name
        assert int.from_bytes(pyc[4:8], "little") == 0b11, pyc_name  # hash-based, checked
        assert pyc[8:16].hex() == report["hashes"][source], pyc_name
        assert report["filenames"][source] == source  # the in-bundle path, not a temporary one


def test_every_source_has_a_checked_hash_pyc_of_the_312_interpreter(
    fake_project: Path, tmp_path: Path, python312: package.BytecodePython
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project, bytecode=python312)

    _assert_checked_hash_pycs(bundle, python312, _extract(bundle, tmp_path / "bundle"))
    assert bundle.files == 2 * 5 + 1  # five sources, their pycs, requirements.txt


def test_real_bundles_carry_checked_hash_pycs_that_312_imports(
    tmp_path: Path, python312: package.BytecodePython
) -> None:
    bundles = package.build(tmp_path / "dist", bytecode=python312)

    assert sorted(b.function for b in bundles) == sorted(ENTRY_POINTS)
    for bundle in bundles:
        extracted = _extract(bundle, tmp_path / bundle.function)
        _assert_checked_hash_pycs(bundle, python312, extracted)
    # shared.webflow.retry and shared.core.filetypes import nothing outside the standard library
    result = _run_in_bundle(
        extracted,
        "import shared.webflow.retry, shared.core.filetypes\n"
        "print(shared.webflow.retry.__spec__.cached, shared.core.filetypes.__spec__.cached)",
        python=python312.executable,
        flags=("-v",),
    )
    assert result.returncode == 0, result.stderr
    for folder, module in (("webflow", "retry"), ("core", "filetypes")):
        pyc = extracted / "shared" / folder / "__pycache__" / f"{module}.cpython-312.pyc"
        assert str(pyc) in result.stdout.split()
        assert f"# code object from {str(pyc)!r}" in result.stderr.splitlines()


def test_312_imports_the_bundled_bytecode_and_recompiles_an_edited_source(
    fake_project: Path, tmp_path: Path, python312: package.BytecodePython
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project, bytecode=python312)
    extracted = _extract(bundle, tmp_path / "bundle")
    pycache = extracted / "shared" / "__pycache__"
    helpers_pyc = pycache / "helpers.cpython-312.pyc"
    code = "import main\nprint(main.demo(None), sys.modules['shared.helpers'].__spec__.cached)"

    result = _run_in_bundle(extracted, code, python=python312.executable, flags=("-v",))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", str(helpers_pyc)]
    loaded = [line for line in result.stderr.splitlines() if str(extracted) in line]
    for pyc in (extracted / "__pycache__" / "main.cpython-312.pyc", helpers_pyc):
        assert f"# code object from {str(pyc)!r}" in loaded

    # WHEN the source changes after packaging, its hash no longer matches: the pyc is not used
    (extracted / "shared" / "helpers.py").write_text("def answer() -> int:\n    return 43\n")
    before = helpers_pyc.read_bytes()

    result = _run_in_bundle(extracted, code, python=python312.executable, flags=("-v",))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "43"
    assert f"# code object from {str(helpers_pyc)!r}" not in result.stderr.splitlines()
    assert helpers_pyc.read_bytes() == before  # -B: nothing rewritten


def test_bytecode_builds_are_byte_identical(
    fake_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    python312: package.BytecodePython,
) -> None:
    (first,) = package.build(tmp_path / "one", root=fake_project, bytecode=python312)
    os.utime(fake_project / "shared/helpers.py", (2_000_000_000, 2_000_000_000))
    monkeypatch.setenv("PYTHONHASHSEED", "12345")

    (second,) = package.build(tmp_path / "two", root=fake_project, bytecode=python312)

    assert second.path.read_bytes() == first.path.read_bytes()


def test_a_source_that_does_not_compile_is_named(
    fake_project: Path, tmp_path: Path, python312: package.BytecodePython
) -> None:
    (fake_project / "shared/helpers.py").write_text("def answer(:\n")

    with pytest.raises(
        package.PackagingError, match=r"cannot compile the bundle.*shared/helpers\.py"
    ):
        package.build(tmp_path / "dist", root=fake_project, bytecode=python312)


def test_fake_bundle_imports_in_isolation(fake_project: Path, tmp_path: Path) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project)
    extracted = tmp_path / "bundle"
    with zipfile.ZipFile(bundle.path) as archive:
        archive.extractall(extracted)

    result = _import_from_bundle(extracted, "demo")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("function", sorted(ENTRY_POINTS))
def test_real_function_bundle_imports_in_isolation(function: str, tmp_path: Path) -> None:
    (bundle,) = package.build(tmp_path / "dist", functions=[function])
    extracted = tmp_path / "bundle"
    with zipfile.ZipFile(bundle.path) as archive:
        assert "main.py" in archive.namelist()
        assert not [n for n in archive.namelist() if "__pycache__" in n or n.endswith(".pyc")]
        archive.extractall(extracted)

    result = _import_from_bundle(extracted, ENTRY_POINTS[function])

    assert result.returncode == 0, result.stderr
