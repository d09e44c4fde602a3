"""The text of an HTML part as a mail client draws it (what the citizen reads, not the source).

The source text of ``www.dla<span style="display:none">zq9x</span>.go.th`` is a broken host; the
citizen reads ``www.dla.go.th``. This module finds the elements that draw other than their source
says, walks the blocks around them in the tree already parsed, and keeps only the text a client
draws there (elsewhere the drawn text is the source text):

- left out: ``display:none``, ``visibility:hidden`` (a child may say ``visible`` again),
  ``font-size:0`` (and ``font: 0/0``, sizes of 1px or less), ``opacity`` below 0.1,
  ``max-height``/``height``/``max-width``/``width`` 0 with ``overflow:hidden`` or ``clip``,
  ``mso-hide:all`` (Outlook), the ``hidden`` attribute, ``<template>``, ``<script>``, ``<style>``,
  ``<head>``, and text coloured like its background (``color`` against the ``background-color``,
  ``background`` or ``bgcolor`` of itself or its nearest ancestor that has one; white when none
  has; a background image makes the colour unknown, so the text counts as drawn);
- turned: ``<bdo dir="rtl">`` and ``unicode-bidi: bidi-override`` (or ``isolate-override``) with
  ``direction: rtl`` draw their characters right to left;
- put in: CSS generated content, ``::before`` and ``::after`` with ``content: "..."`` or
  ``attr(name)``.

The rules come from ``style`` attributes and from ``<style>`` blocks (any selector Lexbor can
match: class, id, tag, attribute, descendant and child combinators, ``:not()``, ``:nth-child()``;
rules under ``:hover``/``:focus`` and other states a letter is not in at rest are left out, and so
are ``@media`` blocks with a feature query such as ``(max-width: 600px)``; ``@media screen`` and
``@supports`` blocks apply). Cascade: specificity, then order, ``!important`` and the style
attribute as CSS orders them.

Library choice: the tree is the one selectolax (Lexbor, C) already built for the link finder, and
Lexbor matches each selector over it in C (about 40 ns per element), so no second parser or tree
is needed; cssselect2 would match in Python over an ElementTree we do not have, and css-inline
would parse the document again (html5ever) and write it out for a third parse. The stylesheet text
is cut into rules and declarations by tinycss2 (CSS Syntax Level 3: comments, strings, escapes and
nested blocks as a browser reads them; pure Python, 0.3-1 MB/s), and colours are read by its
``color3`` module.

Bounded work: the pass runs only when the markup has a style, ``hidden``, ``<bdo>`` or colour
construct (Hints, gathered by the link finder's own walk); stylesheets longer than
MAX_SHEET_CHARS are not applied, selector matching stops after MAX_MATCH_WORK element checks, and
the pass gives up past its time limit or when more than MAX_ELEMENTS elements are styled (render
returns None). Whatever is not applied counts as drawn, and the source text is searched in any
case: never less than without this pass.

What it does not do: external stylesheets (``<link rel=stylesheet>``: a mail client does not load
them either, mostly), JavaScript, layout (text pushed off-screen by ``position`` or
``text-indent``, clipped by ``clip-path``, covered by another box, or scaled to nothing by
``transform``), ``@media`` feature queries, and the Unicode bidi algorithm for text without an
override (``dir="rtl"`` alone does not turn Latin letters).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import tinycss2
import tinycss2.color3
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

MARK = "\ue000"  # where the rendered text differs from the source (a private-use character)
MAX_SHEET_CHARS = 32_000  # of <style> text per document (tinycss2: 30-100 ms for this much)
MAX_MATCH_WORK = 4_000_000  # selectors run x elements (Lexbor: ~40 ns each, so ~0.16 s)
MAX_SECONDS = 0.1  # for the whole pass of one document (then: the source text only)
MAX_COMPLEX_INLINE = 2_000  # distinct style attributes with strings, escapes or comments (tinycss2)
MAX_ELEMENTS = 10_000  # styled elements (inline or matched by a rule); a newsletter has < 2,000
MAX_RULE_DEPTH = 3  # @media/@supports nesting followed
WINDOW = 2_000  # characters searched either side of a difference, at most

# declarations that can hide, turn or add text (anything else in a stylesheet is not applied)
_RELEVANT = re.compile(
    r"display|visibility|font-size|font\s*+:|opacity|height|width|overflow|color|background|direction"
    r"|unicode-bidi"
    r"|mso-hide|content|\\",
    re.I,
)
PROPS = frozenset(
    (
        "display",
        "visibility",
        "font-size",
        "font",
        "opacity",
        "max-height",
        "height",
        "max-width",
        "width",
        "overflow",
        "overflow-x",
        "overflow-y",
        "color",
        "background-color",
        "background",
        "background-image",
        "direction",
        "unicode-bidi",
        "mso-hide",
        "content",
    )
)
_SPECIAL_ATTRS = frozenset(("hidden", "dir", "color", "bgcolor"))
SILENT = frozenset(("script", "style", "template", "head", "title", "noframes"))  # never drawn
_INLINE_DISPLAY = ("inline", "contents", "ruby")
_DYNAMIC = re.compile(
    r":(?:hover|active|focus|focus-within|focus-visible|visited|target|checked|indeterminate"
    r"|placeholder-shown|autofill|user-invalid)\b",
    re.I,
)
_PSEUDO = re.compile(r"::?(before|after)\s*$", re.I)
_OTHER_PSEUDO_ELEMENT = re.compile(r"::|:(?:first-line|first-letter)\b", re.I)
_LAST_COMPOUND = re.compile(r"[\s>+~]+")
_NAMES = re.compile(r"[.#]([\w-]+)")
_CLASS_ID = re.compile(r"""\s(?:class|id)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s"'=<>`]++))""", re.I)
_SPEC_ID = re.compile(r"#[\w-]")
_SPEC_CLASS = re.compile(r"\.[\w-]|\[|:(?!:)(?!not\b|is\b|where\b)[\w-]")
_SPEC_TYPE = re.compile(r"(?:^|[\s>+~(,])[A-Za-z][\w-]*")
_IMPORTANT = re.compile(r"!\s*important\s*$", re.I)
_ZERO = re.compile(r"^[+-]?(?:0*\.?0+|0+\.)(?:[a-z%]*)$")
_SIZE = re.compile(r"^[+-]?(\d*\.?\d+)([a-z%]*)$")
_ABSOLUTE = frozenset(("px", "pt", "pc", "cm", "mm", "in", "q", "rem", "vw", "vh", "vmin", "vmax"))
_FONT_KEYWORDS = frozenset(("xx-small", "x-small", "small", "medium", "large", "x-large", "xx-large"))
_HEX = re.compile(r"^[0-9a-f]{3}(?:[0-9a-f]{3})?$", re.I)

RGB = tuple[float, float, float]
UNKNOWN: RGB = (-1.0, -1.0, -1.0)  # a background image: the colour under the text is not known
WHITE: RGB = (1.0, 1.0, 1.0)
BLACK: RGB = (0.0, 0.0, 0.0)
Decls = tuple[tuple[str, str, bool, Any], ...]  # (property, value lower-cased, important, tokens)


@dataclass(frozen=True, slots=True)
class Rendered:
    """The drawn text and the pieces of it worth searching (those around a difference from the
    source text: elsewhere the source text says the same). ``text`` has no MARK characters."""

    text: str
    spans: tuple[tuple[int, int], ...]

    def windows(self) -> tuple[str, list[int]]:
        """The spans joined by blank lines, and where each starts in ``text`` (for offsets)."""
        parts: list[str] = []
        starts: list[int] = []
        for a, b in self.spans:
            starts.append(a)
            parts.append(self.text[a:b])
        return "\n\n\n".join(parts), starts


HINT_ATTRS = frozenset(("hidden", "bgcolor", "color"))


@dataclass(slots=True)
class Hints:
    """What the link finder's own walk saw that can make the drawn text differ from the source:
    the distinct style attribute values, a <style> element, and hidden/bgcolor/color attributes
    or a <bdo> (special). Gathered on the way (one set insert per styled element), so that a
    plain letter, and a newsletter whose styles hide nothing, pay no pass of their own."""

    styles: set[str] = field(default_factory=set)
    sheet: bool = False
    special: bool = False
    elements: int = 0  # elements with a style, hidden/bgcolor/color attribute, or <bdo>

    def any(self) -> bool:
        return self.sheet or self.special or bool(self.styles)


def _same_colour(a: RGB, b: RGB) -> bool:
    if b is UNKNOWN:
        return False
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) <= 0.05  # 12 of 765 steps


class _State:
    """What an element passes to its children (shared while nothing changes)."""

    __slots__ = ("bg", "color", "font_zero", "invisible", "rev", "skip", "vis_hidden")

    def __init__(
        self, skip: bool, vis_hidden: bool, font_zero: bool, color: RGB | None, bg: RGB, rev: bool
    ) -> None:
        self.skip = skip
        self.vis_hidden = vis_hidden
        self.font_zero = font_zero
        self.color = color  # None: transparent
        self.bg = bg
        self.rev = rev
        self.invisible = skip or vis_hidden or font_zero or color is None or _same_colour(color, bg)


ROOT = _State(False, False, False, BLACK, WHITE, False)
SKIPPED = _State(True, False, False, BLACK, WHITE, False)


class _Sheet:
    """The <style> rules matched to the elements: mem_id -> [(specificity, order, decls)]."""

    __slots__ = ("after", "before", "nodes", "rules")

    def __init__(self) -> None:
        self.nodes: dict[int, LexborNode] = {}  # every element a rule matched
        self.rules: dict[int, list[tuple[tuple[int, int, int], int, Decls]]] = {}
        self.before: dict[int, list[tuple[tuple[int, int, int], int, Decls]]] = {}
        self.after: dict[int, list[tuple[tuple[int, int, int], int, Decls]]] = {}


class _TooMuch(Exception):
    """The pass went over one of its bounds."""


def render(
    tree: LexborHTMLParser,
    html: str,
    block_tags: frozenset[str],
    hints: Hints,
    deadline: float | None = None,
) -> Rendered | None:
    """The drawn text around every element that draws other than its source (a hidden, turned or
    generated piece, with the blocks around it), or None when the work went over its bounds.

    Only those neighbourhoods are walked: elsewhere the drawn text is the source text, which the
    caller searches anyway (a newsletter whose only hidden piece is its preheader walks one cell).
    """
    if not hints.any():
        return Rendered("", ())
    if hints.elements > MAX_ELEMENTS:
        return None  # judging each would take longer than the bound: the source text only
    end = time.monotonic() + MAX_SECONDS
    if deadline is not None:
        end = min(end, deadline)
        if time.monotonic() > end:
            return None  # the message's time is up: the source text only
    try:
        sheet = _sheet(tree, html, end)
        ctx = _Context()
        body = tree.body or tree.root
        if body is None:
            return Rendered("", ())
        if not sheet.nodes and not hints.special and _alike(hints.styles, ctx):
            return Rendered("", ())
        found = _effects(tree, sheet, ctx, block_tags, end)
        if not found:
            return Rendered("", ())
        roots = _contexts(found, body, block_tags)
        pieces = []
        for root in roots:
            top = _state_above(root, body, sheet, ctx, block_tags)
            if not top.skip:
                pieces.append(_walk(root, top, sheet, ctx, block_tags, end))
        return _finish("\n\n\n".join(pieces))
    except _TooMuch:
        return None


# -- the stylesheet ------------------------------------------------------------------------------


def _sheet(tree: LexborHTMLParser, html: str, end: float) -> _Sheet:
    sheet = _Sheet()
    css = "\n".join(n.text() for n in tree.css("style"))
    if not css or len(css) > MAX_SHEET_CHARS or not _RELEVANT.search(css):
        return sheet  # none, or too long to read within the bounds: not applied (counts as drawn)
    names: dict[str, int] | None = None
    names_read = False
    elements = html.count("<") + 1
    work = 0
    order = 0
    for prelude, content in _rules(tinycss2.parse_stylesheet(css, True, True), 0):
        decls = _declarations(tinycss2.parse_blocks_contents(content, True, True))
        if not decls:
            continue
        for selector in _split_selectors(prelude):
            order += 1
            pseudo = _PSEUDO.search(selector)
            if pseudo:
                selector = selector[: pseudo.start()]
                if not any(d[0] == "content" for d in decls):
                    continue
            if not selector.strip() or _DYNAMIC.search(selector) or _OTHER_PSEUDO_ELEMENT.search(selector):
                continue
            if not names_read:
                names, names_read = _class_and_id_names(html), True
            if names is not None and not _may_match(selector, names):
                continue
            work += elements
            if work > MAX_MATCH_WORK or time.monotonic() > end:
                return sheet  # the rest is not applied
            try:
                nodes = tree.css(selector)
            except SelectolaxError:
                continue
            if not nodes:
                continue
            target = (
                sheet.rules
                if not pseudo
                else sheet.before
                if pseudo.group(1).lower() == "before"
                else sheet.after
            )
            if len(nodes) + len(sheet.nodes) > MAX_ELEMENTS:
                raise _TooMuch
            entry = (_specificity(selector), order, decls)
            for node in nodes:
                target.setdefault(node.mem_id, []).append(entry)
                sheet.nodes[node.mem_id] = node
    return sheet


def _rules(items: Iterable[Any], depth: int) -> Iterable[tuple[Any, Any]]:
    """(prelude, content) of each qualified rule that applies on a screen at rest."""
    for r in items:
        if r.type == "qualified-rule":
            yield r.prelude, r.content
        elif r.type == "at-rule" and r.content is not None and depth < MAX_RULE_DEPTH:
            kw = r.lower_at_keyword
            query = tinycss2.serialize(r.prelude).lower()
            if kw == "supports" or (
                kw == "media" and "(" not in query and "print" not in query.split(",")[0]
            ):
                yield from _rules(tinycss2.parse_rule_list(r.content, True, True), depth + 1)


def _split_selectors(prelude: list[Any]) -> list[str]:
    out: list[list[Any]] = [[]]
    for tok in prelude:
        if tok.type == "literal" and tok.value == ",":
            out.append([])
        else:
            out[-1].append(tok)
    return [tinycss2.serialize(x).strip() for x in out if x]


def _declarations(tokens: list[Any]) -> Decls:
    out = []
    for d in tokens:
        if d.type == "declaration" and d.lower_name in PROPS:
            out.append((d.lower_name, tinycss2.serialize(d.value).strip().lower(), d.important, d.value))
    return tuple(out)


def _class_and_id_names(html: str) -> dict[str, int] | None:
    """How often each class and id is written in the markup (lower case), None when entities or
    escapes make that unsure (every rule is then matched)."""
    names: dict[str, int] = {}
    for m in _CLASS_ID.finditer(html):
        v = m.group(1) or m.group(2) or m.group(3) or ""
        if "&" in v or "\\" in v:
            return None
        for name in v.lower().split():
            names[name] = names.get(name, 0) + 1
    return names


def _may_match(selector: str, names: dict[str, int]) -> bool:
    """False when the selector's last compound needs a class or id the markup never names; raises
    _TooMuch when it names one written on more elements than the pass judges (MAX_ELEMENTS)."""
    if any(c in selector for c in "[(\\\"'"):
        return True
    last = _LAST_COMPOUND.split(selector.strip())[-1]
    counts = [names.get(n.lower(), 0) for n in _NAMES.findall(last)]
    if counts and min(counts) > MAX_ELEMENTS:
        raise _TooMuch
    return all(counts)


def _specificity(selector: str) -> tuple[int, int, int]:
    s = selector.replace("*", " ")
    return (len(_SPEC_ID.findall(s)), len(_SPEC_CLASS.findall(s)), len(_SPEC_TYPE.findall(s)))


# -- style attributes ----------------------------------------------------------------------------


class _Context:
    """One document's caches: style attribute -> declarations, colour value -> RGB, and (state,
    style, attributes) -> state, so that repeated values are computed once."""

    __slots__ = ("colours", "complex", "decls", "memo")

    def __init__(self) -> None:
        self.decls: dict[str, Decls] = {}
        self.colours: dict[str, RGB | bool | None] = {}
        self.memo: dict[tuple[Any, ...], tuple[_State, bool | None]] = {}
        self.complex = 0

    def inline(self, style: str) -> Decls:
        d = self.decls.get(style)
        if d is None:
            d = self.decls[style] = self._parse(style) if _RELEVANT.search(style) else ()
        return d

    def colour(self, value: str) -> RGB | bool | None:
        if value not in self.colours:
            self.colours[value] = _colour(value)
        return self.colours[value]

    def background(self, value: str) -> RGB | bool | None:
        key = "background " + value
        if key not in self.colours:
            self.colours[key] = _background(value)
        return self.colours[key]

    def _parse(self, style: str) -> Decls:
        if any(c in style for c in "\\\"'") or "/*" in style or "url(" in style.lower():
            self.complex += 1
            if self.complex <= MAX_COMPLEX_INLINE:
                return _declarations(tinycss2.parse_declaration_list(style, True, True))
        # no strings, escapes, comments or url(): CSS reads "a: b; c: d" just as split here
        out = []
        for part in style.split(";"):
            name, colon, value = part.partition(":")
            name = name.strip().lower()
            if colon and name in PROPS:
                value = value.strip().lower()
                important = _IMPORTANT.search(value)
                if important:
                    value = value[: important.start()].strip()
                out.append((name, value, important is not None, None))
        return tuple(out)


# -- the walk ------------------------------------------------------------------------------------


def _cascade(
    entries: list[tuple[tuple[int, int, int], int, Decls]] | None, inline: Decls
) -> dict[str, tuple[str, Any]]:
    """property -> (value, tokens) after the cascade (author rules, style attribute, !important)."""
    out: dict[str, tuple[str, Any]] = {}
    ranked = sorted(entries, key=lambda e: (e[0], e[1])) if entries else []
    for _, _, decls in ranked:
        for name, value, important, toks in decls:
            if not important:
                out[name] = (value, toks)
    for name, value, important, toks in inline:
        if not important:
            out[name] = (value, toks)
    for _, _, decls in ranked:
        for name, value, important, toks in decls:
            if important:
                out[name] = (value, toks)
    for name, value, important, toks in inline:
        if important:
            out[name] = (value, toks)
    return out


def _is_zero(value: str) -> bool:
    return _ZERO.match(value) is not None


def _font_size(value: str, inherited: bool) -> bool:
    """True when a font-size value draws no visible letters (inherited: the parent's is zero)."""
    m = _SIZE.match(value)
    if m is None:
        return False if value in _FONT_KEYWORDS else inherited
    n, unit = float(m.group(1)), m.group(2)
    if n == 0:
        return True
    if unit in ("px", "pt", "") and n <= 1:
        return True
    if (unit in ("em", "ex", "ch", "rem") and n < 0.1) or (unit == "%" and n < 10):
        return True
    return False if unit in _ABSOLUTE else inherited


def _font_shorthand(value: str, inherited: bool) -> bool:
    for tok in value.split():
        size = tok.split("/")[0]
        if _SIZE.match(size) or size in _FONT_KEYWORDS:
            return _font_size(size, inherited)
    return inherited


def _colour(value: str) -> RGB | bool | None:
    """An RGB triple, None for a transparent colour, False when the value is no colour."""
    c = tinycss2.color3.parse_color(value)
    if c is None:
        if _HEX.match(value):  # legacy attributes: color="ffffff"
            c = tinycss2.color3.parse_color("#" + value)
        if c is None:
            return False
    if c == "currentColor":
        return False
    if c.alpha < 0.1:
        return None
    return (c.red, c.green, c.blue)


def _background(value: str) -> RGB | bool | None:
    """The colour a background declaration paints (UNKNOWN with an image), None: transparent."""
    if "url(" in value or "gradient" in value or "image-set" in value:
        return UNKNOWN
    found: RGB | bool | None = False
    for tok in re.split(r"\s+(?![^(]*\))", value):
        c = _colour(tok)
        if c is not False:
            found = c
    return found


def _content(tokens: Any, attrs: dict[str, str | None]) -> str:
    if not tokens:
        return ""
    out = []
    for t in tokens:
        if t.type == "string":
            out.append(t.value)
        elif t.type == "function" and t.lower_name == "attr":
            name = next((a.value for a in t.arguments if a.type == "ident"), "")
            out.append(attrs.get(name.lower()) or "")
    return "".join(out)


def _walk(
    body: LexborNode, above: _State, sheet: _Sheet, ctx: _Context, block_tags: frozenset[str], end: float
) -> str:
    """The drawn text of one subtree (with MARKs where it differs from the source); above: the
    state its parent passes down."""
    rules, before, after = sheet.rules, sheet.before, sheet.after
    out: list[str] = []
    buffers: list[list[str]] = []
    # open elements: (mem_id, state, block, after-text, opened a buffer)
    stack: list[tuple[int, _State, bool, str, bool]] = [(body.mem_id, above, True, "", False)]
    first = True
    n = 0
    node: LexborNode
    for node in body.traverse(include_text=True):
        if first:  # the subtree's root itself
            first = False
            state, block, text_after = _element(node, above, rules, before, after, ctx, block_tags, out)
            opened = state.rev != above.rev and not state.skip
            if opened:
                buffers.append(out)
                out = []
            stack[0] = (node.mem_id, state, block and not state.skip, text_after, opened)
            continue
        n += 1
        if n & 4095 == 0 and time.monotonic() > end:
            raise _TooMuch
        parent = node.parent
        pid = parent.mem_id if parent is not None else 0
        while len(stack) > 1 and stack[-1][0] != pid:
            out = _close(stack.pop(), out, buffers)
        top = stack[-1][1]
        tag = node.tag
        if tag == "-text":
            if top.skip:
                continue
            t = node.text_content or ""
            if top.invisible:
                if t and (not out or out[-1] != MARK):
                    out.append(MARK)
            else:
                out.append(t.replace(MARK, "") if MARK in t else t)
            continue
        if tag is None or tag[0] == "-":
            continue
        if top.skip:
            stack.append((node.mem_id, top, False, "", False))
            continue
        pos = len(out)
        state, block, text_after = _element(node, top, rules, before, after, ctx, block_tags, out)
        opened = False
        if state.rev != top.rev and not state.skip:
            buffers.append(out[:pos])
            out = out[pos:]
            opened = True
        elif state.skip and not top.skip and tag not in SILENT:
            out.append(MARK)
        stack.append((node.mem_id, state, block and not state.skip, text_after, opened))
    while stack:
        out = _close(stack.pop(), out, buffers)
    return "".join(out)


MAX_CONTEXT_STEPS = 200_000  # parent steps to find the blocks around the elements that differ


def _effects(
    tree: LexborHTMLParser, sheet: _Sheet, ctx: _Context, block_tags: frozenset[str], end: float
) -> list[LexborNode]:
    """The elements whose drawing differs from their source text (hidden, turned, generated,
    coloured like a background they may lie on, or displayed as another kind of box)."""
    candidates: dict[int, LexborNode] = dict(sheet.nodes)
    for node in tree.css("[style], [hidden], bdo, font[color], [bgcolor]"):
        candidates[node.mem_id] = node
    for mid in (*sheet.before, *sheet.after):
        candidates.setdefault(mid, sheet.nodes[mid])
    # elements alike (tag, style attribute, the attributes that matter, no <style> rule) are
    # judged once: a newsletter's 300 cells share a handful of styles
    groups: dict[Any, tuple[str, dict[str, str | None], dict[str, tuple[str, Any]], list[LexborNode]]] = {}
    colours: set[RGB | None] = {BLACK}
    bgs: set[RGB] = {WHITE}
    n = 0
    for mid, node in candidates.items():
        n += 1
        if n & 1023 == 0 and time.monotonic() > end:
            raise _TooMuch
        attrs = node.attributes
        tag = node.tag or ""
        style = attrs.get("style")
        entries = sheet.rules.get(mid)
        g = attrs.get
        key: Any = (
            mid
            if entries or mid in sheet.before or mid in sheet.after
            else (tag, style, g("hidden", "\0"), g("dir", "\0"), g("color", "\0"), g("bgcolor", "\0"))
        )
        group = groups.get(key)
        if group is not None:
            group[3].append(node)
            continue
        props = _cascade(entries, ctx.inline(style) if style else ())
        groups[key] = (tag, attrs, props, [node])
        _gather(props, attrs, tag, ctx, colours, bgs)
    out: list[LexborNode] = []
    for key, (tag, attrs, props, nodes) in groups.items():
        if isinstance(key, int) and (key in sheet.before or key in sheet.after):
            out.extend(nodes)
        elif _differs(tag, attrs, props, ctx, colours, bgs, block_tags):
            # a hidden block between blocks (a newsletter's preheader) joins nothing: what is
            # left is drawn as the source text says
            if tag in block_tags and _style(ROOT, tag, attrs, props, ctx)[0].skip:
                out.extend(n for n in nodes if not _between_blocks(n, block_tags))
            else:
                out.extend(nodes)
    return out


def _between_blocks(node: LexborNode, block_tags: frozenset[str]) -> bool:
    """True when the node's nearest siblings (past white space and comments) are blocks or none."""
    for step in ("prev", "next"):
        sib = getattr(node, step)
        while sib is not None and (
            sib.tag == "-comment" or (sib.tag == "-text" and not (sib.text_content or "").strip())
        ):
            sib = getattr(sib, step)
        if sib is not None and sib.tag not in block_tags:
            return False
    return True


def _alike(styles: set[str], ctx: _Context) -> bool:
    """True when no style attribute value can make an element draw other than its source: the
    walk is not needed. One judgement per distinct value (a newsletter whose cells all say
    "padding:4px;color:#333" is judged once)."""
    judged = [_cascade(None, ctx.inline(v)) for v in styles]
    colours: set[RGB | None] = {BLACK}
    bgs: set[RGB] = {WHITE}
    for props in judged:
        _gather(props, {}, "", ctx, colours, bgs)
    return not any(_differs("", {}, props, ctx, colours, bgs, frozenset()) for props in judged)


def _gather(
    props: dict[str, tuple[str, Any]],
    attrs: dict[str, str | None],
    tag: str,
    ctx: _Context,
    colours: set[RGB | None],
    bgs: set[RGB],
) -> None:
    """Add the text colours and background colours an element declares to the sets."""
    for value in (props.get("color", (None,))[0], attrs.get("color") if tag == "font" else None):
        if value:
            c = ctx.colour(value.lower())
            if c is not False:
                colours.add(c)  # type: ignore[arg-type]
    for value, reader in (
        (props.get("background", (None,))[0], ctx.background),
        (props.get("background-color", (None,))[0], ctx.colour),
        ((attrs.get("bgcolor") or "").lower() or None, ctx.colour),
    ):
        if value:
            c = reader(value)
            if c is not False and c is not None:
                bgs.add(c)  # type: ignore[arg-type]


def _differs(
    tag: str,
    attrs: dict[str, str | None],
    props: dict[str, tuple[str, Any]],
    ctx: _Context,
    colours: set[RGB | None],
    bgs: set[RGB],
    block_tags: frozenset[str],
) -> bool:
    if tag == "bdo" or "hidden" in attrs or "override" in props.get("unicode-bidi", ("",))[0]:
        return True
    if props.get("mso-hide", ("",))[0] == "all" or "opacity" in props:
        return True
    display = props.get("display", ("",))[0]
    if display and not tag:  # any element: one that may join blocks into a line
        if display == "none" or display.startswith("inline") or display in _INLINE_DISPLAY:
            return True
    elif display and (
        display == "none"
        or (not display.startswith("inline") and display not in _INLINE_DISPLAY) != (tag in block_tags)
    ):
        return True
    if props.get("visibility", ("",))[0] in ("hidden", "collapse"):
        return True
    overflow = " ".join(props.get(k, ("",))[0] for k in ("overflow", "overflow-x", "overflow-y"))
    if "hidden" in overflow or "clip" in overflow:
        return True
    if "font" in props and _font_shorthand(props["font"][0], False):
        return True
    if "font-size" in props and _font_size(props["font-size"][0], False):
        return True
    for value in (props.get("color", (None,))[0], attrs.get("color") if tag == "font" else None):
        if value:
            c = ctx.colour(value.lower())
            if c is None or (c is not False and any(_same_colour(c, b) for b in bgs)):  # type: ignore[arg-type]
                return True
    for value, reader in (
        (props.get("background", (None,))[0], ctx.background),
        (props.get("background-color", (None,))[0], ctx.colour),
        ((attrs.get("bgcolor") or "").lower() or None, ctx.colour),
    ):
        if value:
            b = reader(value)
            if b is UNKNOWN or (
                b is not False
                and b is not None
                and any(c is not None and _same_colour(c, b) for c in colours)  # type: ignore[arg-type]
            ):
                return True
    return "background-image" in props


def _contexts(found: list[LexborNode], body: LexborNode, block_tags: frozenset[str]) -> list[LexborNode]:
    """The subtrees to walk: around each element, the block that holds it and the block around that
    one (the line before and after, as a reader sees them), none inside another; [body] when the
    search for them takes too long."""
    chosen: dict[int, LexborNode] = {}
    steps = 0
    body_id = body.mem_id
    by_parent: dict[int, LexborNode] = {}  # siblings share their blocks: one climb for all
    for node in found:
        p = node.parent
        if p is not None and p.mem_id in by_parent:
            continue
        first_parent = p.mem_id if p is not None else 0
        blocks = 0
        root = node
        while p is not None and p.mem_id != body_id:
            steps += 1
            if steps > MAX_CONTEXT_STEPS:
                return [body]
            if p.tag in block_tags:
                root = p
                blocks += 1
                if blocks == 2:
                    break
            p = p.parent
        if p is None or p.mem_id == body_id:
            root = body if blocks < 2 else root
        chosen[root.mem_id] = root
        by_parent[first_parent] = root
        if root.mem_id == body_id:
            return [body]
    if body_id in chosen:
        return [body]
    out = []
    for root in chosen.values():
        p = root.parent
        inside = False
        while p is not None and p.mem_id != body_id:
            steps += 1
            if steps > MAX_CONTEXT_STEPS:
                return [body]
            if p.mem_id in chosen:
                inside = True
                break
            p = p.parent
        if not inside:
            out.append(root)
    return out


def _state_above(
    root: LexborNode, body: LexborNode, sheet: _Sheet, ctx: _Context, block_tags: frozenset[str]
) -> _State:
    """The state root's parent passes down: the elements from body to it, computed in order."""
    if root.mem_id == body.mem_id:
        return ROOT
    chain = []
    p = root.parent
    while p is not None and p.tag not in ("html", "#document", None):
        chain.append(p)
        if p.mem_id == body.mem_id:
            break
        p = p.parent
    state = ROOT
    scratch: list[str] = []
    for node in reversed(chain):
        state, _, _ = _element(node, state, sheet.rules, sheet.before, sheet.after, ctx, block_tags, scratch)
        if state.skip:
            return state
    return state


def _close(entry: tuple[int, _State, bool, str, bool], out: list[str], buffers: list[list[str]]) -> list[str]:
    _, _, block, text_after, opened = entry
    if text_after:
        out.extend((MARK, text_after, MARK))
    if block:
        out.append("\n")
    if opened:
        turned = "".join(out)[::-1]
        out = buffers.pop()
        out.extend((MARK, turned.replace("\n", MARK + "\n" + MARK), MARK))
    return out


def _element(
    node: LexborNode,
    top: _State,
    rules: dict[int, list[tuple[tuple[int, int, int], int, Decls]]],
    before: dict[int, list[tuple[tuple[int, int, int], int, Decls]]],
    after: dict[int, list[tuple[tuple[int, int, int], int, Decls]]],
    ctx: _Context,
    block_tags: frozenset[str],
    out: list[str],
) -> tuple[_State, bool, str]:
    """The element's state, whether it is a block, and its ::after text; its opening newline and
    ::before text are appended to out here."""
    tag = node.tag or ""
    block = tag in block_tags
    if tag in SILENT:
        return SKIPPED, False, ""
    mid = node.mem_id
    attrs = node.attributes
    style = attrs.get("style") if attrs else None
    own = ctx.inline(style) if style else ()
    entries = rules.get(mid) if rules else None
    special = tag == "bdo" or not _SPECIAL_ATTRS.isdisjoint(attrs)
    state = top
    if own or entries or special:
        if entries:
            state, display_block = _style(top, tag, attrs, _cascade(entries, own), ctx)
        else:  # the same style attribute under the same state: one computation (a newsletter's rows)
            key = (top, tag, style, *(attrs.get(a, "\0") for a in _SPECIAL_ATTRS))
            got = ctx.memo.get(key)
            if got is None:
                got = ctx.memo[key] = _style(top, tag, attrs, _cascade(None, own), ctx)
            state, display_block = got
        if state.skip:
            return state, False, ""
        if display_block is not None:
            block = display_block
    if block:
        out.append("\n")
    text_before = _pseudo(before, mid, attrs) if before else ""
    if text_before and not state.invisible:
        out.extend((MARK, text_before, MARK))
    text_after = _pseudo(after, mid, attrs) if after else ""
    return state, block, text_after if not state.invisible else ""


def _style(
    top: _State, tag: str, attrs: dict[str, str | None], props: dict[str, tuple[str, Any]], ctx: _Context
) -> tuple[_State, bool | None]:
    """The state an element's cascaded properties give, and its display (True: a block, None: as
    its tag says)."""
    block: bool | None = None
    display = props.get("display", ("", None))[0]
    if display == "none" or ("hidden" in attrs and not display) or props.get("mso-hide", ("",))[0] == "all":
        return SKIPPED, None
    if display:
        block = not display.startswith("inline") and display not in _INLINE_DISPLAY
    opacity = props.get("opacity")
    if opacity is not None:
        v = opacity[0]
        try:
            alpha = float(v[:-1]) / 100 if v.endswith("%") else float(v)
        except ValueError:
            alpha = 1.0
        if alpha < 0.1:
            return SKIPPED, None
    overflow = " ".join(props.get(k, ("",))[0] for k in ("overflow", "overflow-x", "overflow-y"))
    if ("hidden" in overflow or "clip" in overflow) and any(
        _is_zero(props.get(k, ("1",))[0]) for k in ("max-height", "height", "max-width", "width")
    ):
        return SKIPPED, None
    vis_hidden = top.vis_hidden
    visibility = props.get("visibility", ("",))[0]
    if visibility in ("hidden", "collapse", "visible"):
        vis_hidden = visibility != "visible"
    font_zero = top.font_zero
    if "font" in props:
        font_zero = _font_shorthand(props["font"][0], font_zero)
    if "font-size" in props:
        font_zero = _font_size(props["font-size"][0], font_zero)
    color = top.color
    legacy = attrs.get("color") if tag == "font" else None
    for value in (legacy.lower() if legacy else None, props.get("color", (None,))[0]):
        if value:
            c = ctx.colour(value)
            if c is not False:
                color = c  # type: ignore[assignment]  # RGB or None
    bg = top.bg
    legacy_bg = attrs.get("bgcolor")
    for value, reader in (
        (legacy_bg.lower() if legacy_bg else None, ctx.colour),
        (props.get("background", (None,))[0], ctx.background),
        (props.get("background-color", (None,))[0], ctx.colour),
    ):
        if value:
            c = reader(value)
            if c is not False and c is not None:
                bg = c  # type: ignore[assignment]
    image = props.get("background-image", ("none",))[0]
    if image and image != "none":
        bg = UNKNOWN
    rev = top.rev
    if tag == "bdo":
        d = (attrs.get("dir") or "").lower()
        rev = d == "rtl" if d in ("rtl", "ltr") else rev
    elif "dir" in attrs:
        rev = False  # [dir] is unicode-bidi: isolate: an override above stops here
    bidi = props.get("unicode-bidi", ("",))[0]
    if bidi:
        if "override" in bidi:
            direction = props.get("direction", ("",))[0]
            rev = direction == "rtl" if direction in ("rtl", "ltr") else rev
        elif bidi != "normal":
            rev = False
    return _State(False, vis_hidden, font_zero, color, bg, rev), block


def _pseudo(
    table: dict[int, list[tuple[tuple[int, int, int], int, Decls]]], mid: int, attrs: dict[str, str | None]
) -> str:
    entries = table.get(mid)
    if not entries:
        return ""
    props = _cascade(entries, ())
    if props.get("display", ("",))[0] == "none" or props.get("visibility", ("",))[0] == "hidden":
        return ""
    got = props.get("content")
    return _content(got[1], attrs) if got else ""


def _finish(marked: str) -> Rendered:
    """The text without its marks, and the lines around each mark (one more line either side)."""
    pieces = marked.split(MARK)
    if len(pieces) == 1:
        return Rendered(marked, ())
    text = "".join(pieces)
    marks: list[int] = []
    pos = 0
    for p in pieces[:-1]:
        pos += len(p)
        if not marks or marks[-1] != pos:
            marks.append(pos)
    spans: list[tuple[int, int]] = []
    for m in marks:
        if spans and m <= spans[-1][1]:
            a = spans[-1][0]
            spans.pop()
        else:
            a = _line_start(text, m)
        b = max(_line_end(text, m), spans[-1][1] if spans and spans[-1][0] == a else 0)
        spans.append((a, b))
    return Rendered(text, tuple(spans))


def _line_start(text: str, pos: int) -> int:
    lo = max(0, pos - WINDOW)
    a = text.rfind("\n", lo, pos)
    if a > lo:
        a = text.rfind("\n", lo, a)  # one line more
    return lo if a < 0 else a + 1


def _line_end(text: str, pos: int) -> int:
    hi = min(len(text), pos + WINDOW)
    b = text.find("\n", pos, hi)
    if b >= 0:
        b2 = text.find("\n", b + 1, hi)  # one line more
        return hi if b2 < 0 else b2
    return hi
