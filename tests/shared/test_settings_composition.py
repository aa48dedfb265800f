"""Settings composed from small classes: each function reads the variables of the classes it is
made of, and the checks that span two classes name their variable whatever the composition."""

from __future__ import annotations

import pytest

from shared.cms.publishing import PublishSettings
from shared.cms.settings import MappingSettings, PublicFieldSettings
from shared.cms.updates import UpdateItemsSettings
from shared.core.config import ConfigError, FileSettings, FunctionSettings, load_settings
from shared.intake.drain import DrainSettings
from shared.intake.settings import CreateItemsSettings, IntakeSettings
from shared.uploads.assets import UploadSettings
from shared.web.settings import FormPostSettings, FormSettings, SpamSettings
from shared.webflow.settings import WebflowSettings

TOKEN = "token-0123456789abcdef"
PARTS: list[type[FunctionSettings]] = [
    MappingSettings,
    PublicFieldSettings,
    FileSettings,
    FormSettings,
    SpamSettings,
    IntakeSettings,
]


def _read(cls: type[WebflowSettings]) -> set[str]:
    return set(cls.model_fields)


def _own(cls: type[WebflowSettings]) -> set[str]:
    return _read(cls) - _read(FunctionSettings)


@pytest.mark.parametrize("part", PARTS, ids=lambda cls: cls.__name__)
def test_each_small_class_loads_on_its_own(part: type[FunctionSettings]) -> None:
    settings = load_settings(part, webflow_api_token=TOKEN)
    assert settings.webflow_api_token.get_secret_value() == TOKEN


def test_create_items_reads_the_variables_of_its_parts_and_its_keys() -> None:
    parts = set().union(*(_read(part) for part in PARTS))
    assert _read(CreateItemsSettings) == parts | {"create_items_api_keys", "sync_api_keys"}


def test_the_drain_reads_no_form_spam_or_browser_settings() -> None:
    read = _read(DrainSettings)
    assert _own(IntakeSettings) | _own(PublicFieldSettings) | _own(FileSettings) <= read
    assert not read & (_own(SpamSettings) | _own(FormSettings))


def test_the_other_functions_read_nothing_of_forms_or_the_intake() -> None:
    public = _own(PublicFieldSettings) - _own(MappingSettings)
    forms = _own(FormSettings) | public | _own(SpamSettings) | _own(IntakeSettings)
    for cls in (UpdateItemsSettings, PublishSettings, UploadSettings, MappingSettings):
        shared_names = _read(cls) & forms
        # UPLOAD_BUCKET and the extensions are upload-asset's own variables, read by forms too.
        assert shared_names <= {"upload_bucket", "upload_prefix", "upload_allowed_extensions"}, (
            cls.__name__
        )


@pytest.mark.parametrize("cls", [FormPostSettings, CreateItemsSettings], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("variable", "value"),
    [("allowed_origins", "https://example.com"), ("form_error_url", "https://example.com/e")],
)
def test_a_public_path_without_form_fields_is_refused_naming_form_fields(
    cls: type[FunctionSettings], variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=f"^FORM_FIELDS: is required with {variable.upper()}"):
        load_settings(cls, webflow_api_token=TOKEN, upload_bucket="b", **{variable: value})

    settings = load_settings(
        cls, webflow_api_token=TOKEN, upload_bucket="b", form_fields="name", **{variable: value}
    )
    assert isinstance(settings, PublicFieldSettings)
    assert settings.public_fields() == frozenset({"name"})


def test_a_queue_without_a_bucket_is_refused_naming_form_intake() -> None:
    with pytest.raises(ConfigError, match="^FORM_INTAKE: queue .* INTAKE_BUCKET"):
        load_settings(CreateItemsSettings, webflow_api_token=TOKEN, form_fields="name")

    settings = load_settings(
        CreateItemsSettings, webflow_api_token=TOKEN, form_fields="name", form_intake="sync"
    )
    assert settings.form_intake == "sync"


def test_a_captcha_without_its_secret_is_refused_naming_the_secret() -> None:
    with pytest.raises(ConfigError, match="^FORM_CAPTCHA_SECRET: is required with FORM_CAPTCHA"):
        load_settings(SpamSettings, webflow_api_token=TOKEN, form_captcha="turnstile")


def test_the_captcha_s_hostnames_default_to_those_of_the_allowed_origins() -> None:
    settings = load_settings(
        CreateItemsSettings,
        webflow_api_token=TOKEN,
        form_fields="name",
        form_intake="sync",
        allowed_origins="https://www.example.com,https://shop.example.com:8443",
        form_captcha="turnstile",
        form_captcha_secret="captcha-secret-0123",
    )
    captcha = settings.captcha()
    assert captcha is not None
    assert captcha.hostnames == {"www.example.com", "shop.example.com"}
    alone = load_settings(
        SpamSettings,
        webflow_api_token=TOKEN,
        form_captcha="turnstile",
        form_captcha_secret="captcha-secret-0123",
    ).captcha()
    assert alone is not None
    assert alone.hostnames == frozenset()
