"""Configuration read once per instance from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from shared.core.filetypes import MAX_IMAGE_BYTES, MAX_IMAGE_INPUT_BYTES, allowed_extensions
from shared.core.log import add_secret, configure
from shared.webflow.settings import WebflowSettings

__all__ = [
    "MAX_TRUSTED_PROXIES",
    "MIN_API_KEY_LENGTH",
    "ConfigError",
    "FileSettings",
    "FunctionSettings",
    "WebflowSettings",
    "api_keys_of",
    "blank_to_none",
    "http_url",
    "load_settings",
    "register_secrets",
    "split_list",
]

MIN_API_KEY_LENGTH = 16
# At most this many proxies may append to X-Forwarded-For (FORM_TRUSTED_PROXIES).
MAX_TRUSTED_PROXIES = 10
API_KEYS_SUFFIX = "_api_keys"


class ConfigError(Exception):
    """A missing or malformed configuration variable; the message names it."""


def split_list(value: Any) -> list[str]:
    """Parse a comma-separated string (or a list) into a list of non-empty, stripped strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError("must be a comma-separated list")


def api_keys_of(own: SecretStr | None, local_fallback: SecretStr | None) -> list[str]:
    """A function's own API keys; ``local_fallback`` (CREATE_ITEMS_API_KEYS) serves only in a local
    run. Cloud Run sets K_SERVICE: a deployed function uses its own keys or none, so a key that may
    create items can never patch them or publish the site."""
    source = own if own is not None and own.get_secret_value().strip() else None
    if source is None and not os.environ.get("K_SERVICE"):
        source = local_fallback
    return split_list(source.get_secret_value()) if source is not None else []


def http_url(value: str | None) -> str | None:
    """A setting's URL, stripped, when it is http(s); None stays None.

    Raises:
        ValueError: any other scheme (a settings validator's message).
    """
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value


def blank_to_none(value: Any) -> Any:
    """A setting's text stripped, None when blank; other values as they are."""
    return value.strip() or None if isinstance(value, str) else value


class FunctionSettings(WebflowSettings):
    """What every function reads on top of the client's settings: its log level, and the length
    rule of every ``*_API_KEYS`` variable a subclass declares."""

    log_level: str = "INFO"

    @field_validator("*")
    @classmethod
    def _api_keys_long_enough(cls, value: Any, info: ValidationInfo) -> Any:
        # Every *_API_KEYS variable of every function: a short key can be guessed.
        if not str(info.field_name).endswith(API_KEYS_SUFFIX) or not isinstance(value, SecretStr):
            return value
        if any(len(key) < MIN_API_KEY_LENGTH for key in split_list(value.get_secret_value())):
            raise ValueError(f"each key must be at least {MIN_API_KEY_LENGTH} characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class FileSettings(FunctionSettings):
    """Where files posted with a form go, and which ones may be: the bucket and prefix that
    upload-asset watches, its extensions, the largest photo taken."""

    upload_bucket: str | None = None
    upload_prefix: str = "uploads"
    upload_allowed_extensions: str | None = None
    # A form post with a 20 MB photo (IMAGE_MAX_INPUT_BYTES) fits; Cloud Run takes 32 MiB at most.
    image_max_input_bytes: int = Field(
        default=MAX_IMAGE_INPUT_BYTES, ge=MAX_IMAGE_BYTES, le=100 * 1024 * 1024
    )

    @field_validator("upload_bucket", "upload_allowed_extensions", mode="before")
    @classmethod
    def _blank_file_setting_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("upload_allowed_extensions")
    @classmethod
    def _known_extensions(cls, value: str | None) -> str | None:
        allowed_extensions(value)  # upload-asset reads the same variable
        return value

    @property
    def form_upload_prefix(self) -> str:
        """Where form files go: the first of UPLOAD_PREFIX's prefixes (upload-asset takes a list)."""
        prefixes = split_list(self.upload_prefix)
        return prefixes[0] if prefixes else "uploads"

    @property
    def file_extensions(self) -> frozenset[str]:
        """Extensions a file may have: UPLOAD_ALLOWED_EXTENSIONS, else every one Webflow takes
        (form posts and upload-asset read the same variable)."""
        return allowed_extensions(self.upload_allowed_extensions)


S = TypeVar("S", bound=BaseSettings)

_NAMED = re.compile(r"^[A-Z][A-Z0-9_]*(:| is )")
_TYPE_MESSAGES = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be a boolean (true/false)",
    "missing": "is required",
}


def _describe(error: Mapping[str, Any]) -> str:
    """Render one pydantic error as 'VARIABLE: message' (or 'VARIABLE is required')."""
    loc = error.get("loc") or ()
    if not loc:
        # A check across settings (a model validator) names its variable in its message.
        told = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        return told if _NAMED.match(told) else f"CONFIGURATION: {told}"
    name = str(loc[0]).upper()
    kind = error.get("type", "")
    if kind == "missing":
        return f"{name} is required"
    message = _TYPE_MESSAGES.get(kind)
    if message is None:
        message = str(error.get("msg", "is invalid"))
        message = message.removeprefix("Value error, ")
    if name == "WEBFLOW_RATE_LIMIT_PER_MINUTE" and kind in {"int_parsing", "int_from_float"}:
        message = "must be a positive integer"
    if message == "is required":
        return f"{name} is required"
    return f"{name}: {message}"


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings of ``cls`` from the environment (explicit overrides win).

    Its secrets are registered for redaction and LOG_LEVEL is applied to the project's logger.

    Raises:
        ConfigError: naming every missing or malformed variable.
    """
    try:
        settings = cls(**overrides)
    except ValidationError as exc:
        messages = list(dict.fromkeys(_describe(err) for err in exc.errors()))
        raise ConfigError("; ".join(messages)) from None
    register_secrets(settings)
    if isinstance(settings, FunctionSettings):
        configure(settings.log_level)
    return settings


def register_secrets(settings: BaseSettings) -> None:
    """Mask every secret of ``settings`` in the logs from now on, whichever path uses it.

    A comma-separated secret (API keys, webhook secrets while rotating) is registered whole and
    part by part, so that neither the list nor one of its keys can appear in a log line.
    """
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            add_secret(secret)
            for part in split_list(secret):
                add_secret(part)
