"""SVG checked by allow-list: what may stand in an SVG that Webflow's CDN serves to visitors.

An SVG opened from its URL is a document: a script, an event handler, an XHTML element (a
``<meta http-equiv=refresh>``, an ``<iframe>``), a stylesheet or a link can act in it. So only
the elements and attributes of static SVG drawing pass, in the SVG namespace (``xlink:`` and
``xml:`` attributes aside); every attribute value is compared after the parser decoded its
entities and after white space and control characters are removed (``java&#9;script:`` is
``javascript:``); CSS (``style`` attributes and ``<style>`` text, every child's text included) is
read after its escapes are decoded (``\\75 rl(`` is ``url(``) and may refer to nothing but
fragments of the same document; references may name fragments (``#id``) or carry a raster image
as a ``data:`` URL. The XML declaration is the only processing instruction allowed; entity
declarations are refused before parsing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["SvgRefused", "check_svg_content"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ELEMENTS = frozenset(
    """
    svg g defs desc title symbol use switch view a
    path rect circle ellipse line polyline polygon image
    text tspan textPath
    linearGradient radialGradient stop pattern clipPath mask marker style
    filter feBlend feColorMatrix feComponentTransfer feComposite feConvolveMatrix
    feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood feFuncA feFuncB
    feFuncG feFuncR feGaussianBlur feImage feMerge feMergeNode feMorphology feOffset
    fePointLight feSpecularLighting feSpotLight feTile feTurbulence
    animate animateMotion animateTransform mpath set
    """.split()  # noqa: SIM905 - a list of names reads best as words
)

ATTRIBUTES = frozenset(
    """
    id class style lang tabindex href
    x y x1 y1 x2 y2 cx cy r rx ry fx fy fr width height d points pathLength transform
    viewBox preserveAspectRatio version baseProfile offset
    gradientUnits gradientTransform spreadMethod patternUnits patternContentUnits
    patternTransform clipPathUnits maskUnits maskContentUnits markerUnits markerWidth
    markerHeight refX refY orient dx dy rotate textLength lengthAdjust startOffset method
    spacing side filterUnits primitiveUnits result in in2 stdDeviation mode operator
    k1 k2 k3 k4 values type tableValues slope intercept amplitude exponent kernelMatrix
    order divisor bias targetX targetY edgeMode kernelUnitLength preserveAlpha
    surfaceScale diffuseConstant specularConstant specularExponent scale xChannelSelector
    yChannelSelector radius azimuth elevation pointsAtX pointsAtY pointsAtZ
    limitingConeAngle baseFrequency numOctaves seed stitchTiles z
    requiredExtensions requiredFeatures systemLanguage
    fill fill-opacity fill-rule stroke stroke-width stroke-linecap stroke-linejoin
    stroke-miterlimit stroke-dasharray stroke-dashoffset stroke-opacity opacity color
    clip-path clip-rule mask filter marker-start marker-mid marker-end display visibility
    font-family font-size font-weight font-style font-variant font-stretch font-size-adjust
    text-anchor text-decoration dominant-baseline alignment-baseline baseline-shift
    letter-spacing word-spacing writing-mode direction unicode-bidi stop-color stop-opacity
    flood-color flood-opacity lighting-color color-interpolation color-interpolation-filters
    color-rendering shape-rendering text-rendering image-rendering overflow vector-effect
    paint-order mix-blend-mode isolation transform-origin pointer-events enable-background
    attributeName attributeType begin dur end min max restart repeatCount repeatDur calcMode
    keyTimes keySplines keyPoints from to by additive accumulate path
    role focusable zoomAndPan white-space clip font kerning text-overflow
    """.split()  # noqa: SIM905 - a list of names reads best as words
)
# Inert in any SVG: what Illustrator (data-name) and accessibility tools (aria-*) add.
_INERT_ATTRIBUTE = re.compile(r"^(?:data|aria)-[a-z0-9][a-z0-9-]*$")
# Namespaced attributes that may stand: xlink's reference and title, xml's space and language.
FOREIGN_ATTRIBUTES = frozenset(
    {f"{{{XLINK_NS}}}href", f"{{{XLINK_NS}}}title", f"{{{XML_NS}}}space", f"{{{XML_NS}}}lang"}
)
# What an animation may not change: a reference, or anything that is not drawing.
_ANIMATED_REFUSED = re.compile(r"^(?:xlink:)?href$|^on", re.IGNORECASE)

_SCHEME = re.compile(
    r"(?<![a-z0-9+.-])(?:javascript|vbscript|livescript|data|file|https?|ftp):", re.IGNORECASE
)
# Inkscape's and Illustrator's <metadata> hold RDF: inert, and kept when nothing else is in it.
METADATA_NAMESPACES = frozenset(
    {
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "http://purl.org/dc/elements/1.1/",
        "http://purl.org/dc/terms/",
        "http://creativecommons.org/ns#",
        "http://web.resource.org/cc/",
    }
)
_RASTER_DATA = re.compile(r"^data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)
_CSS_FUNCTION = re.compile(
    r"(?:url|image-set|image|cross-fade|element|expression|src)\(", re.IGNORECASE
)
_CSS_REFUSED = re.compile(r"@import|@font-face|@namespace|-moz-binding|behavior:", re.IGNORECASE)
_CSS_LOCAL_URL = re.compile(r"url\((['\"]?)#[^'\")]*\1\)", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\u2060\ufeff]+")
_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml[ \t\r\n?])", re.IGNORECASE)
_XML_DECLARATION_LATE = re.compile(rb"(?<!^)<\?xml[ \t\r\n?]", re.IGNORECASE)


class SvgRefused(ValueError):
    """An SVG that could act when served, or is not a drawing; the message says why."""


def normalised(value: str) -> str:
    """A value as a browser reads a URL or a scheme in it: without white space, control and
    invisible characters, lowercase."""
    return _INVISIBLE.sub("", value).lower()


def css_decoded(text: str) -> str:
    """CSS text with its escapes decoded and its comments removed."""

    def decode(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
        return match.group(2)

    return re.sub(r"/\*.*?\*/", "", _CSS_ESCAPE.sub(decode, text), flags=re.DOTALL)


def check_css(text: str, where: str) -> None:
    """Refuse CSS that imports, loads or runs anything, or refers outside the document."""
    css = normalised(css_decoded(text))
    if _CSS_REFUSED.search(css):
        raise SvgRefused(f"the SVG's {where} imports or binds external content")
    if _SCHEME.search(css.replace("url(#", "")):
        raise SvgRefused(f"the SVG's {where} names a URL scheme")
    if _CSS_FUNCTION.search(_CSS_LOCAL_URL.sub("", css)):
        raise SvgRefused(f"the SVG's {where} refers to an external resource")


def _check_reference(value: str, local: str, tag: str) -> None:
    reference = normalised(value)
    if reference.startswith("#"):
        return
    if tag in ("image", "feImage") and _RASTER_DATA.match(reference):
        return
    if reference.startswith("data:image/svg"):
        raise SvgRefused("the SVG embeds another SVG")
    raise SvgRefused(f"the SVG's <{tag}> {local} refers to an external resource")


def _check_value(value: str, local: str, tag: str) -> None:
    if local == "style":
        check_css(value, f"<{tag}> style")
        return
    plain = normalised(value)
    if _SCHEME.search(plain) or _CSS_FUNCTION.search(_CSS_LOCAL_URL.sub("", plain)):
        raise SvgRefused(f"the SVG's <{tag}> {local} refers to an external resource")


def _check_element(element: Element, tag: str) -> None:
    if tag == "style":
        if len(element):
            raise SvgRefused("the SVG's <style> holds elements")
        check_css("".join(element.itertext()), "stylesheet")
    for name, value in element.attrib.items():
        if name.startswith("{"):
            if name not in FOREIGN_ATTRIBUTES:
                raise SvgRefused(f"the SVG has an attribute of another namespace ({name})")
            local = name.rsplit("}", 1)[1]
        else:
            local = name
            if local not in ATTRIBUTES and not _INERT_ATTRIBUTE.match(local):
                kind = "an event handler" if local.lower().startswith("on") else "an attribute"
                raise SvgRefused(f"the SVG has {kind} not allowed in a drawing ({local})")
        if local == "href":
            _check_reference(value, local, tag)
        elif local == "attributeName" and _ANIMATED_REFUSED.search(value.strip()):
            raise SvgRefused(f"the SVG animates {value.strip()}")
        else:
            _check_value(value, local, tag)


def check_svg_content(data: bytes) -> None:
    """Refuse an SVG holding anything but static drawing (see the module's docstring).

    Raises:
        SvgRefused: naming what was found.
    """
    import xml.etree.ElementTree as ET

    if re.search(rb"<!ENTITY|<!DOCTYPE[^>]*\[", data, re.IGNORECASE):
        raise SvgRefused("the SVG declares entities")
    if _PROCESSING_INSTRUCTION.search(data) or _XML_DECLARATION_LATE.search(data.lstrip()):
        raise SvgRefused("the SVG holds a processing instruction (a stylesheet, a transform)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SvgRefused(f"the SVG is not well-formed XML: {exc}") from None
    if _name(root) != (SVG_NS, "svg"):
        raise SvgRefused("the file's root element is not an SVG <svg>")
    stack = [root]
    while stack:
        element = stack.pop()
        namespace, tag = _name(element)
        if namespace != SVG_NS:
            raise SvgRefused(f"the SVG holds a <{tag.lower()}> element outside the SVG namespace")
        if tag == "metadata":
            _check_metadata(element)
            continue
        if tag not in ELEMENTS:
            raise SvgRefused(f"the SVG holds a <{tag.lower()}> element")
        _check_element(element, tag)
        stack.extend(element)


def _name(element: Element) -> tuple[str, str]:
    """(namespace, local name) of an element."""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _check_metadata(element: Element) -> None:
    """A <metadata> may hold RDF (Dublin Core, Creative Commons) and its text, nothing else."""
    for inner in element.iter():
        if inner is element:
            continue
        namespace, tag = _name(inner)
        if namespace not in METADATA_NAMESPACES:
            raise SvgRefused(f"the SVG's <metadata> holds a <{tag.lower()}> element")
