"""The layers of shared/: the domain never reaches for the web layer.

flask is imported by shared/web/http.py, shared/web/clients.py (who is calling) and the functions
alone; no other module of shared/ imports shared.web.http at run time (type annotations aside), so
the domain's failures are its own problems (shared/core/problems.py) and shared/web/http.py is the
one place that turns them into HTTP answers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from closure import runtime_imports

from shared.core.problems import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    Problem,
    TooManyRequests,
    Unavailable,
    Unprocessable,
    UpstreamRefused,
)
from shared.web.http import AppError, to_app_error
from tests.support import REPO_ROOT

SHARED = REPO_ROOT / "shared"
WEB_LAYER = {SHARED / "web" / "http.py", SHARED / "web" / "clients.py"}


def _runtime_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (imports under ``if TYPE_CHECKING:`` left out), read
    as the deployment bundles read them."""
    return {module for module, _ in runtime_imports(ast.parse(path.read_text(encoding="utf-8")))}


DOMAIN = sorted(path for path in SHARED.rglob("*.py") if path not in WEB_LAYER)


@pytest.mark.parametrize("path", DOMAIN, ids=lambda path: str(path.relative_to(SHARED)))
def test_the_domain_imports_neither_flask_nor_the_web_layer(path: Path) -> None:
    imported = _runtime_imports(path)
    assert not {name for name in imported if name.split(".")[0] == "flask"}
    assert "shared.web.http" not in imported


def test_the_checks_see_the_web_layer_s_own_imports() -> None:
    # The check can fail: http.py itself imports flask.
    assert "flask" in _runtime_imports(SHARED / "web" / "http.py")


@pytest.mark.parametrize(
    ("problem", "status"),
    [
        (InvalidInput("bad", "Bad"), 400),
        (NotAuthenticated("who", "Who"), 401),
        (Forbidden("no", "No"), 403),
        (Conflict("clash", "Clash"), 409),
        (Unprocessable("refused", "Refused"), 422),
        (UpstreamRefused("token", "Token"), 502),
        (TooManyRequests("slow", "Slow", retry_after=3), 429),
        (Unavailable("down", "Down", retry_after=12.2), 503),
    ],
)
def test_the_web_layer_gives_each_problem_its_status(problem: Problem, status: int) -> None:
    answer = to_app_error(problem)
    assert isinstance(answer, AppError)
    assert (answer.status, answer.code, answer.message) == (status, problem.code, problem.message)


def test_an_unavailable_problem_says_when_to_come_back() -> None:
    assert to_app_error(Unavailable("down", "Down", retry_after=12.2)).headers == {
        "Retry-After": "13"
    }
    assert to_app_error(Unavailable("down", "Down")).headers == {"Retry-After": "30"}


def test_a_realm_asks_for_credentials() -> None:
    answer = to_app_error(NotAuthenticated("invalid_token", "Not valid", realm="publish-live"))
    assert answer.headers == {
        "WWW-Authenticate": 'Bearer realm="publish-live", error="invalid_token"'
    }
