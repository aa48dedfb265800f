"""The one classification of Webflow's failures: transient, a refusal, or the token's."""

from __future__ import annotations

import pytest

from shared.webflow.errors import (
    WebflowConnectionError,
    WebflowError,
    WebflowTimeoutError,
    error_for_status,
)
from shared.webflow.failures import is_refusal, is_transient
from shared.webflow.models import ErrorInfo


@pytest.mark.parametrize(
    ("failure", "transient", "refusal"),
    [
        (error_for_status(500, None, None), True, False),
        (error_for_status(502, None, "<html>Bad Gateway</html>"), True, False),
        (error_for_status(503, "service_unavailable", None), True, False),
        (error_for_status(429, None, None, retry_after=60), True, False),
        (error_for_status(408, None, None), True, False),
        (WebflowTimeoutError(), True, False),
        (WebflowConnectionError(), True, False),
        (error_for_status(401, None, None), False, False),  # the token's: neither
        (error_for_status(403, "missing_scopes", None), False, False),
        (error_for_status(400, "validation_error", "Validation Error"), False, True),
        (error_for_status(404, None, None), False, True),
        (error_for_status(409, None, None), False, True),
        (ErrorInfo(code="outcome_unknown", message="lost"), True, False),
        (ErrorInfo(code="internal_error", message="x", status_code=500), True, False),
        (ErrorInfo(code="upstream_not_authorized", message="x"), False, False),
        (ErrorInfo(code="validation_error", message="x", status_code=400), False, True),
        (ErrorInfo(code="duplicate_slug", message="no free slug"), False, True),
        (None, False, False),
    ],
)
def test_each_failure_is_transient_a_refusal_or_neither(
    failure: WebflowError | ErrorInfo | None, transient: bool, refusal: bool
) -> None:
    assert (is_transient(failure), is_refusal(failure)) == (transient, refusal)
