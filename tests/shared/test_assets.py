"""shared/uploads/assets.py: the checks made before any download, names, paths and settings."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.core.config import ConfigError, load_settings
from shared.core.filetypes import MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES, MAX_IMAGE_INPUT_BYTES
from shared.core.storage import ObjectInfo
from shared.uploads.settings import UploadSettings
from shared.uploads.targets import (
    ObjectRef,
    PermanentUploadError,
    check_object,
    matches_prefix,
    parse_target_path,
    sanitize_file_name,
    target_from_metadata,
)

ALL = frozenset(
    {
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "avif",
        "heic",
        "heif",
        "tif",
        "tiff",
        "bmp",
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "txt",
        "csv",
        "odt",
        "ods",
        "odp",
    }
)


def _info(
    name: str,
    size: int = 10,
    content_type: str | None = "image/png",
    metadata: dict[str, str] | None = None,
) -> ObjectInfo:
    return ObjectInfo(
        bucket="b",
        name=name,
        generation=1,
        metageneration=1,
        size=size,
        content_type=content_type,
        metadata=metadata or {},
    )


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("uploads/a.png", "image/png", "image/png"),
        ("uploads/a.JPG", "image/jpeg", "image/jpeg"),
        ("uploads/a.jpeg", "application/octet-stream", "image/jpeg"),
        ("uploads/a.svg", None, "image/svg+xml"),
        ("uploads/report.pdf", "application/pdf", "application/pdf"),
        ("uploads/notes.txt", "text/plain; charset=utf-8", "text/plain"),
        (
            "uploads/sheet.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ],
)
def test_accepted_files_give_the_content_type_to_upload_with(
    name: str, content_type: str | None, expected: str
) -> None:
    assert check_object(_info(name, content_type=content_type), ALL) == expected


@pytest.mark.parametrize(
    ("name", "content_type", "size", "reason"),
    [
        ("uploads/tool.exe", "application/octet-stream", 10, "extension .exe is not allowed"),
        ("uploads/README", "text/plain", 10, "no file extension"),
        ("uploads/a.png", "text/html", 10, "content type text/html does not match extension .png"),
        ("uploads/a.pdf", "image/png", 10, "does not match extension .pdf"),
        (
            "uploads/big.png",
            "image/png",
            MAX_IMAGE_INPUT_BYTES + 1,
            "over the 20 MB limit for this image type",
        ),
        ("uploads/big.svg", "image/svg+xml", MAX_IMAGE_BYTES + 1, "over the 4 MB limit"),
        (
            "uploads/big.pdf",
            "application/pdf",
            MAX_DOCUMENT_BYTES + 1,
            "over the 10 MB limit for documents",
        ),
        ("uploads/empty.png", "image/png", 0, "empty"),
    ],
)
def test_refused_files_say_why(name: str, content_type: str, size: int, reason: str) -> None:
    with pytest.raises(PermanentUploadError, match=reason):
        check_object(_info(name, size=size, content_type=content_type), ALL)


def test_size_limits_are_inclusive() -> None:
    assert check_object(_info("u/a.png", size=MAX_IMAGE_BYTES), ALL) == "image/png"
    assert check_object(
        _info("u/a.pdf", size=MAX_DOCUMENT_BYTES, content_type="application/pdf"), ALL
    )


def test_allowed_extensions_override_narrows_the_list() -> None:
    settings = load_settings(
        UploadSettings, webflow_api_token="t", upload_allowed_extensions="png, .jpg"
    )
    assert settings.file_extensions == {"png", "jpg"}
    with pytest.raises(PermanentUploadError, match="not allowed"):
        check_object(_info("u/a.gif", content_type="image/gif"), settings.file_extensions)


def test_unknown_allowed_extension_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="UPLOAD_ALLOWED_EXTENSIONS"):
        load_settings(UploadSettings, webflow_api_token="t", upload_allowed_extensions="png,exe")


def test_default_allowed_extensions_are_webflows_list_and_the_converted_images() -> None:
    allowed = load_settings(UploadSettings, webflow_api_token="t").file_extensions
    assert allowed == ALL
    assert {"heic", "heif", "tif", "tiff", "bmp", "png", "pdf"} <= allowed


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFLOW_API_TOKEN", "t")
    monkeypatch.setenv("UPLOAD_PREFIX", "uploads/, gallery/")
    monkeypatch.setenv("CREATE_ITEMS_API_KEYS", "key-one-0123456789,key-two-0123456789")
    settings = load_settings(UploadSettings)
    assert settings.prefixes == ["uploads/", "gallery/"]
    assert settings.api_keys == ["key-one-0123456789", "key-two-0123456789"]
    assert settings.max_event_age_seconds == 86_400
    assert settings.ingest_image_field == "image"
    monkeypatch.setenv("UPLOAD_API_KEYS", "own-key-0123456789")
    assert load_settings(UploadSettings).api_keys == ["own-key-0123456789"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("uploads/photo.png", "photo.png"),
        ("uploads/Été à Paris (1).JPG", "Ete-a-Paris-1.jpg"),
        ("uploads/../../etc/passwd.txt", "passwd.txt"),
        ("uploads/.png", "file.png"),
        ("uploads/" + "x" * 300 + ".jpeg", "x" * 94 + ".jpeg"),
    ],
)
def test_sanitize_file_name(name: str, expected: str) -> None:
    result = sanitize_file_name(name)
    assert result == expected
    assert len(result) < 100


def test_prefix_matching_skips_folder_placeholders() -> None:
    assert matches_prefix("uploads/a.png", ["gallery/", "uploads/"]) == "uploads/"
    assert matches_prefix("other/a.png", ["uploads/"]) is None
    assert matches_prefix("uploads/", ["uploads/"]) is None
    assert matches_prefix("anything.png", []) == ""


def test_path_names_collection_item_and_field() -> None:
    target = parse_target_path("uploads/posts/my-first-post/main-image.png", "uploads/")
    assert target is not None
    assert (target.collection, target.item_slug, target.item_id, target.field) == (
        "posts",
        "my-first-post",
        None,
        "main-image",
    )
    by_id = parse_target_path("uploads/posts/0123456789abcdef01234567/gallery.jpg", "uploads/")
    assert by_id is not None
    assert by_id.item_id == "0123456789abcdef01234567"
    assert parse_target_path("uploads/photo.png", "uploads/") is None
    assert parse_target_path("uploads/a/b/c/d.png", "uploads/") is None


def test_metadata_names_the_target_as_create_items_writes_it() -> None:
    info = _info(
        "uploads/form/abc.png",
        metadata={
            "webflow-item-id": "i1",
            "webflow-collection-id": "c1",
            "webflow-field": "photo",
            "webflow-alt": "A dog",
        },
    )
    target = target_from_metadata(info)
    assert target is not None
    assert (target.collection, target.item_id, target.field) == (
        "c1",
        "i1",
        "photo",
    )
    assert target_from_metadata(_info("uploads/x.png", metadata={"webflow-field": "photo"})) is None


def test_object_ref_from_event_data() -> None:
    ref = ObjectRef.from_event_data(
        {"bucket": "b", "name": "uploads/a.png", "generation": "123", "componentCount": 3},
        event_time="2026-01-01T00:00:00Z",
        event_id="e1",
    )
    assert (ref.generation, ref.component_count, ref.event_id) == (123, 3, "e1")
    assert ref.event_time == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(PermanentUploadError):
        ObjectRef.from_event_data({"name": "x"})
