"""deploy/deploy.sh: input checks, the order of the Terraform steps, and the secrets gate.

terraform and gcloud are replaced by small recording scripts on PATH; packaging is real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.tfmodule import load_module
from tests.support import skip_unless_installed

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_SH = REPO_ROOT / "deploy" / "deploy.sh"
BASE_TOOLS = ("bash", "sed", "tail", "dirname", "basename", "mkdir", "rm", "cat", "env")

COMPLETE_TFVARS = """\
project_id            = "my-project-id"
region                = "europe-west1"
webflow_site_id       = "580e63e98c9a982ac9b8b741"
webflow_collection_id = "580e63fc8c9a982ac9b8b745" # the posts
# name_prefix = "ignored-because-commented"
"""

TERRAFORM_STUB = """#!/bin/sh
printf 'terraform %s\\n' "$*" >> "$CALLS"
case " $* " in *" output "*) echo 'function_uris = {}' ;; esac
"""

GCLOUD_STUB = """#!/bin/sh
printf 'gcloud %s\\n' "$*" >> "$CALLS"
case "$SECRET_STATE" in
  absent) echo "NOT_FOUND: Secret not found" >&2; exit 1 ;;
  ready) echo "1" ;;
esac
"""


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH folder with the base utilities only (no terraform, no gcloud)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASE_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(script)
    path.chmod(0o755)


@pytest.fixture
def stubbed_tools(tools: Path) -> Path:
    _stub(tools, "terraform", TERRAFORM_STUB)
    _stub(tools, "gcloud", GCLOUD_STUB)
    return tools


def _run(
    tmp_path: Path, bin_dir: Path, *args: str, secret_state: str = "ready"
) -> subprocess.CompletedProcess[str]:
    calls = tmp_path / "calls.log"
    calls.touch()
    tf_dir = tmp_path / "tf"
    tf_dir.mkdir(exist_ok=True)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "SECRET_STATE": secret_state,
        "PYTHON": sys.executable,
        "DIST_DIR": str(tmp_path / "dist"),
        "TF_DIR": str(tf_dir),
    }
    return subprocess.run(
        ["bash", str(DEPLOY_SH), *args],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def _tfvars(tmp_path: Path, text: str = COMPLETE_TFVARS) -> Path:
    path = tmp_path / "prod.tfvars"
    path.write_text(text)
    return path


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    skip_unless_installed(
        shellcheck is not None, "shellcheck is not installed (`make system-tools`)"
    )
    assert shellcheck is not None
    result = subprocess.run(
        [shellcheck, str(DEPLOY_SH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_refuses_to_run_without_a_tfvars_file(tmp_path: Path, stubbed_tools: Path) -> None:
    result = _run(tmp_path, stubbed_tools)

    assert result.returncode == 2
    assert "no tfvars file given" in result.stderr
    assert _calls(tmp_path) == []


def test_refuses_to_run_with_a_missing_variable_and_names_it(
    tmp_path: Path, stubbed_tools: Path
) -> None:
    tfvars = _tfvars(
        tmp_path,
        'project_id = "my-project-id"\nregion = "europe-west1"\nwebflow_site_id = ""\n'
        '# webflow_collection_id = "commented out"\n',
    )

    result = _run(tmp_path, stubbed_tools, str(tfvars))

    assert result.returncode == 2
    assert "missing required variable(s): webflow_site_id webflow_collection_id" in result.stderr
    assert _calls(tmp_path) == []
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_defaults_to_terraform_tfvars_in_the_module_folder(
    tmp_path: Path, stubbed_tools: Path
) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "terraform.tfvars").write_text('project_id = "my-project-id"\n')

    result = _run(tmp_path, stubbed_tools)

    assert result.returncode == 2
    assert "using " + str(tmp_path / "tf" / "terraform.tfvars") in result.stderr
    assert (
        "missing required variable(s): region webflow_site_id webflow_collection_id"
        in result.stderr
    )


def test_refuses_to_run_without_terraform_or_gcloud(tmp_path: Path, tools: Path) -> None:
    result = _run(tmp_path, tools, str(_tfvars(tmp_path)))

    assert result.returncode == 2
    assert "missing tool(s): terraform gcloud" in result.stderr


def _terraform_steps(tmp_path: Path) -> list[list[str]]:
    return [c.split()[1:] for c in _calls(tmp_path) if c.startswith("terraform")]


def _step(arguments: list[str]) -> str:
    return next(a for a in arguments if not a.startswith("-"))


def _assert_secret_instructions(stderr: str) -> None:
    for secret, env_name in (
        ("webflow-api-token", "WEBFLOW_API_TOKEN"),
        ("webflow-create-items-api-keys", "CREATE_ITEMS_API_KEYS"),
        ("webflow-update-items-api-keys", "UPDATE_ITEMS_API_KEYS"),
        ("webflow-publish-api-keys", "PUBLISH_API_KEYS"),
        ("webflow-webhook-secret", "WEBFLOW_WEBHOOK_SECRET"),
        ("webflow-sync-api-keys", "SYNC_API_KEYS"),
    ):
        assert (
            f"printf '%s' \"${env_name}\" | gcloud secrets versions add {secret} "
            "--project=my-project-id --data-file=-"
        ) in stderr


def test_creates_absent_secrets_empty_then_stops_for_their_values(
    tmp_path: Path, stubbed_tools: Path
) -> None:
    tfvars = _tfvars(tmp_path)

    result = _run(tmp_path, stubbed_tools, "--yes", str(tfvars), secret_state="absent")

    assert result.returncode == 3, result.stderr
    _assert_secret_instructions(result.stderr)
    steps = _terraform_steps(tmp_path)
    assert [_step(s) for s in steps] == ["init", "plan", "apply"]
    targeted_plan = steps[1]
    assert "-target=google_secret_manager_secret.this" in targeted_plan
    assert f"-var-file={tfvars}" in targeted_plan


def test_stops_before_planning_while_a_secret_has_no_version(
    tmp_path: Path, stubbed_tools: Path
) -> None:
    result = _run(tmp_path, stubbed_tools, "--yes", str(_tfvars(tmp_path)), secret_state="empty")

    assert result.returncode == 3
    _assert_secret_instructions(result.stderr)
    assert [_step(s) for s in _terraform_steps(tmp_path)] == ["init"]


def test_packages_then_runs_init_plan_apply_and_prints_outputs(
    tmp_path: Path, stubbed_tools: Path
) -> None:
    tfvars = _tfvars(tmp_path)

    result = _run(tmp_path, stubbed_tools, "--yes", str(tfvars))

    assert result.returncode == 0, result.stderr
    dist = tmp_path / "dist"
    assert list(dist.glob("*.zip"))
    steps = _terraform_steps(tmp_path)
    assert [_step(s) for s in steps] == ["init", "plan", "apply", "output"]
    init, plan, apply, _ = steps
    assert "-input=false" in init
    assert "-input=false" in plan
    assert f"-var-file={tfvars}" in plan
    assert not [a for a in plan if a.startswith("-target")]
    assert f"-var=source_archive_dir={dist}" in plan
    assert "-input=false" in apply
    assert apply[-1].endswith("deploy.tfplan")
    secret_checks = [c for c in _calls(tmp_path) if c.startswith("gcloud secrets versions list")]
    assert len(secret_checks) == 7
    assert "function_uris" in result.stdout


def test_without_yes_and_without_a_terminal_it_plans_but_does_not_apply(
    tmp_path: Path, stubbed_tools: Path
) -> None:

    result = _run(tmp_path, stubbed_tools, str(_tfvars(tmp_path)))

    assert result.returncode == 2
    assert "rerun with --yes to apply this plan" in result.stderr
    assert [_step(s) for s in _terraform_steps(tmp_path)] == ["init", "plan"]


def test_required_variables_match_the_module() -> None:
    module = load_module()
    without_default = sorted(
        name for name, body in module.variables.items() if "default" not in body
    )
    declared = re.search(r"REQUIRED_VARIABLES=\(([^)]*)\)", DEPLOY_SH.read_text())
    assert declared
    assert sorted(declared.group(1).split()) == without_default


def test_secret_names_match_the_module() -> None:
    module = load_module()
    text = DEPLOY_SH.read_text()
    suffixes_match = re.search(r"SECRET_SUFFIXES=\(([^)]*)\)", text)
    env_names_match = re.search(r"SECRET_ENV_NAMES=\(([^)]*)\)", text)
    assert suffixes_match is not None
    assert env_names_match is not None
    suffixes = suffixes_match.group(1).split()
    env_names = env_names_match.group(1).split()
    expected = {
        env: f"${{var.name_prefix}}-{suffix}"
        for env, suffix in zip(env_names, suffixes, strict=True)
    }
    assert module.locals["secrets"] == expected
