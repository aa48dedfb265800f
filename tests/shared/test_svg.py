"""SVG by allow-list: each known bypass of a deny-list is refused, and real drawings pass."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.uploads.imaging import ImageRefused, check_svg

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def svg(body: str, head: str = "") -> bytes:
    return f'{head}<svg {NS} width="10" height="10">{body}</svg>'.encode()


DRAWINGS = {
    "shapes and a gradient by fragment": svg(
        '<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient>'
        '<clipPath id="c"><rect width="5" height="5"/></clipPath></defs>'
        '<rect width="10" height="10" fill="url(#g)" clip-path="url(#c)"/>'
        '<use xlink:href="#c" transform="translate(1 1)"/>'
    ),
    "a stylesheet of local references": svg(
        "<style>.a { fill: url(#g); stroke: #000 } /* a comment */</style>"
        '<circle class="a" cx="5" cy="5" r="4" style="stroke-width: 2px"/>'
    ),
    "a raster image as data": svg(
        '<image width="1" height="1" href="data:image/png;base64,iVBORw0KGgo="/>'
    ),
    "Inkscape's RDF metadata and the XML declaration": svg(
        '<metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Logo</dc:title></rdf:RDF>'
        '</metadata><path d="M0 0L10 10" stroke="black"/>',
        head='<?xml version="1.0" encoding="UTF-8"?>',
    ),
    "Illustrator's data-name and an accessible title": svg(
        '<title id="t">Logo</title><g id="Layer_1" data-name="Layer 1" role="img" '
        'aria-labelledby="t"><rect width="4" height="4" style="fill:#0a0"/></g>'
    ),
    "a spinner": svg(
        '<circle cx="5" cy="5" r="4"><animateTransform attributeName="transform" '
        'type="rotate" from="0 5 5" to="360 5 5" dur="1s" repeatCount="indefinite"/></circle>'
    ),
}

BYPASSES = {
    # Each got past the deny-list this replaced.
    "an XSLT stylesheet instruction": (
        svg("<rect/>", head='<?xml-stylesheet type="text/xsl" href="https://x.example/t.xsl"?>'),
        "processing instruction",
    ),
    "javascript: split by a tab in <set to>": (
        svg('<a><set attributeName="href" to="java&#9;script:alert(1)"/><rect/></a>'),
        "animates href",
    ),
    "javascript: split by a newline in values": (
        svg('<rect><animate attributeName="fill" values="java&#10;script:alert(1)"/></rect>'),
        "refers to an external resource",
    ),
    "a CSS escape in url(": (
        svg("<style>rect { fill: \\75rl(https://x.example/a.png) }</style><rect/>"),
        "stylesheet names a URL scheme",
    ),
    "a CSS escape in @import": (
        svg("<style>@\\69mport 'https://x.example/a.css';</style><rect/>"),
        "imports",
    ),
    "image-set(": (
        svg("<style>rect { background: image-set('a.png' 1x) }</style><rect/>"),
        "external resource",
    ),
    "style text after a child element": (
        svg("<style><g/>@import url(https://x.example/a.css);</style>"),
        "holds elements",
    ),
    "src on an XHTML element": (
        svg('<html:img xmlns:html="http://www.w3.org/1999/xhtml" src="https://x.example/p"/>'),
        "outside the SVG namespace",
    ),
    "meta refresh": (
        svg(
            '<h:meta xmlns:h="http://www.w3.org/1999/xhtml" http-equiv="refresh" '
            'content="0;url=https://x.example"/>'
        ),
        "outside the SVG namespace",
    ),
    "srcset, poster, action as attributes": (
        svg('<image srcset="https://x.example/a.png 1x" width="1" height="1"/>'),
        "not allowed",
    ),
    "an external <use>": (svg('<use href="https://x.example/s.svg#a"/>'), "external resource"),
    "a url() in a presentation attribute": (
        svg('<rect fill="url(https://x.example/a.png)"/>'),
        "external resource",
    ),
    "an event handler in upper case": (svg('<rect ONCLICK="alert(1)"/>'), "event handler"),
    "a script in a data- attribute's clothing": (
        svg('<rect data-x="javascript:alert(1)"/>'),
        "external resource",
    ),
    "a foreign attribute": (
        svg('<rect xmlns:ev="http://www.w3.org/2001/xml-events" ev:event="click"/>'),
        "another namespace",
    ),
    "an embedded SVG": (
        svg('<image href="data:image/svg+xml;base64,PHN2Zy8+" width="1" height="1"/>'),
        "embeds another SVG",
    ),
    "not an SVG at its root": (
        b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>',
        "root element",
    ),
    "a <script> in the SVG namespace": (svg("<script>alert(1)</script>"), "<script>"),
    "an animated event handler": (
        svg('<rect><set attributeName="onclick" to="alert(1)"/></rect>'),
        "animates onclick",
    ),
    "script in <metadata>": (
        svg('<metadata><h:script xmlns:h="http://www.w3.org/1999/xhtml">x</h:script></metadata>'),
        "<metadata> holds",
    ),
}


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_a_drawing_passes(name: str) -> None:
    check_svg(DRAWINGS[name])


@pytest.mark.parametrize("name", sorted(BYPASSES))
def test_a_known_bypass_is_refused_naming_it(name: str) -> None:
    data, reason = BYPASSES[name]
    with pytest.raises(ImageRefused, match=reason):
        check_svg(data)


# --- fuzzing ---------------------------------------------------------------------------------

_SPLITTERS = st.sampled_from(["", "&#9;", "&#10;", "&#13;", " ", "&#x0;", "\u200b", "&#173;"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_are_passed_or_refused_never_crash(data: bytes) -> None:
    with contextlib.suppress(ImageRefused):
        check_svg(data)


@settings(max_examples=300, deadline=None)
@given(
    attribute=st.sampled_from(["to", "values", "from", "by", "fill", "style", "href", "class"]),
    splits=st.lists(_SPLITTERS, min_size=11, max_size=11),
    upper=st.booleans(),
)
def test_javascript_split_any_way_in_any_value_is_refused(
    attribute: str, splits: list[str], upper: bool
) -> None:
    word = "javascript:"
    spread = "".join(letter + split for letter, split in zip(word, splits, strict=True))
    if upper:
        spread = spread.upper().replace("&#X", "&#x")
    data = svg(f'<rect {attribute}="{spread}alert(1)"/>')
    with pytest.raises(ImageRefused):
        check_svg(data)
