"""Unit tests of shared/cms/results.py: the status code and body every multi-item answer shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from shared.cms.results import BatchOutcome
from shared.webflow.models import ErrorInfo


@dataclass
class Result:
    """A minimal per-item result."""

    status: str
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status}


@dataclass
class Outcome(BatchOutcome[Result]):
    counted: ClassVar[dict[str, str]] = {"done": "done", "failed": "failed"}
    verb: ClassVar[str] = "done"


def _outcome(*codes: str | None, retry_after: str | None = None) -> Outcome:
    """One result per code: None is done, a code is a failure with that code."""
    results = [
        Result("done") if code is None else Result("failed", ErrorInfo(code=code, message="m"))
        for code in codes
    ]
    return Outcome(results, retry_after)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((None, None), 200),
        ((None, "validation_error"), 207),
        (("validation_error", "upstream_unavailable"), 503),
        (("validation_error",), 422),
    ],
)
def test_status_says_how_many_items_were_done(codes: tuple[str | None, ...], expected: int) -> None:
    assert _outcome(*codes).status_code == expected


def test_a_partial_answer_carries_retry_after_and_counts_without_an_error_code() -> None:
    outcome = _outcome(None, "upstream_unavailable", retry_after="30")
    assert outcome.headers == {"Retry-After": "30"}
    assert outcome.to_json() == {
        "done": 1,
        "failed": 1,
        "results": [{"status": "done"}, {"status": "failed"}],
    }


def test_an_error_answer_leads_with_its_code_and_message() -> None:
    body = _outcome("upstream_unavailable").to_json()
    assert list(body)[:2] == ["code", "message"]
    assert (body["code"], body["message"]) == ("upstream_unavailable", "No item was done")


def test_an_answer_of_items_failing_on_their_own_is_not_done() -> None:
    assert _outcome("validation_error").to_json()["code"] == "not_done"


def test_items_whose_answer_was_lost_are_worth_a_retry() -> None:
    assert _outcome("outcome_unknown", "validation_error").status_code == 503
