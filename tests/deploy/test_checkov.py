"""checkov over the Terraform module: zero failed checks, every skip justified in the .tf files."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.tfmodule import TERRAFORM_DIR
from tests.support import REPO_ROOT, skip_unless_installed


def _checkov_bin() -> str:
    configured = os.environ.get("CHECKOV_BIN")
    if configured:
        if not Path(configured).is_file():
            pytest.fail(f"CHECKOV_BIN={configured} does not exist; run `make checkov`")
        return configured
    local = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    skip_unless_installed(
        local.is_file(),
        "checkov is not installed: CHECKOV_BIN is unset and .venv-checkov is missing (`make checkov`)",
    )
    return str(local)


def _reports(stdout: str) -> list[dict]:
    data = json.loads(stdout)
    return data if isinstance(data, list) else [data]


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    command = [
        _checkov_bin(),
        "-d",
        "terraform",
        "--framework",
        "terraform",
        "--skip-download",
        "--compact",
        "--quiet",
        "-o",
        "json",
    ]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert result.stdout.strip(), (
        f"checkov printed nothing (exit {result.returncode}):\n{result.stderr}"
    )
    (report,) = [r for r in _reports(result.stdout) if r.get("check_type") == "terraform"]
    report["exit_code"] = result.returncode
    return report


def test_checkov_finds_no_failed_check(checkov_report: dict) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"].get("failed_checks", [])
    ]
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    assert checkov_report["exit_code"] == 0


def test_checkov_skips_are_inline_and_justified(checkov_report: dict) -> None:
    text = "\n".join(p.read_text() for p in sorted(TERRAFORM_DIR.glob("*.tf")))
    inline = re.findall(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(\S[^\n]{30,})", text)
    assert checkov_report["summary"]["skipped"] == len(inline)
