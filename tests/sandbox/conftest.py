"""Fixtures of the sandbox tests: API clients on the shared sandbox, and private sandboxes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox
from tests.sandbox.openapi import SpecValidator, load_spec, patch_defects
from tests.support import ServerProcess, start_sandbox


@pytest.fixture(scope="session")
def spec_validator(pytestconfig: pytest.Config) -> SpecValidator:
    """Webflow's OpenAPI document as a validator of answers."""
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    cache_dir = cache.mkdir("webflow-openapi") if cache is not None else Path(".pytest_cache")
    return SpecValidator(patch_defects(load_spec(cache_dir)))


@pytest.fixture
def api(sandbox: Sandbox, spec_validator: SpecValidator) -> Iterator[httpx.Client]:
    """A /v2 client with the full token; every answer it gets must conform to the spec."""
    validator = spec_validator
    prefix = httpx.URL(sandbox.api_base_url).path
    problems: list[str] = []

    def check(response: httpx.Response) -> None:
        response.read()
        body = response.json() if response.content else None
        path = response.request.url.path.removeprefix(prefix)
        # A call the spec does not have (the sandbox's 404/405) is not checked.
        with contextlib.suppress(LookupError):
            problems.extend(
                validator.errors(response.request.method, path, response.status_code, body)
            )

    with sandbox.api() as client:
        client.event_hooks["response"] = [check]
        yield client
    assert not problems, "answers that do not conform to the spec:\n" + "\n".join(problems)


@pytest.fixture
def posts(sandbox: Sandbox) -> str:
    """The id of the seed's posts collection."""
    return sandbox.collections["posts"]


@pytest.fixture
def create_post(api: httpx.Client, posts: str) -> Callable[..., dict[str, Any]]:
    """Create a staged post and return the answer's item."""

    def create(slug: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {
            "isDraft": False,
            "fieldData": {"name": name or slug.title(), "slug": slug, **fields},
        }
        response = api.post(f"/collections/{posts}/items", json=body)
        assert response.status_code == 202, response.text
        return response.json()

    return create


class PrivateSandbox:
    """A sandbox process of the test's own (for restarts, seeds, rate limits)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.process: ServerProcess | None = None
        self.ready: dict[str, Any] = {}

    def start(self, *args: str, rate_limit: int = 0) -> dict[str, Any]:
        """Start with extra CLI arguments; return its ready line."""
        self.stop()
        self.process, self.ready = start_sandbox(
            rate_limit=rate_limit, log_dir=self.log_dir, extra=args
        )
        return self.ready

    @property
    def root_url(self) -> str:
        return self.ready["apiBaseUrl"].rsplit("/v2", 1)[0]

    def info(self) -> dict[str, Any]:
        return httpx.get(f"{self.root_url}/_sandbox/info").raise_for_status().json()

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.ready["apiBaseUrl"],
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def private_sandbox(tmp_path: Path) -> Iterator[PrivateSandbox]:
    """Start sandboxes with their own arguments; stopped by pid after the test."""
    server = PrivateSandbox(tmp_path / "logs")
    try:
        yield server
    finally:
        server.stop()
