"""Spam protection for public form posts: a challenge token verified with its provider, and the
rules that send a post to the quarantine instead of the CMS.

``FORM_CAPTCHA`` names the provider whose widget the form carries (Cloudflare Turnstile, hCaptcha
or Google reCAPTCHA). Its token field is taken out of the post and verified server-side with the
provider's siteverify call (the secret, the token, the visitor's address), within
``FORM_CAPTCHA_TIMEOUT_SECONDS``; the answer's hostname (``FORM_CAPTCHA_HOSTNAMES``, by default
the hosts of ``ALLOWED_ORIGINS``), action (``FORM_CAPTCHA_ACTION``) and reCAPTCHA v3 score
(``FORM_CAPTCHA_MIN_SCORE``) are checked, and a token is taken once per instance whatever the
provider says. A failed or missing token is refused (403 ``captcha_failed``) or, with
``FORM_CAPTCHA_FAILURE=quarantine``, quarantined; a provider that cannot be reached is 503 or,
likewise, quarantine. The honeypot and the keyword and link rules quarantine too. A quarantined post
is answered as any other (a bot learns nothing) and kept under the intake's ``spam/`` prefix, never
written to the CMS until released (docs/spam.md).
"""

from __future__ import annotations

import collections
import hashlib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.core.log import get_logger
from shared.core.problems import Forbidden, Unavailable

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PROVIDERS",
    "TOKEN_FIELDS",
    "CaptchaSettings",
    "CaptchaVerifier",
    "SpamRules",
    "judge",
]

logger = get_logger(__name__)

Provider = Literal["turnstile", "hcaptcha", "recaptcha"]
PROVIDERS: dict[str, str] = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
# The field each provider's widget adds to the form it sits in.
TOKEN_FIELDS: dict[str, str] = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}
MAX_TOKEN_CHARS = 4096  # Turnstile's documented maximum is 2,048; leave room, refuse more
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


@dataclass(frozen=True)
class CaptchaSettings:
    """What the verification needs (read from CreateItemsSettings)."""

    provider: Provider
    secret: str
    verify_url: str
    hostnames: frozenset[str]
    action: str | None
    min_score: float
    timeout: float
    failure: Literal["reject", "quarantine"]

    def __repr__(self) -> str:
        return f"CaptchaSettings(provider={self.provider!r}, secret='**********')"


@dataclass(frozen=True)
class SpamRules:
    """The content rules: words that mark a post as spam, and how many links it may hold."""

    keywords: tuple[str, ...] = ()
    max_links: int = 0  # 0: no rule

    def reason(self, fields: Mapping[str, Any]) -> str | None:
        """Why the values look like spam, or None."""
        text = " ".join(_texts(fields.values()))
        folded = text.casefold()
        for word in self.keywords:
            if word and word.casefold() in folded:
                return f"keyword: {word}"
        if self.max_links and len(_LINK.findall(text)) > self.max_links:
            return f"more than {self.max_links} links"
        return None


def _texts(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, str))


@dataclass(frozen=True)
class Verdict:
    """A provider's answer: passed, or why not; ``unavailable`` when it could not be asked."""

    passed: bool
    reason: str = ""
    unavailable: bool = False


class CaptchaVerifier:
    """Siteverify calls with one pooled client per instance, and the tokens already taken."""

    def __init__(self, settings: CaptchaSettings, *, remember: int = 10_000) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.settings.timeout), follow_redirects=False
                )
            return self._client

    def _first_use(self, token: str) -> bool:
        """Record the token; False when this instance has taken it before."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if digest in self._seen:
                return False
            self._seen[digest] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return True

    def _forget(self, token: str) -> None:
        """The provider could not be asked: the token stays good for the visitor's retry."""
        with self._lock:
            self._seen.pop(hashlib.sha256(token.encode()).hexdigest(), None)

    def verify(self, token: str | None, remote_ip: str | None) -> Verdict:
        """Ask the provider about ``token``; the answer's hostname, action and score checked.

        A token is taken once; one the provider could not judge (unreachable, 5xx, 429, its
        internal error) is not, so the visitor's retry of a 503 carries it again.
        """
        if not token:
            return Verdict(False, "missing token")
        if len(token) > MAX_TOKEN_CHARS:
            return Verdict(False, "token too long")
        if not self._first_use(token):
            return Verdict(False, "token already used")
        verdict = self._ask(token, remote_ip)
        if verdict.unavailable:
            self._forget(token)
        return verdict

    def _ask(self, token: str, remote_ip: str | None) -> Verdict:
        import httpx

        form = {"secret": self.settings.secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            response = self._http().post(self.settings.verify_url, data=form)
        except httpx.HTTPError as exc:
            logger.warning("captcha provider unreachable", extra={"error": type(exc).__name__})
            return Verdict(False, "provider unreachable", unavailable=True)
        if response.status_code >= 500 or response.status_code == 429:
            return Verdict(False, f"provider answered {response.status_code}", unavailable=True)
        try:
            answer = response.json()
        except ValueError:
            return Verdict(False, "provider answer unreadable", unavailable=True)
        if not isinstance(answer, dict):
            return Verdict(False, "provider answer unreadable", unavailable=True)
        return self._judged(answer)

    def _judged(self, answer: Mapping[str, Any]) -> Verdict:
        codes = answer.get("error-codes") or []
        if not answer.get("success"):
            codes_text = ", ".join(str(code) for code in codes) or "refused"
            if {"internal-error"} & set(codes):
                return Verdict(False, codes_text, unavailable=True)
            if {"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch"} & set(
                codes
            ):
                logger.error("the captcha secret was refused: check FORM_CAPTCHA_SECRET")
            return Verdict(False, codes_text)
        settings = self.settings
        hostname = str(answer.get("hostname") or "")
        if settings.hostnames and hostname.lower() not in settings.hostnames:
            return Verdict(False, f"solved on another site ({hostname or 'no hostname'})")
        if settings.action and answer.get("action") != settings.action:
            return Verdict(False, f"another action ({answer.get('action')})")
        score = answer.get("score")
        if (
            settings.provider == "recaptcha"
            and isinstance(score, int | float)
            and score < settings.min_score
        ):
            return Verdict(False, f"score {score} below {settings.min_score}")
        return Verdict(True)


def judge(
    fields: Mapping[str, Any],
    *,
    honeypot: bool,
    token: str | None,
    remote_ip: str | None,
    verifier: CaptchaVerifier | None,
    rules: SpamRules,
) -> str | None:
    """Why a post goes to the quarantine, or None when it may be queued.

    Raises:
        Forbidden: the challenge failed and FORM_CAPTCHA_FAILURE is reject (403 captcha_failed).
        Unavailable: the provider could not be asked and FORM_CAPTCHA_FAILURE is reject.
    """
    if honeypot:
        return "honeypot"
    if verifier is not None:
        verdict = verifier.verify(token, remote_ip)
        if not verdict.passed:
            if verifier.settings.failure == "quarantine":
                return f"captcha: {verdict.reason}"
            if verdict.unavailable:
                raise Unavailable(
                    "captcha_unavailable",
                    "The challenge could not be checked; try again",
                    retry_after=10,
                )
            field = TOKEN_FIELDS[verifier.settings.provider]
            raise Forbidden(
                "captcha_failed",
                f"The challenge was not passed: {verdict.reason}",
                [{"field": field, "message": verdict.reason}],
            )
    return rules.reason(fields)


def hostnames_of(origins: Sequence[str]) -> frozenset[str]:
    """The hosts of ALLOWED_ORIGINS ("*" names none)."""
    from urllib.parse import urlsplit

    return frozenset(
        (urlsplit(origin).hostname or "").lower()
        for origin in origins
        if origin.strip() != "*" and urlsplit(origin).hostname
    )
