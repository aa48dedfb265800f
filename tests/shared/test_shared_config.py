"""Unit tests of shared.core.config."""

from __future__ import annotations

from operator import attrgetter

import pytest

from shared.core.config import (
    MIN_API_KEY_LENGTH,
    ConfigError,
    FunctionSettings,
    WebflowSettings,
    load_settings,
    split_list,
)

TOKEN = "tok-abcdef0123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "WEBFLOW_API_TOKEN",
        "WEBFLOW_API_BASE_URL",
        "WEBFLOW_SITE_ID",
        "WEBFLOW_COLLECTION_ID",
        "WEBFLOW_RATE_LIMIT_PER_MINUTE",
        "WEBFLOW_TIMEOUT_SECONDS",
        "WEBFLOW_MAX_RETRY_SECONDS",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_reads_environment_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("webflow_api_token", TOKEN)
    monkeypatch.setenv("WEBFLOW_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("WEBFLOW_SITE_ID", "site1")

    settings = load_settings(WebflowSettings)

    assert settings.webflow_api_token.get_secret_value() == TOKEN
    assert settings.webflow_rate_limit_per_minute == 120
    assert settings.webflow_site_id == "site1"
    assert settings.webflow_api_base_url == "https://api.webflow.com/v2"
    assert settings.webflow_max_retry_seconds == 40


def test_missing_token_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(WebflowSettings)

    assert str(info.value) == "WEBFLOW_API_TOKEN is required"


def test_blank_token_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", "   ")

    with pytest.raises(ConfigError, match="WEBFLOW_API_TOKEN is required"):
        load_settings(WebflowSettings)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_rate_limit_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)
    monkeypatch.setenv("WEBFLOW_RATE_LIMIT_PER_MINUTE", value)

    with pytest.raises(ConfigError) as info:
        load_settings(WebflowSettings)

    assert str(info.value) == "WEBFLOW_RATE_LIMIT_PER_MINUTE: must be a positive integer"


def test_malformed_value_never_echoes_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)
    monkeypatch.setenv("WEBFLOW_TIMEOUT_SECONDS", "soon")

    with pytest.raises(ConfigError) as info:
        load_settings(WebflowSettings)

    assert "WEBFLOW_TIMEOUT_SECONDS" in str(info.value)
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            WebflowSettings,
            webflow_api_token=TOKEN,
            webflow_api_base_url="https://user:s3cr3t-pass@api.webflow.com/v2",
        )
    assert str(raised.value).startswith("WEBFLOW_API_BASE_URL: must not carry credentials")
    assert "s3cr3t-pass" not in str(raised.value)


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)
    monkeypatch.setenv("WEBFLOW_API_BASE_URL", "http://env.example/v2")

    settings = load_settings(WebflowSettings, webflow_api_base_url="http://127.0.0.1:9/v2/")

    assert settings.webflow_api_base_url == "http://127.0.0.1:9/v2"


def test_token_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)

    settings = load_settings(WebflowSettings)

    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


def test_subclass_adds_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    class FeatureSettings(WebflowSettings):
        feature_limit: int = 3

    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)
    monkeypatch.setenv("FEATURE_LIMIT", "x")

    with pytest.raises(ConfigError, match="^FEATURE_LIMIT: must be an integer$"):
        load_settings(FeatureSettings)


def test_several_errors_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "loud")

    with pytest.raises(ConfigError) as info:
        load_settings(FunctionSettings)

    assert "WEBFLOW_API_TOKEN is required" in str(info.value)
    assert "LOG_LEVEL" in str(info.value)


def test_split_list_parses_comma_separated_strings() -> None:
    assert split_list(" a, b ,,c ") == ["a", "b", "c"]
    assert split_list(None) == []
    assert split_list(["x", " y "]) == ["x", "y"]


def test_every_secret_of_the_settings_is_masked_in_logs_once_loaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pydantic import SecretStr

    from shared.core.log import clear_secrets, get_logger

    class KeyedSettings(FunctionSettings):
        service_api_keys: SecretStr | None = None

    clear_secrets()
    load_settings(
        KeyedSettings,
        webflow_api_token=TOKEN,
        service_api_keys="key-one-0123456789,key-two-0123456789",
    )

    get_logger("test").warning("seen %s and %s", TOKEN, "key-two-0123456789")

    line = capsys.readouterr().out
    assert TOKEN not in line
    assert "key-two-0123456789" not in line
    assert line.count("[REDACTED]") == 2
    clear_secrets()


@pytest.mark.parametrize(("level", "shown"), [("ERROR", False), ("DEBUG", True)])
def test_log_level_sets_the_level_of_the_functions_logs(
    level: str, shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.core.log import configure, get_logger

    try:
        load_settings(FunctionSettings, webflow_api_token=TOKEN, log_level=level.lower())
        get_logger("test").debug("debug line")
        get_logger("test").info("info line")
        out = capsys.readouterr().out
    finally:
        configure("INFO")
    assert ("debug line" in out) is shown
    assert ("info line" in out) is shown


# --- API key length ------------------------------------------------------------------------


def _function_settings() -> list[tuple[type[WebflowSettings], str]]:
    from shared.cms.publishing import PublishSettings
    from shared.cms.updates import UpdateItemsSettings
    from shared.intake.settings import CreateItemsSettings
    from shared.uploads.assets import UploadSettings

    return [
        (CreateItemsSettings, "create_items_api_keys"),
        (UpdateItemsSettings, "update_items_api_keys"),
        (UpdateItemsSettings, "create_items_api_keys"),
        (PublishSettings, "publish_api_keys"),
        (PublishSettings, "create_items_api_keys"),
        (UploadSettings, "upload_api_keys"),
        (UploadSettings, "create_items_api_keys"),
    ]


@pytest.mark.parametrize(("settings_class", "field"), _function_settings())
def test_an_api_key_shorter_than_16_characters_is_refused_naming_the_variable(
    settings_class: type[WebflowSettings], field: str
) -> None:
    keys = {field: "long-enough-key-0123,fifteen-chars-x"}
    with pytest.raises(ConfigError) as raised:
        load_settings(settings_class, webflow_api_token=TOKEN, webflow_collection_id="c1", **keys)
    assert str(raised.value) == (
        f"{field.upper()}: each key must be at least {MIN_API_KEY_LENGTH} characters"
    )
    assert "fifteen-chars-x" not in str(raised.value)


@pytest.mark.parametrize(("settings_class", "field"), _function_settings())
def test_api_keys_of_16_characters_are_accepted(
    settings_class: type[WebflowSettings], field: str
) -> None:
    keys = {field: "sixteen-chars-xy, another-key-0123"}
    settings = load_settings(
        settings_class, webflow_api_token=TOKEN, webflow_collection_id="c1", **keys
    )
    assert getattr(settings, field).get_secret_value() == keys[field]


@pytest.mark.parametrize(
    "settings_class", sorted({cls for cls, _ in _function_settings()}, key=attrgetter("__name__"))
)
def test_every_functions_settings_strip_webflow_ids_and_read_blank_as_unset(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[WebflowSettings]
) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", TOKEN)
    monkeypatch.setenv("WEBFLOW_SITE_ID", "   ")
    monkeypatch.setenv("WEBFLOW_COLLECTION_ID", "  c1 ")

    settings = load_settings(settings_class)

    assert settings.webflow_site_id is None
    assert settings.webflow_collection_id == "c1"


_OWN_KEYS = [
    (cls, field) for cls, field in _function_settings()[1:] if field != "create_items_api_keys"
]


@pytest.mark.parametrize(("settings_class", "own"), _OWN_KEYS)
def test_create_items_keys_stand_in_for_a_function_s_own_only_in_a_local_run(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[WebflowSettings], own: str
) -> None:
    create_key = "create-key-0123456789"
    monkeypatch.delenv("K_SERVICE", raising=False)
    local = load_settings(
        settings_class,
        webflow_api_token=TOKEN,
        webflow_collection_id="c1",
        create_items_api_keys=create_key,
    )
    assert local.api_keys == [create_key]  # type: ignore[attr-defined]

    # Cloud Run names the service in K_SERVICE: deployed, a create key opens nothing else
    monkeypatch.setenv("K_SERVICE", "webflow-update-items")
    assert local.api_keys == []  # type: ignore[attr-defined]
    deployed = load_settings(
        settings_class,
        webflow_api_token=TOKEN,
        webflow_collection_id="c1",
        create_items_api_keys=create_key,
        **{own: "own-key-0123456789ab"},
    )
    assert deployed.api_keys == ["own-key-0123456789ab"]  # type: ignore[attr-defined]
