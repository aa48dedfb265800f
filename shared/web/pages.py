"""The small HTML pages a browser gets from a form post when the site named no page of its own.

Dependency-free, self-contained (inline style, no script, no external resource) and accessible: a
language, a title, one heading, errors in a list announced as an alert, a link back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["error_page", "thank_you_page"]

# Nothing is loaded, run or framed: the page is inert whatever a value in it says.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_STYLE = (
    "body{font:1.05rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1b1b1b;background:#fafafa}"
    "main{max-width:36rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:.5rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.6rem;margin-top:0}"
    "a{color:#0b57d0}a:focus{outline:3px solid #0b57d0;outline-offset:2px}"
    ".problems{border-left:4px solid #b3261e;padding-left:1rem}"
    "@media (prefers-color-scheme:dark){body{background:#121212;color:#eee}"
    "main{background:#1e1e1e}a{color:#8ab4f8}}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _back_link(back_url: str | None, text: str) -> str:
    if not back_url:
        return ""
    return f'<p><a href="{escape(back_url, quote=True)}">{escape(text)}</a></p>'


def thank_you_page(back_url: str | None, *, file_not_stored: bool = False) -> str:
    """The page after a successful post: a thank you, and a link back to the form's page."""
    notes = ["<p>Your submission was received.</p>"]
    if file_not_stored:
        notes.append(
            '<p role="status">A file you attached could not be saved; '
            "please send it again later.</p>"
        )
    body = (
        "<h1>Thank you</h1>\n"
        + "\n".join(notes)
        + "\n"
        + _back_link(back_url, "Back to the page you came from")
    )
    return _page("Thank you", body)


def error_page(message: str, details: Sequence[Mapping[str, Any]], back_url: str | None) -> str:
    """The page after a refused post: what went wrong, field by field, in words."""
    items = [
        f"<li><strong>{escape(str(detail.get('field') or 'Form'))}</strong>: "
        f"{escape(str(detail.get('message') or 'is invalid'))}</li>"
        for detail in details
    ]
    listing = f"<ul>\n{''.join(items)}\n</ul>" if items else ""
    body = (
        "<h1>Your submission was not sent</h1>\n"
        f'<div class="problems" role="alert">\n<p>{escape(message)}</p>\n{listing}\n</div>\n'
        + _back_link(back_url, "Go back to the form and try again")
    )
    return _page("Your submission was not sent", body)
