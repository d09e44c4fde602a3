"""XML read as XML (``.xml``, ``.fodt`` and the other flat ODF files, RSS, text/xml parts).

Namespace names (``xmlns="http://…"``, ``xmlns:x=``), schema locations (``xsi:schemaLocation``,
``targetNamespace``) and DOCTYPE public/system ids are identifiers a parser reads, not links a
citizen follows: they are skipped. What a reader sees or a program follows is searched: element
text (CDATA too), href-like attributes (``href``, ``xlink:href``, ``src``, ``url`` … as targets),
every other attribute value and processing instructions (``<?xml-stylesheet href=…?>``) as text.
Comments are not searched, as in HTML.

Parsed with expat, defused: no external entity or DTD is ever fetched, and a document that
declares entities is not expanded at all (the billion-laughs bomb and its kin); it is unscannable
("unsupported"), and its bytes are still searched as text. A document that is not well-formed
returns None: the caller searches it as plain text, as before.
"""

from __future__ import annotations

import re
from xml.parsers import expat

from ..decode import codec_for
from ._out import Out
from .base import Extracted, extension, media_type
from .office import _INLINE, target

XML_EXTENSIONS = frozenset(
    [
        "xml",
        "rss",
        "atom",
        "rdf",
        "fodt",
        "fods",
        "fodp",
        "fodg",
        "xsd",
        "xsl",
        "xslt",
        "kml",
        "gpx",
        "plist",
        "xlf",
        "xliff",
        "resx",
        "wsdl",
        "opf",
        "xaml",
    ]
)
# Attributes that name a namespace or a schema: identifiers, never links
_IDENTIFIER_ATTRS = frozenset(("schemalocation", "nonamespaceschemalocation", "targetnamespace", "namespace"))
# Attributes whose value is a target the program opens
_TARGET_ATTRS = frozenset(("href", "src", "url", "uri", "link", "dest", "action", "background", "source"))
_INLINE_NAMES = frozenset(x.decode() for x in _INLINE)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_ENCODING_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([^"']{1,40})(["'])""")


class _Entities(Exception):
    """The document declares entities: nolink does not expand them."""


def is_xml(data: bytes, declared: str, name: str) -> bool:
    """XML by its declared type, its name, or (unless declared text/plain) its XML declaration."""
    ctype = media_type(declared)
    if ctype.endswith(("/xml", "+xml")) or extension(name) in XML_EXTENSIONS:
        return True
    if ctype == "text/plain":  # shown as text by the mail client: a client linkifies what it shows
        return False
    head = data[:64]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    head = head.replace(b"\x00", b"").lstrip(b" \t\r\n")
    return head.startswith(b"<?xml")


def read(data: bytes) -> Extracted | None:
    """The pieces of a well-formed XML document, or None when it is not well-formed."""
    try:
        return _read(data)
    except LookupError:  # an encoding expat does not know (windows-874, TIS-620 under some names)
        again = _as_utf8(data)
        if again is None:
            return None
        try:
            return _read(again)
        except LookupError:
            return None


def _as_utf8(data: bytes) -> bytes | None:
    """The document re-encoded as UTF-8 (its declaration saying so), when Python knows its charset."""
    m = _ENCODING_DECL.match(data)
    codec = codec_for(m.group(2).decode("ascii", "replace")) if m else ""
    if not m or not codec:
        return None
    text = data[m.end() :].decode(codec, "replace").encode("utf-8")
    return m.group(1) + b"utf-8" + m.group(3) + text


def _read(data: bytes) -> Extracted | None:
    out = Out()
    text: list[str] = []
    attrs: list[str] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag not in _INLINE_NAMES:
            text.append(" ")
        for key, value in attributes.items():
            low = key.lower()
            local = low.rsplit(":", 1)[-1]
            if low == "xmlns" or low.startswith("xmlns:") or local in _IDENTIFIER_ATTRS:
                continue
            if local in _TARGET_ATTRS:
                target(value, out, f"{tag} {key}")
            else:
                attrs.append(value)

    def end(tag: str) -> None:
        if tag not in _INLINE_NAMES:
            text.append("\n")

    def entity(*_args: object) -> None:
        raise _Entities

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)  # no external DTD read
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.ProcessingInstructionHandler = lambda _target, pi: attrs.append(pi)
    parser.EntityDeclHandler = entity  # defused: any entity declaration stops the parse
    parser.UnparsedEntityDeclHandler = entity
    # ExternalEntityRefHandler is left unset: expat then never loads an external entity
    try:
        parser.Parse(data, True)
    except _Entities:
        out = Out()
        out.cannot(
            "unsupported",
            "XML that declares entities (a DTD) is not expanded by nolink: it could hide a link or "
            "be an XML bomb",
            "",
        )
        return out.done()  # the caller still searches the bytes as text
    except (expat.ExpatError, ValueError, UnicodeError):
        return None
    out.text("".join(text), "")
    out.text("\n".join(attrs), "attributes")
    return out.done()
