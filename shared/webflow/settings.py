"""The client's settings, read from the environment: what every function needs to reach Webflow."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebflowSettings"]


class WebflowSettings(BaseSettings):
    """What the client needs to talk to Webflow: token, base URL, pacing, timeouts, retries."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        env_prefix="",
        extra="ignore",
        hide_input_in_errors=True,
        validate_default=True,
        defer_build=True,  # each function loads one subclass; the others need no validator
    )

    webflow_api_token: SecretStr
    webflow_api_base_url: str = "https://api.webflow.com/v2"
    webflow_site_id: str | None = None
    webflow_collection_id: str | None = None
    webflow_rate_limit_per_minute: int = 60
    webflow_timeout_seconds: float = 30.0
    webflow_connect_timeout_seconds: float = 5.0
    webflow_max_retry_seconds: float = 40.0
    schema_cache_ttl_seconds: float = 300.0

    @field_validator("webflow_api_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is required")
        return value

    @field_validator("webflow_api_base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            # The URL is logged and kept in plain environment variables: no credentials in it.
            raise ValueError("must not carry credentials (the token goes in WEBFLOW_API_TOKEN)")
        return value

    # Named apart from the subclasses' own blank-is-none validators: a subclass validator of the
    # same name would replace this one, and blank ids would reach Webflow.
    @field_validator("webflow_site_id", "webflow_collection_id", mode="before")
    @classmethod
    def _blank_webflow_id_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("webflow_rate_limit_per_minute")
    @classmethod
    def _positive_int(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive integer")
        return value

    @field_validator(
        "webflow_timeout_seconds",
        "webflow_connect_timeout_seconds",
        "webflow_max_retry_seconds",
        "schema_cache_ttl_seconds",
    )
    @classmethod
    def _non_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be a non-negative number")
        return value
