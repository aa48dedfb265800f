"""The web edge's settings: browser forms and webhooks (``FormSettings``), and spam protection
(``SpamSettings``). Each is a small class on top of ``FunctionSettings``; create-items composes
them with the others it reads (shared/intake/settings.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.cms.settings import PublicFieldSettings
from shared.core.config import (
    MAX_TRUSTED_PROXIES,
    FileSettings,
    FunctionSettings,
    blank_to_none,
    http_url,
    split_list,
)
from shared.web.spam import PROVIDERS, CaptchaSettings, SpamRules, hostnames_of

__all__ = ["FormPostSettings", "FormSettings", "SpamSettings"]


class FormSettings(FunctionSettings):
    """Who may post (ALLOWED_ORIGINS, the webhook secret), where the browser goes next, and the
    bounds of one post."""

    allowed_origins: str = ""
    honeypot_field: str = "_gotcha"
    form_success_url: str | None = None
    form_error_url: str | None = None
    form_rate_limit_per_minute: int = Field(default=10, ge=0)
    form_trusted_proxies: int = 0
    webflow_webhook_secret: SecretStr | None = None
    form_max_text_bytes: int = Field(default=100_000, gt=0)
    form_max_fields: int = Field(default=100, gt=0, le=10_000)
    form_allow_svg: bool = False
    # A form post with a 20 MB photo (IMAGE_MAX_INPUT_BYTES) fits; Cloud Run takes 32 MiB at most.
    max_body_bytes: int = Field(default=25_000_000, gt=0)

    @field_validator("form_success_url", "form_error_url", mode="before")
    @classmethod
    def _blank_form_url_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("form_success_url", "form_error_url")
    @classmethod
    def _form_url_is_http(cls, value: str | None) -> str | None:
        return http_url(value)

    @field_validator("form_trusted_proxies")
    @classmethod
    def _proxy_count(cls, value: int) -> int:
        if not 0 <= value <= MAX_TRUSTED_PROXIES:
            raise ValueError(
                f"must be between 0 and {MAX_TRUSTED_PROXIES}: the number of proxies that append to "
                "X-Forwarded-For after the client (0 direct, 1 behind a load balancer)"
            )
        return value

    @property
    def origins(self) -> list[str]:
        """Allowed browser origins (ALLOWED_ORIGINS, comma-separated; "*" allows any)."""
        return split_list(self.allowed_origins)

    @property
    def webhook_secrets(self) -> list[SecretStr]:
        """Secrets accepted on webhook signatures (comma-separated while rotating)."""
        raw = self.webflow_webhook_secret.get_secret_value() if self.webflow_webhook_secret else ""
        return [SecretStr(secret) for secret in split_list(raw)]


class SpamSettings(FunctionSettings):
    """FORM_CAPTCHA and its options, FORM_SPAM_KEYWORDS and FORM_SPAM_MAX_LINKS (shared/web/spam.py)."""

    form_captcha: Literal["turnstile", "hcaptcha", "recaptcha"] | None = None
    form_captcha_secret: SecretStr | None = None
    form_captcha_verify_url: str | None = None
    form_captcha_hostnames: str | None = None
    form_captcha_action: str | None = None
    form_captcha_min_score: float = Field(default=0.5, ge=0, le=1)
    form_captcha_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    form_captcha_failure: Literal["reject", "quarantine"] = "reject"
    form_spam_keywords: str | None = None
    form_spam_max_links: int = Field(default=0, ge=0)

    @field_validator(
        "form_captcha",
        "form_captcha_verify_url",
        "form_captcha_hostnames",
        "form_captcha_action",
        "form_spam_keywords",
        mode="before",
    )
    @classmethod
    def _blank_spam_setting_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("form_captcha_verify_url")
    @classmethod
    def _verify_url_is_http(cls, value: str | None) -> str | None:
        return http_url(value)

    @model_validator(mode="after")
    def _captcha_has_a_secret(self) -> SpamSettings:
        secret = self.form_captcha_secret
        if self.form_captcha and (secret is None or not secret.get_secret_value().strip()):
            raise ValueError(
                f"FORM_CAPTCHA_SECRET: is required with FORM_CAPTCHA={self.form_captcha}: the "
                "secret key of the site key the form's widget uses"
            )
        return self

    def captcha(self) -> CaptchaSettings | None:
        """The challenge's settings (FORM_CAPTCHA), or None when none is configured. Its hostnames
        default to those of ALLOWED_ORIGINS when the settings have them."""
        if self.form_captcha is None or self.form_captcha_secret is None:
            return None
        configured = split_list(self.form_captcha_hostnames)
        origins = split_list(getattr(self, "allowed_origins", ""))
        return CaptchaSettings(
            provider=self.form_captcha,
            secret=self.form_captcha_secret.get_secret_value(),
            verify_url=self.form_captcha_verify_url or PROVIDERS[self.form_captcha],
            hostnames=frozenset(h.lower() for h in configured) or hostnames_of(origins),
            action=self.form_captcha_action,
            min_score=self.form_captcha_min_score,
            timeout=self.form_captcha_timeout_seconds,
            failure=self.form_captcha_failure,
        )

    def spam_rules(self) -> SpamRules:
        """FORM_SPAM_KEYWORDS and FORM_SPAM_MAX_LINKS."""
        return SpamRules(tuple(split_list(self.form_spam_keywords)), self.form_spam_max_links)


class FormPostSettings(FormSettings, PublicFieldSettings, FileSettings):
    """What taking a form post reads: the form's bounds, the fields it may write, its files."""
