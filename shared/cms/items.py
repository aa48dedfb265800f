"""Create orchestration: items go out in bulk; slugs make a resubmission resolve, not duplicate.

The slug is the idempotency key (no datastore): an item whose slug is taken by an item with the same
content is that item ("existing"); one whose slug is taken by a different item gets "-2", "-3", ...
On the happy path nothing is looked up before sending: collisions are learnt from Webflow's
duplicate-slug answers and only then resolved, so N items cost one schema fetch plus N/100 creates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from shared.cms.fields import (
    ANY_FORM,
    SLUG_MAX_LENGTH,
    FieldError,
    FieldMapper,
    FieldValidationError,
    InputPath,
    ReferenceResolver,
    field_data_matches,
    field_list_setting,
    field_table_setting,
    normalise_field_data,
    parse_field_list,
    parse_field_table,
    parse_unmapped_policy,
)
from shared.cms.references import MAX_ITEMS_PER_CALL, ReferenceLookup, collection_schema
from shared.cms.results import BatchOutcome
from shared.core.config import (
    MAX_TRUSTED_PROXIES,
    ConfigError,
    FunctionSettings,
    api_keys_of,
    blank_to_none,
    split_list,
)
from shared.core.filetypes import MAX_IMAGE_BYTES, MAX_IMAGE_INPUT_BYTES, allowed_extensions
from shared.core.log import get_logger
from shared.core.problems import (
    Forbidden,
    InvalidInput,
    Unavailable,
    upstream_problem,
    webflow_details,
    whole_seconds,
)
from shared.webflow.errors import WebflowError
from shared.webflow.models import Collection, ErrorInfo, Item, NewItem, WebflowId
from shared.webflow.slugs import SlugHolders

if TYPE_CHECKING:
    from shared.web.spam import CaptchaSettings, SpamRules
    from shared.webflow import WebflowClient

__all__ = [
    "MAX_ITEMS_PER_CALL",
    "CreateItemsRequest",
    "CreateItemsSettings",
    "CreateOutcome",
    "CreateResult",
    "ItemInput",
    "Prepared",
    "ReferenceLookup",
    "SlugIndex",
    "collection_schema",
    "content_key",
    "create_from_request",
    "create_items",
    "keyed_slug",
    "prepare_items",
    "requested_collection",
    "send_items",
]

CHUNK_SIZE = 100
MAX_ROUNDS = 8
MAX_SUFFIX = 1000
MAX_ECHOED_FIELDS = 20
MAX_ECHOED_NAME = 100

logger = get_logger(__name__)


class CreateItemsSettings(FunctionSettings):
    """Settings of create-items (on top of the Webflow ones)."""

    create_items_api_keys: SecretStr | None = None
    sync_api_keys: SecretStr | None = None
    allowed_origins: str = ""
    honeypot_field: str = "_gotcha"
    form_success_url: str | None = None
    form_error_url: str | None = None
    form_rate_limit_per_minute: int = Field(default=10, ge=0)
    form_trusted_proxies: int = 0
    upload_bucket: str | None = None
    upload_prefix: str = "uploads"
    upload_allowed_extensions: str | None = None
    webflow_webhook_secret: SecretStr | None = None
    form_names: str = ""
    field_map: str | None = None
    field_defaults: str | None = None
    # Declared after everything its validator reads (pydantic validates in this order).
    form_fields: str | None = None
    form_create_as_draft: bool = True
    form_max_text_bytes: int = Field(default=100_000, gt=0)
    form_max_fields: int = Field(default=100, gt=0, le=10_000)
    form_allow_svg: bool = False
    unmapped_fields: str | None = None
    create_as_draft: bool = False
    create_live: bool = False
    # A form post with a 20 MB photo (IMAGE_MAX_INPUT_BYTES) fits; Cloud Run takes 32 MiB at most.
    max_body_bytes: int = Field(default=25_000_000, gt=0)
    image_max_input_bytes: int = Field(
        default=MAX_IMAGE_INPUT_BYTES, ge=MAX_IMAGE_BYTES, le=100 * 1024 * 1024
    )
    max_items_per_call: int = Field(default=MAX_ITEMS_PER_CALL, gt=0, le=MAX_ITEMS_PER_CALL)
    intake_bucket: str | None = None
    intake_prefix: str = "intake"
    intake_schema_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # Above these, form posts and async JSON calls get 503 (webhooks are still kept); 0: no cap.
    intake_max_pending: int = Field(default=10_000, ge=0)
    intake_max_pending_bytes: int = Field(default=1 << 30, ge=0)
    # Spam protection (shared/web/spam.py).
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
    # Declared after what its validator reads.
    form_intake: Literal["queue", "sync"] = "queue"

    _mapper: FieldMapper | None = PrivateAttr(default=None)
    _public_mappers: dict[tuple[InputPath, str | None], FieldMapper] = PrivateAttr(
        default_factory=dict
    )

    @property
    def form_upload_prefix(self) -> str:
        """Where form files go: the first of UPLOAD_PREFIX's prefixes (upload-asset takes a list)."""
        prefixes = split_list(self.upload_prefix)
        return prefixes[0] if prefixes else "uploads"

    @field_validator("field_map", "field_defaults", mode="before")
    @classmethod
    def _json_table(cls, value: Any, info: ValidationInfo) -> Any:
        return field_table_setting(value, str(info.field_name).upper())

    @field_validator("form_fields", mode="before")
    @classmethod
    def _public_fields_declared(cls, value: Any, info: ValidationInfo) -> Any:
        value = field_list_setting(value, "FORM_FIELDS")
        if value or _map_entries(info.data.get("field_map")):
            return value
        # A public path someone configured, with nothing saying which fields it may write.
        configured = [
            name.upper()
            for name in ("webflow_webhook_secret", "allowed_origins")
            + ("form_success_url", "form_error_url")
            if _is_set(info.data.get(name))
        ]
        if configured:
            raise ValueError(
                f"is required with {', '.join(configured)}: the field slugs form posts and "
                "webhooks may write (comma-separated, or per form as JSON); FIELD_MAP's targets "
                "serve when it is set"
            )
        return value

    @field_validator("form_intake", mode="before")
    @classmethod
    def _intake_has_a_bucket(cls, value: Any, info: ValidationInfo) -> Any:
        value = str(value).strip().lower() if value is not None else "queue"
        public = bool(info.data.get("form_fields")) or _map_entries(info.data.get("field_map"))
        bucket = info.data.get("intake_bucket") or info.data.get("upload_bucket")
        if value == "queue" and public and not bucket:
            raise ValueError(
                "queue (the default) keeps form posts and webhooks in Cloud Storage: set "
                "INTAKE_BUCKET (or UPLOAD_BUCKET), or FORM_INTAKE=sync to write them to Webflow "
                "while the visitor waits"
            )
        return value

    @field_validator("intake_prefix")
    @classmethod
    def _intake_prefix_path(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not value or any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a folder path such as 'intake'")
        return value

    @field_validator("form_trusted_proxies")
    @classmethod
    def _proxy_count(cls, value: int) -> int:
        if not 0 <= value <= MAX_TRUSTED_PROXIES:
            raise ValueError(
                f"must be between 0 and {MAX_TRUSTED_PROXIES}: the number of proxies that append to "
                "X-Forwarded-For after the client (0 direct, 1 behind a load balancer)"
            )
        return value

    @field_validator("unmapped_fields")
    @classmethod
    def _unmapped_policy(cls, value: str | None) -> str | None:
        try:
            parse_unmapped_policy(value)
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value

    @field_validator(
        "form_success_url",
        "form_error_url",
        "upload_bucket",
        "upload_allowed_extensions",
        "intake_bucket",
        "form_captcha",
        "form_captcha_verify_url",
        "form_captcha_hostnames",
        "form_captcha_action",
        "form_spam_keywords",
        mode="before",
    )
    @classmethod
    def _blank_optional_text_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("form_captcha_failure", mode="after")
    @classmethod
    def _captcha_has_a_secret(cls, value: str, info: ValidationInfo) -> str:
        provider = info.data.get("form_captcha")
        secret = info.data.get("form_captcha_secret")
        if provider and (secret is None or not secret.get_secret_value().strip()):
            raise ValueError(
                f"FORM_CAPTCHA={provider} needs FORM_CAPTCHA_SECRET: the secret key of the "
                "site key the form's widget uses"
            )
        return value

    def captcha(self) -> CaptchaSettings | None:
        """The challenge's settings (FORM_CAPTCHA), or None when none is configured."""
        from shared.web.spam import PROVIDERS, CaptchaSettings, hostnames_of

        if self.form_captcha is None or self.form_captcha_secret is None:
            return None
        configured = split_list(self.form_captcha_hostnames)
        return CaptchaSettings(
            provider=self.form_captcha,
            secret=self.form_captcha_secret.get_secret_value(),
            verify_url=self.form_captcha_verify_url or PROVIDERS[self.form_captcha],
            hostnames=frozenset(h.lower() for h in configured) or hostnames_of(self.origins),
            action=self.form_captcha_action,
            min_score=self.form_captcha_min_score,
            timeout=self.form_captcha_timeout_seconds,
            failure=self.form_captcha_failure,
        )

    def spam_rules(self) -> SpamRules:
        """FORM_SPAM_KEYWORDS and FORM_SPAM_MAX_LINKS."""
        from shared.web.spam import SpamRules

        return SpamRules(tuple(split_list(self.form_spam_keywords)), self.form_spam_max_links)

    @field_validator("upload_allowed_extensions")
    @classmethod
    def _known_extensions(cls, value: str | None) -> str | None:
        allowed_extensions(value)  # upload-asset reads the same variable
        return value

    @property
    def file_extensions(self) -> frozenset[str]:
        """Extensions a form file may have: UPLOAD_ALLOWED_EXTENSIONS, as upload-asset checks it."""
        return allowed_extensions(self.upload_allowed_extensions)

    @field_validator("form_success_url", "form_error_url", "form_captcha_verify_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @property
    def sync_keys(self) -> list[SecretStr]:
        """Keys that may sync (create, patch, archive, delete, publish): SYNC_API_KEYS; locally,
        create-items' keys too."""
        return [
            SecretStr(key) for key in api_keys_of(self.sync_api_keys, self.create_items_api_keys)
        ]

    @property
    def api_keys(self) -> list[SecretStr]:
        """The accepted API keys (CREATE_ITEMS_API_KEYS, comma-separated)."""
        raw = self.create_items_api_keys.get_secret_value() if self.create_items_api_keys else ""
        return [SecretStr(key) for key in split_list(raw)]

    @property
    def origins(self) -> list[str]:
        """Allowed browser origins (ALLOWED_ORIGINS, comma-separated; "*" allows any)."""
        return split_list(self.allowed_origins)

    @property
    def form_name_filter(self) -> list[str]:
        """Webflow form names to accept (FORM_NAMES; empty accepts every form)."""
        return split_list(self.form_names)

    @property
    def webhook_secrets(self) -> list[SecretStr]:
        """Secrets accepted on webhook signatures (comma-separated while rotating)."""
        raw = self.webflow_webhook_secret.get_secret_value() if self.webflow_webhook_secret else ""
        return [SecretStr(secret) for secret in split_list(raw)]

    def mapper(self) -> FieldMapper:
        """The field mapper FIELD_MAP, FIELD_DEFAULTS and UNMAPPED_FIELDS describe (built once)."""
        if self._mapper is None:
            self._mapper = FieldMapper.from_settings(self)
        return self._mapper

    def public_fields(self, form_name: str | None = None) -> frozenset[str] | None:
        """The slugs a form post or a webhook of ``form_name`` may write; None when undeclared.

        FORM_FIELDS ("*" and the form's own list) when set, else the targets of FIELD_MAP's
        entries for the form. ``slug`` is never among them.
        """
        declared = parse_field_list(self.form_fields, "FORM_FIELDS")
        if not declared:
            declared = {
                form: frozenset(table.values()) for form, table in self.mapper().field_map.items()
            }
        if not any(declared.values()):
            return None
        allowed = declared.get(ANY_FORM, frozenset())
        if form_name is not None:
            allowed |= declared.get(form_name, frozenset())
        return allowed - {"slug"}

    def public_mapper(
        self, form_name: str | None = None, *, path: InputPath = "form"
    ) -> FieldMapper:
        """The mapper of public input: only the form's declared fields, with the UNMAPPED_FIELDS
        policy of ``path`` (built once per path and form).

        Raises:
            Forbidden: when no field is declared for public input at all.
        """
        mapper = self._public_mappers.get((path, form_name))
        if mapper is None:
            allowed = self.public_fields(form_name)
            if allowed is None:
                logger.warning("form input refused: FORM_FIELDS (or FIELD_MAP) is not set")
                raise Forbidden(
                    "forms_not_enabled",
                    "This function does not take form submissions",
                    [{"field": "body", "message": "no form fields are declared"}],
                )
            mapper = FieldMapper.from_settings(self, path=path).restricted_to(allowed)
            self._public_mappers[(path, form_name)] = mapper
        return mapper

    def public_draft(self) -> tuple[bool, bool]:
        """(default_draft, live) of public submissions: drafts unless FORM_CREATE_AS_DRAFT=false."""
        if self.form_create_as_draft:
            return True, False
        return self.create_as_draft, self.create_live


def _is_set(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return bool(value)


def _map_entries(field_map: Any) -> bool:
    """True when FIELD_MAP (as loaded) maps at least one name."""
    try:
        return any(parse_field_table(field_map, "FIELD_MAP").values())
    except ConfigError:
        return False  # reported under FIELD_MAP itself


# --- requests ------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )


class ItemInput(_Body):
    """One item of a JSON call."""

    field_data: dict[str, Any]
    cms_locale_ids: list[WebflowId] | None = Field(default=None, min_length=1)
    is_draft: bool | None = None


class CreateItemsRequest(_Body):
    """Body of a JSON create-items call."""

    collection_id: WebflowId | None = None
    items: list[ItemInput] = Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)
    live: bool | None = None


# --- results -------------------------------------------------------------------------------

Status = Literal["created", "existing", "failed"]


@dataclass
class CreateResult:
    """The outcome of one requested item, at its input index."""

    index: int
    status: Status
    id: str | None = None
    slug: str | None = None
    error: ErrorInfo | None = None
    item: Item | None = field(default=None, repr=False)
    ignored_fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The item's entry in the answer."""
        body: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "id": self.id,
            "slug": self.slug,
        }
        if self.ignored_fields:
            # Capped: a body of a million names must not be echoed back a million times.
            body["ignoredFields"] = [name[:MAX_ECHOED_NAME] for name in self.ignored_fields][
                :MAX_ECHOED_FIELDS
            ]
            if len(self.ignored_fields) > MAX_ECHOED_FIELDS:
                body["ignoredFieldCount"] = len(self.ignored_fields)
        if self.error is not None:
            body["error"] = {
                "code": self.error.code,
                "message": self.error.message,
                "details": self.error.details,
            }
        return body


@dataclass
class CreateOutcome(BatchOutcome[CreateResult]):
    """Every item's result: 201 some created, 200 all existing, 207 some failed, else 400/422/503."""

    counted: ClassVar[Mapping[str, str]] = {
        "created": "created",
        "existing": "existing",
        "failed": "failed",
    }
    verb: ClassVar[str] = "created"

    def _success_status(self) -> int:
        return 201 if self.count("created") else 200

    def _failure_status(self, codes: set[str]) -> int:
        return 400 if codes == {"invalid_fields"} else 422


def _failure(code: str, message: str, details: list[dict[str, Any]] | None = None) -> ErrorInfo:
    return ErrorInfo(code=code, message=message, details=details or [])


SlugKey = Callable[[Mapping[str, Any]], str]
_KEY_DIGITS = 8


def keyed_slug(base: str, key: str) -> str:
    """``base`` ending in ``-`` and 8 hex digits of ``key``'s SHA-256 (within the slug limit)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:_KEY_DIGITS]
    return f"{base[: SLUG_MAX_LENGTH - _KEY_DIGITS - 1].rstrip('-')}-{digest}"


def content_key(field_data: Mapping[str, Any]) -> str:
    """A submission's key from its values (slug aside): the same post twice has the same key."""
    return json.dumps(normalise_field_data(_content_of(field_data)), sort_keys=True, default=str)


def _content_of(field_data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in field_data.items() if key != "slug"}


# --- preparing -----------------------------------------------------------------------------


@dataclass
class Prepared:
    """A validated item ready to send, with what is needed to name its errors."""

    index: int
    item: NewItem
    base_slug: str
    caller_names: dict[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The slug it will be sent with."""
        return str(self.item.field_data["slug"])


def prepare_items(
    entries: Sequence[Mapping[str, Any]],
    schema: Collection,
    mapper: FieldMapper,
    *,
    default_draft: bool,
    live: bool,
    form_name: str | None = None,
    resolve_references: ReferenceResolver | None = None,
    deferred: Iterable[str] = (),
    slug_key: SlugKey | None = None,
) -> tuple[list[Prepared], list[CreateResult]]:
    """Validate every entry ({"fieldData", "isDraft"?, "cmsLocaleIds"?}); nothing is sent here.

    With ``slug_key`` (public input), each slug ends in a short digest of the item's key, so that
    it can only ever collide with, and resolve to, an item of the same submission.
    """
    prepared: list[Prepared] = []
    failed: list[CreateResult] = []
    deferred = frozenset(deferred)
    for index, entry in enumerate(entries):
        raw = entry.get("fieldData") or {}
        try:
            field_data = mapper.prepare_item(
                raw,
                schema,
                form_name=form_name,
                resolve_references=resolve_references,
                deferred=deferred,
            )
        except FieldValidationError as exc:
            failed.append(
                CreateResult(index, "failed", error=_failure(exc.code, exc.message, exc.details))
            )
            continue
        if slug_key is not None:
            field_data["slug"] = keyed_slug(str(field_data["slug"]), slug_key(field_data))
        # Live items are published, so never drafts; otherwise isDraft is always explicit.
        requested = entry.get("isDraft")
        is_draft = False if live else (default_draft if requested is None else bool(requested))
        item = NewItem(
            field_data=field_data, is_draft=is_draft, cms_locale_ids=entry.get("cmsLocaleIds")
        )
        names = mapper.caller_names(schema, raw.keys(), form_name=form_name)
        prepared.append(Prepared(index, item, field_data["slug"], names))
    return prepared, failed


# --- sending -------------------------------------------------------------------------------


def _suffixed(base: str, number: int) -> str:
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix


def _with_slug(entry: Prepared, slug: str) -> Prepared:
    item = entry.item.model_copy(update={"field_data": {**entry.item.field_data, "slug": slug}})
    return Prepared(entry.index, item, entry.base_slug, entry.caller_names)


def _same_content(sent: NewItem, stored: Mapping[str, Any]) -> bool:
    return field_data_matches(_content_of(sent.field_data), stored)


# Who holds a slug: one owner, shared with the client's settling of lost answers.
SlugIndex = SlugHolders


@dataclass
class _Sender:
    """One create call's state: results by index and slugs claimed by its own items."""

    client: WebflowClient
    collection_id: str
    live: bool
    results: dict[int, CreateResult] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    retry_after: str | None = None

    def send(self, batch: list[Prepared]) -> list[Prepared]:
        """Create ``batch`` (the client sends 100 per request); return the items whose slug collided.

        When a request fails as a whole part-way, the items settled before it keep their results
        (created ones are reported created) and the others are reported unsent.
        """
        collided: list[Prepared] = []
        try:
            outcomes = self.client.create_items(
                self.collection_id, [entry.item for entry in batch], live=self.live
            )
            stopped: WebflowError | None = None
        except WebflowError as exc:
            outcomes, stopped = exc.partial_results, exc
        settled: set[int] = set()
        for outcome in outcomes:
            entry = batch[outcome.index]
            settled.add(outcome.index)
            if outcome.status == "created" and outcome.item is not None:
                self.results[entry.index] = CreateResult(
                    entry.index, "created", outcome.item.id, entry.slug, item=outcome.item
                )
            elif outcome.error is not None and outcome.error.code == "duplicate_slug":
                collided.append(entry)
            else:
                self.results[entry.index] = self._failed(entry, outcome.error)
        if stopped is None:
            return collided
        # Items that collided in this round were not created either.
        unsent = [entry for position, entry in enumerate(batch) if position not in settled]
        self._stop(stopped, collided + unsent)
        return []

    def resolve(self, collided: list[Prepared], index: SlugIndex) -> list[Prepared]:
        """Resolve collisions to existing items or to free suffixed slugs; return those to send.

        A look-up that fails stops the call: the collided items still without a result are
        reported unsent (what earlier rounds created stays reported).
        """
        index.remember(r.item for r in self.results.values() if r.item is not None)
        batch: list[Prepared] = []
        try:
            index.preload(len(collided))
            for entry in collided:
                index.taken(entry.slug)
                outcome = _resolve_collision(entry, index, self.claimed)
                if isinstance(outcome, CreateResult):
                    self.results[entry.index] = outcome
                else:
                    self.claimed.add(outcome.slug)
                    batch.append(outcome)
        except WebflowError as exc:
            self._stop(exc, [entry for entry in collided if entry.index not in self.results])
            return []
        return batch

    def _failed(self, entry: Prepared, error: ErrorInfo | None) -> CreateResult:
        if error is None:
            error = _failure("not_created", "Webflow did not create the item")
        details = webflow_details(error.details, lambda slug: entry.caller_names.get(slug, slug))
        error = error.model_copy(update={"details": details})
        return CreateResult(entry.index, "failed", slug=entry.slug, error=error)

    def _stop(self, exc: WebflowError, unsent: list[Prepared]) -> None:
        """A whole request failed: raise if nothing was (or may have been) written yet, else
        report the rest failed."""
        if not any(_maybe_written(result) for result in self.results.values()):
            raise exc
        problem = upstream_problem(exc)
        code = problem.code
        if isinstance(problem, Unavailable):
            self.retry_after = whole_seconds(problem.retry_after)
        logger.warning(
            "create stopped after a failed request", extra={"unsent": len(unsent), "code": code}
        )
        for entry in unsent:
            error = _failure(code, problem.message, problem.details)
            self.results[entry.index] = CreateResult(
                entry.index, "failed", slug=entry.slug, error=error
            )


def _maybe_written(result: CreateResult) -> bool:
    """True unless the item certainly was not created by this call (or found existing)."""
    return result.status != "failed" or (
        result.error is not None and result.error.code == "outcome_unknown"
    )


def _resolve_collision(
    entry: Prepared, index: SlugIndex, claimed: set[str]
) -> CreateResult | Prepared:
    """The existing item with the same content (base, -2, -3...), or the entry on a free slug."""
    for number in range(1, MAX_SUFFIX + 1):
        slug = _suffixed(entry.base_slug, number)
        if slug in claimed and slug != entry.slug:
            continue  # another item of this call holds or will hold it
        holder = index.holder(slug)
        if holder is None:
            return _with_slug(entry, slug)
        if _same_content(entry.item, holder.field_data):
            return CreateResult(entry.index, "existing", holder.id, slug, item=holder)
    error = _failure("duplicate_slug", f"No free slug for '{entry.base_slug}' up to -{MAX_SUFFIX}")
    return CreateResult(entry.index, "failed", slug=entry.slug, error=error)


def send_items(
    client: WebflowClient, collection_id: str, prepared: Sequence[Prepared], *, live: bool
) -> tuple[list[CreateResult], str | None]:
    """Create the prepared items; collisions resolve to existing items or to suffixed slugs."""
    sender = _Sender(client, collection_id, live)
    leaders: dict[tuple[str, str], int] = {}
    followers: dict[int, list[int]] = {}
    batch: list[Prepared] = []
    for entry in prepared:
        key = (entry.base_slug, content_key(entry.item.field_data))
        if key in leaders:  # the same item twice in one call: created once
            followers.setdefault(leaders[key], []).append(entry.index)
            continue
        leaders[key] = entry.index
        if entry.slug in sender.claimed:
            number = 2
            while _suffixed(entry.base_slug, number) in sender.claimed:
                number += 1
            entry = _with_slug(entry, _suffixed(entry.base_slug, number))
        sender.claimed.add(entry.slug)
        batch.append(entry)

    index = SlugIndex(client, collection_id)
    for _ in range(MAX_ROUNDS):
        collided = sender.send(batch)
        batch = sender.resolve(collided, index) if collided else []
        if not batch:
            break
    for entry in batch:
        error = _failure("duplicate_slug", f"Slug '{entry.slug}' kept colliding")
        sender.results[entry.index] = CreateResult(
            entry.index, "failed", slug=entry.slug, error=error
        )

    for leader_index, indexes in followers.items():
        leader_result = sender.results[leader_index]
        for follower in indexes:
            status: Status = "failed" if leader_result.status == "failed" else "existing"
            sender.results[follower] = CreateResult(
                follower,
                status,
                leader_result.id,
                leader_result.slug,
                leader_result.error,
                leader_result.item,
            )
    return [sender.results[i] for i in sorted(sender.results)], sender.retry_after


def create_items(
    client: WebflowClient,
    collection_id: str,
    entries: Sequence[Mapping[str, Any]],
    mapper: FieldMapper,
    *,
    default_draft: bool,
    live: bool,
    form_name: str | None = None,
    deferred: Iterable[str] = (),
    schema: Collection | None = None,
    slug_key: SlugKey | None = None,
) -> CreateOutcome:
    """Validate then create ``entries``; one result per entry, in input order.

    Raises:
        FieldValidationError: when no entry is valid (400, details named "items[i].field").
        WebflowError: when Webflow fails before anything was written.
    """
    if schema is None:
        schema = client.get_collection(collection_id)
    prepared, failed = prepare_items(
        entries,
        schema,
        mapper,
        default_draft=default_draft,
        live=live,
        form_name=form_name,
        resolve_references=ReferenceLookup(client),
        deferred=deferred,
        slug_key=slug_key,
    )
    if not prepared:
        raise _all_invalid(failed, single=len(entries) == 1)
    sent, retry_after = send_items(client, collection_id, prepared, live=live)
    results = sorted([*failed, *sent], key=lambda result: result.index)
    if mapper.unmapped == "drop":
        for result in results:
            raw = entries[result.index].get("fieldData") or {}
            result.ignored_fields = _unmapped_names(raw, schema, mapper, form_name)
    return CreateOutcome(results, retry_after)


def _unmapped_names(
    raw: Mapping[str, Any], schema: Collection, mapper: FieldMapper, form_name: str | None
) -> list[str]:
    """The caller's fields that UNMAPPED_FIELDS=drop left out: named so a typo is not silent."""
    return [
        str(name)
        for name in raw
        if mapper.target_slug(str(name), schema, form_name=form_name) is None
    ]


def create_from_request(
    client: WebflowClient, settings: CreateItemsSettings, request: CreateItemsRequest
) -> CreateOutcome:
    """Create the items of a JSON call in the collection it names (or WEBFLOW_COLLECTION_ID)."""
    collection_id = requested_collection(settings, request)
    schema = collection_schema(client, collection_id, named_by_caller=bool(request.collection_id))
    entries = [item.model_dump(by_alias=True, exclude_none=True) for item in request.items]
    return create_items(
        client,
        collection_id,
        entries,
        settings.mapper(),
        default_draft=settings.create_as_draft,
        live=settings.create_live if request.live is None else request.live,
        schema=schema,
    )


class _CallBody(Protocol):
    """What requested_collection reads of a call (a create, a sync)."""

    @property
    def collection_id(self) -> str | None: ...

    @property
    def items(self) -> Sized: ...


def requested_collection(settings: CreateItemsSettings, request: _CallBody) -> str:
    """The collection a JSON call writes to, once its size is checked.

    Raises:
        InvalidInput: too many items, or no collection named and none configured.
    """
    if len(request.items) > settings.max_items_per_call:
        limit = settings.max_items_per_call
        detail = {"field": "items", "message": f"at most {limit} items per call"}
        raise InvalidInput("too_many_items", f"At most {limit} items per call", [detail])
    collection_id = request.collection_id or settings.webflow_collection_id
    if not collection_id:
        detail = {
            "field": "collectionId",
            "message": "is required (no default collection is configured)",
        }
        raise InvalidInput("invalid_request", "collectionId is required", [detail])
    return collection_id


def _all_invalid(failed: list[CreateResult], *, single: bool) -> FieldValidationError:
    errors: list[FieldError] = []
    for result in failed:
        for detail in result.error.details if result.error else []:
            name = (
                detail["field"] if single else f"items[{result.index}].fieldData.{detail['field']}"
            )
            errors.append(FieldError(name, detail["message"]))
    return FieldValidationError(
        errors, message="No item is valid" if not single else "Some fields are invalid"
    )
