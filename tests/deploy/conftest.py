"""Fixtures for the deploy tests: a small project tree and the deploy helpers on sys.path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
TERRAFORM_DIR = REPO_ROOT / "terraform"


@pytest.fixture
def fake_project(tmp_path: Path) -> Path:
    """A project tree with one function, a shared package with a subpackage it reaches lazily, a
    module it never reaches, and clutter to skip."""
    root = tmp_path / "project"
    (root / "functions" / "demo").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "functions" / "demo" / "main.py").write_text(
        "from shared.helpers import answer\n\n\ndef demo(request):\n    return str(answer())\n"
    )
    (root / "functions" / "demo" / "__pycache__").mkdir()
    (root / "functions" / "demo" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    shared = root / "shared"
    (shared / "sub" / "__pycache__").mkdir(parents=True)
    (shared / "__init__.py").write_text("")
    (shared / "helpers.py").write_text(
        "def answer() -> int:\n    return 42\n\n\n"
        "def model() -> object:\n"
        "    import pydantic  # imported on this path only: still the bundle's\n\n"
        "    from shared.sub.lazy import LAZY\n\n"
        "    return (pydantic.BaseModel, LAZY)\n"
    )
    (shared / "sub" / "__init__.py").write_text("")
    (shared / "sub" / "lazy.py").write_text("LAZY = 1\n")
    (shared / "unused.py").write_text("import PIL  # no function reaches it\n")
    (shared / "sub" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (shared / "notes.md").write_text("not code\n")
    (shared / "data.json").write_text("{}\n")
    return root
