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

SVG is different: a browser opening an SVG expands its internal entities, so a link can be spelled
in the DOCTYPE (``<!ENTITY e "https://…">``) and used as ``&e;``. ``expand_internal_entities``
expands them as the browser does, within the message's byte budget (the billion-laughs bomb is
measured before it is built, and is unscannable), and drops the internal subset; what it will not
expand (external or parameter entities, a loop, a subset expat cannot read) is unscannable, never
clean.
"""

from __future__ import annotations

import re
from xml.parsers import expat

from ..decode import codec_for
from ._out import Out
from .base import Budget, Extracted, Unscannable, extension, media_type
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


# The DOCTYPE with an internal subset: quoted strings and comments may hold "]" and ">"
_DOCTYPE_SUBSET = re.compile(
    r"""<!DOCTYPE\s+[^\s\[>]+(?:\s+(?:PUBLIC\s+(?:"[^"]*"|'[^']*')\s+|SYSTEM\s+)(?:"[^"]*"|'[^']*'))?\s*"""
    r"""\[((?:"[^"]*"|'[^']*'|<!--.*?-->|[^\]"'])*)\]\s*>""",
    re.DOTALL,
)
_ENTITY_REF = re.compile(r"&([^\s&;#<>\"']+);")
_PREDEFINED = frozenset(("amp", "lt", "gt", "quot", "apos"))
MAX_ENTITY_DEPTH = 40  # nesting of entities in entities a browser would still expand


def expand_internal_entities(markup: str, budget: Budget) -> tuple[str, Unscannable | None]:
    """The markup with its internal entities expanded and its internal subset dropped, or the markup
    unchanged and why it is unscannable. Markup without an internal subset is returned as it is."""
    if "<!ENTITY" not in markup.upper() and "<!DOCTYPE" not in markup.upper():
        return markup, None
    m = _DOCTYPE_SUBSET.search(markup)
    if m is None:
        if "<!ENTITY" in markup.upper():
            return markup, Unscannable("unsupported", "SVG declares entities nolink could not read", "")
        return markup, None
    values, why = _declared(m.group(1))
    if why:
        return markup, Unscannable("unsupported", why, "")
    rest = markup[m.end() :]
    sizes: dict[str, int] = {}
    try:
        grown = sum(_size(n, values, sizes, 0) - len(n) - 2 for n in _refs(rest, values))
    except _Entities:
        return markup, Unscannable("unsupported", "SVG entities refer to each other in a loop", "")
    if grown > 0 and not budget.take_bytes(grown):
        return markup, Unscannable("budget", "SVG entities expand beyond " + budget.bytes_note(), "")
    memo: dict[str, str] = {}
    body = _ENTITY_REF.sub(
        lambda r: _text(r.group(1), values, memo) if r.group(1) in values else r.group(0), rest
    )
    return markup[: m.start()] + body, None


def _declared(subset: str) -> tuple[dict[str, str], str]:
    """The internal general entities of a subset (name -> replacement text), or why not."""
    values: dict[str, str] = {}
    why: list[str] = []

    def decl(name: str, is_param: int, value: str | None, *_rest: object) -> None:
        if is_param:
            why.append("SVG declares parameter entities: nolink does not expand them")
        elif value is None:
            why.append("SVG declares an external entity: nolink does not fetch it")
        else:
            values.setdefault(name, value)  # the first declaration binds, as in XML

    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = decl
    parser.UnparsedEntityDeclHandler = lambda *_a: why.append("SVG declares an unparsed entity")
    parser.StartElementHandler = lambda *_a: None  # content is not read here; nothing to expand
    try:
        parser.Parse(f"<!DOCTYPE x [{subset}]><x/>".encode("utf-8", "surrogatepass"), True)
    except (expat.ExpatError, ValueError, UnicodeError):
        return {}, "SVG's DOCTYPE could not be read (expat)"
    return values, why[0] if why else ""


def _refs(text: str, values: dict[str, str]) -> list[str]:
    return [n for n in _ENTITY_REF.findall(text) if n in values]


def _size(name: str, values: dict[str, str], sizes: dict[str, int], depth: int) -> int:
    """Characters ``&name;`` expands to, counted without building it (10**9 laughs cost nothing)."""
    if name in sizes:
        if sizes[name] < 0:
            raise _Entities  # met again while being measured: a loop
        return sizes[name]
    if depth > MAX_ENTITY_DEPTH:
        raise _Entities
    sizes[name] = -1
    value = values[name]
    refs = _refs(value, values)
    total = len(value) - sum(len(n) + 2 for n in refs) + sum(_size(n, values, sizes, depth + 1) for n in refs)
    sizes[name] = total
    return total


def _text(name: str, values: dict[str, str], memo: dict[str, str]) -> str:
    """The replacement text of an entity measured by _size (so finite and within the budget)."""
    if name not in memo:
        memo[name] = _ENTITY_REF.sub(
            lambda r: _text(r.group(1), values, memo) if r.group(1) in values else r.group(0), values[name]
        )
    return memo[name]
