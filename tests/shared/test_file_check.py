"""check_file: the one check a file passes before it may become an asset, on every path."""

from __future__ import annotations

import pytest

from shared.core.filetypes import MAX_IMAGE_BYTES, FileProblem, check_file

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
JPEG_HEAD = b"\xff\xd8\xff\xe0" + b"\0" * 8
ALLOWED = ("png", "jpg", "svg", "pdf")


@pytest.mark.parametrize(
    ("extension", "content_type", "size", "options", "kind"),
    [
        ("exe", "", 10, {}, "extension"),
        ("svg", "image/svg+xml", 10, {"allow_svg": False}, "svg"),
        ("png", "application/pdf", 10, {}, "content_type"),
        ("svg", "image/svg+xml", MAX_IMAGE_BYTES + 1, {}, "size"),
        ("png", "image/png", 5_000, {"image_input_bytes": 4_999}, "size"),
        ("pdf", "application/pdf", 0, {}, "empty"),
        ("png", "image/png", 10, {"head": JPEG_HEAD}, "content"),
    ],
)
def test_each_problem_is_named_with_what_the_caller_needs_to_say_it(
    extension: str, content_type: str, size: int, options: dict[str, object], kind: str
) -> None:
    problem = check_file(extension, content_type, size, ALLOWED, **options)  # type: ignore[arg-type]  # options hold the keywords' own types

    assert problem is not None
    assert problem.kind == kind
    assert problem.extension == extension
    if kind == "size":
        expected = size - 1 if "image_input_bytes" in options else MAX_IMAGE_BYTES
        assert problem.limit == expected
    if kind == "content":
        assert problem.detail == "the content is JPEG data, not the .png its name says"


def test_a_good_file_passes_and_an_untyped_upload_is_taken_by_its_extension() -> None:
    assert check_file("png", "image/png", 10, ALLOWED, head=PNG_HEAD) is None
    assert check_file("png", "application/octet-stream", 10, ALLOWED) is None
    assert check_file("pdf", "", 10, ALLOWED) is None


def test_the_first_problem_is_the_one_reported() -> None:
    # Not allowed, and empty, and of another type: the extension is what the caller must fix.
    assert check_file("exe", "image/png", 0, ALLOWED) == FileProblem("extension", "exe")
