"""deploy/package.py: bundle layout, exact pins, reproducibility, and importability."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import package
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {
    "create-items": "create_items",
    "update-items": "update_items",
    "publish-live": "publish_live",
    "upload-asset": "upload_asset",
}


def _direct_dependency_names() -> set[str]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return {canonicalize_name(Requirement(d).name) for d in data["project"]["dependencies"]}


def _requirements(archive: zipfile.ZipFile) -> list[str]:
    lines = archive.read("requirements.txt").decode().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_bundle_holds_main_at_root_and_only_python_sources_of_shared(
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
    ]
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
    assert _direct_dependency_names() <= names
    # the closure reaches transitive runtime dependencies, never the dev tools
    assert {"flask", "google-api-core", "pydantic-core"} <= names
    assert not {"pytest", "hypothesis", "python-hcl2", "pip", "setuptools"} & names


def test_direct_pins_hold_only_the_declared_dependencies(
    fake_project: Path, tmp_path: Path
) -> None:
    (bundle,) = package.build(tmp_path / "dist", root=fake_project, closure=False)

    with zipfile.ZipFile(bundle.path) as archive:
        pins = _requirements(archive)
    assert {canonicalize_name(p.partition("==")[0]) for p in pins} == _direct_dependency_names()


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


def test_cli_prints_a_table_with_sha256(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dist"

    code = package.main(["--root", str(fake_project), "--out", str(out), "--function", "demo"])

    assert code == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["function", "files", "bytes", "sha256", "path"]
    digest = hashlib.sha256((out / "demo.zip").read_bytes()).hexdigest()
    assert row.split()[0] == "demo" and digest in row.split()


def test_cli_refuses_an_unknown_function(
    fake_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = package.main(["--root", str(fake_project), "--out", str(tmp_path), "--function", "nope"])

    assert code == 2
    assert "unknown function(s) ['nope']" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.zip"))


def _import_from_bundle(bundle_dir: Path, entry_point: str) -> subprocess.CompletedProcess[str]:
    """Import main from an extracted bundle with only the bundle and site-packages on sys.path."""
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(bundle_dir)!r}, *{site_dirs!r}]\n"
        "import main, shared\n"
        f"assert shared.__file__.startswith({str(bundle_dir)!r}), shared.__file__\n"
        f"assert callable(getattr(main, {entry_point!r}))\n"
        "print('ok')\n"
    )
    # -I: ignore PYTHON* variables and the user site; -S: no site module, so no .pth file (such as
    # the editable install of this project) can put the repository on sys.path.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(bundle_dir)}
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        check=False,
        cwd=bundle_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
