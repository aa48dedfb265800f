"""The answer of a multi-item function: per-item results, counts, one status code, Retry-After."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from shared.webflow.models import ErrorInfo

__all__ = ["RETRY_LATER_CODES", "BatchOutcome", "ItemOutcome"]

# Failures that another try may cure: left unsent (rate limit, outage), or sent without an answer.
RETRY_LATER_CODES = frozenset({"upstream_unavailable", "outcome_unknown"})


class ItemOutcome(Protocol):
    """One item's result as a multi-item answer lists it."""

    @property
    def status(self) -> str:
        """What happened to the item (created, updated, failed, ...)."""
        ...

    @property
    def error(self) -> ErrorInfo | None:
        """Why it failed, if it did."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The item's entry in the answer."""
        ...


R = TypeVar("R", bound=ItemOutcome)


@dataclass
class BatchOutcome(Generic[R]):
    """Every item's result plus what the HTTP answer needs.

    The status code: every item done -> ``_success_status()``; some failed -> 207; all failed ->
    503 when Webflow left some unsent or unanswered (rate limit, outage: another try may cure
    them), else ``_failure_status(codes)``. An answer of 400 or more also carries a code and a
    message.
    """

    results: list[R]
    retry_after: str | None = None

    counted: ClassVar[Mapping[str, str]] = {"failed": "failed"}  # answer key -> status counted
    failures: ClassVar[frozenset[str]] = frozenset({"failed"})
    verb: ClassVar[str] = "processed"  # as in "No item was processed"

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After when some items were left unsent because Webflow was unavailable."""
        return {"Retry-After": self.retry_after} if self.retry_after else {}

    def count(self, status: str) -> int:
        """How many items ended with ``status``."""
        return sum(1 for result in self.results if result.status == status)

    @property
    def status_code(self) -> int:
        """The HTTP status of the answer (see the class docstring)."""
        failed = [result for result in self.results if result.status in self.failures]
        if not failed:
            return self._success_status()
        if len(failed) < len(self.results):
            return 207
        codes = {result.error.code if result.error else "" for result in failed}
        if codes & RETRY_LATER_CODES:
            return 503
        return self._failure_status(codes)

    def _success_status(self) -> int:
        """The status when no item failed."""
        return 200

    def _failure_status(self, codes: set[str]) -> int:
        """The status when every item failed for reasons of its own (error ``codes``)."""
        return 422

    def to_json(self) -> dict[str, Any]:
        """{<counts>, results: [...]}, plus code and message when the answer is an error."""
        body: dict[str, Any] = {key: self.count(status) for key, status in self.counted.items()}
        body["results"] = [result.to_json() for result in self.results]
        status = self.status_code
        if status >= 400:
            code = {503: "upstream_unavailable", 404: "not_found"}.get(status, f"not_{self.verb}")
            body = {"code": code, "message": f"No item was {self.verb}", **body}
        return body
