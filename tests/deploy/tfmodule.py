"""Read the Terraform module with python-hcl2 into plain dictionaries for assertions."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
INSTALLED_TERRAFORM = Path("/usr/local/bin/terraform")


def terraform_binary() -> str:
    """The terraform executable (on PATH, else /usr/local/bin); skips the test when there is none."""
    found = shutil.which("terraform") or (
        str(INSTALLED_TERRAFORM) if INSTALLED_TERRAFORM.is_file() else None
    )
    if found is None:
        pytest.skip("terraform is not installed on this machine")
    return found


def unquote(value: Any) -> Any:
    """Strip the quotes python-hcl2 keeps around string literals and keys, recursively."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {
            unquote(key): unquote(item)
            for key, item in value.items()
            if key not in ("__is_block__", "__comments__")
        }
    return value


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the single nested block called name."""
    blocks = body[name]
    assert len(blocks) == 1, f"expected one {name} block, got {len(blocks)}"
    return blocks[0]


def dynamic(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the dynamic block called name (its for_each and content)."""
    for entry in body.get("dynamic", []):
        if name in entry:
            return entry[name]
    raise AssertionError(f"no dynamic {name} block")


@dataclass
class Module:
    """The declarations of a Terraform module, by kind."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        assert (kind, name) in self.resources, f"{kind}.{name} is not declared"
        return self.resources[(kind, name)]

    def resources_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


def load_module(directory: Path = TERRAFORM_DIR) -> Module:
    """Parse every .tf file of a module directory."""
    module = Module()
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text(encoding="utf-8")
        module.texts[path.name] = text
        parsed = unquote(hcl2.loads(text))
        for entry in parsed.get("resource", []):
            for kind, named in entry.items():
                for name, body in named.items():
                    module.resources[(kind, name)] = body
        for entry in parsed.get("data", []):
            for kind, named in entry.items():
                for name, body in named.items():
                    module.data[(kind, name)] = body
        for entry in parsed.get("variable", []):
            module.variables.update(entry)
        for entry in parsed.get("output", []):
            module.outputs.update(entry)
        for entry in parsed.get("locals", []):
            module.locals.update(entry)
        module.terraform.extend(parsed.get("terraform", []))
    return module
