"""Find links in HTML with selectolax (the Lexbor engine).

Why selectolax: Lexbor is a WHATWG-conformant HTML5 parser written in C, so entities, broken
markup and attribute values are decoded as a browser decodes them (``&#104;ttps`` becomes
``https``), comments are recognised as comments, and it parses a 1 MB newsletter in milliseconds;
html5lib is as conformant but ~50x slower, and lxml follows libxml2's HTML4 rules.

What it reports:
- attributes that lead somewhere (href, src, srcset, action, formaction, background, poster, data,
  cite, longdesc, xlink:href, ping, ...), resolved against <base href> or the part's Content-Base;
- <meta http-equiv=refresh>, CSS url() and @import in style attributes and <style>;
- URLs inside javascript: and non-image data: values;
- Outlook conditional comments (<!--[if mso]>...), which Outlook renders; other comments are skipped;
- the visible text, through the text finder: the source text (hidden text included: a client
  that ignores CSS shows it) and, where styles, ``hidden``, ``<bdo>`` or colours could make the
  drawn text differ, the text as a client draws it (render.py: hidden text left out, reversed text
  turned, ::before/::after content put in), reported at "rendered text" when only it holds a link.
Not links: #fragments, mailto: (unless count_email), tel:, javascript:void(0), data: images, cid:.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Callable
from html import unescape
from urllib.parse import unquote, urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..decode import b64decode
from ..findings import Link, Location
from .normalize import normalize
from .render import HINT_ATTRS, Hints, Rendered, render
from .text import TextFinder, local_file_url

URL_ATTRS = frozenset(
    [
        "href",
        "src",
        "action",
        "formaction",
        "background",
        "poster",
        "data",
        "cite",
        "longdesc",
        "xlink:href",
        "codebase",
        "dynsrc",
        "lowsrc",
        "manifest",
        "profile",
        "archive",
    ]
)
BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "ul",
        "title",
        "option",
        "center",
        "body",
    ]
)
WATCHED_ATTRS = URL_ATTRS | {"srcset", "imagesrcset", "ping", "style", "content", "alt"}
HIDDEN_TEXT = frozenset(("script", "style", "template"))
NOT_LINK_SCHEMES = frozenset(("tel", "sms", "callto", "fax", "cid", "mid", "about", "blob"))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_CSS_URL = re.compile(r"""url\(|@import\s*+(['"])([^'"]*+)\1""", re.I)
_REFRESH = re.compile(r"[\d.]*+\s*+[;,]?\s*+(?:url\s*+=\s*+)?", re.I)
_ALNUM = re.compile(r"[^\W_]")
_STRIP = "".join(chr(c) for c in range(0x21)) + "\x7f"
MAX_EMBED_DEPTH = 3


def refresh_url(content: str) -> str:
    """The URL of <meta http-equiv=refresh content="5; url='...'">, "" when there is none."""
    v = content.strip()
    v = v[_REFRESH.match(v).end() :].strip()  # type: ignore[union-attr]  # the pattern matches ""
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        v = v[1:-1].strip()
    return v


def css_urls(css: str) -> list[tuple[int, str]]:
    """(offset, value) of every url(...) and @import "..." in CSS, in linear time.

    The closing ")" is looked up once and reused while it lies ahead, so "url(url(url(..." costs
    one pass (a backtracking regex took 5.5 s for 64 KB of it).
    """
    out: list[tuple[int, str]] = []
    close = -1
    for m in _CSS_URL.finditer(css):
        if m.group(1) is not None:  # @import "..."
            if m.group(2):
                out.append((m.start(), m.group(2)))
            continue
        if close < m.end():
            close = css.find(")", m.end())
            if close < 0:
                break
        value = css[m.end() : close].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value and "url(" not in value.lower():
            out.append((m.start(), value))
    return out


def browser_url(value: str) -> str:
    """An attribute value as a browser's URL parser sees it: trimmed, with tabs and newlines removed."""
    return value.strip(_STRIP).replace("\t", "").replace("\n", "").replace("\r", "")


ImageHook = Callable[[bytes, Location], list[Link]]


class HtmlFinder:
    def __init__(self, text: TextFinder, image: ImageHook | None = None) -> None:
        self.text = text
        self.image = image  # QR codes in data: images

    def find(
        self, html: str, where: Location, base: str = "", depth: int = 0, deadline: float | None = None
    ) -> list[Link]:
        """deadline: time.monotonic() past which the rendering pass gives up (the message's budget)."""
        if too_deep(html):
            return self._find_flat(html, where, base, depth)
        tree = LexborHTMLParser(html)
        out: list[Link] = []
        root = tree.root
        if root is None:
            return out
        root = root.parent or root  # the document node: comments before <html> live there
        b = tree.css_first("base[href]")
        if b is not None:
            base = (
                urljoin(base, browser_url(b.attributes.get("href") or ""))
                if base
                else browser_url(b.attributes.get("href") or "")
            )
        visible: list[str] = []
        block_of_last = -1
        locs: dict[tuple[str, str], Location] = {}  # one Location per tag and attribute name
        hints = Hints()  # what may make the drawn text differ (render.py)
        for node in root.traverse(include_text=True):
            tag = node.tag
            if tag == "-text":
                parent = node.parent
                ptag = parent.tag if parent is not None else ""
                if ptag == "style":
                    self._css(node.text_content or "", where, "style", base, out)
                elif ptag not in HIDDEN_TEXT:
                    # Text from two different blocks never runs together ("www.x.th</div>Next").
                    block = parent
                    while block is not None and block.tag not in BLOCK:
                        block = block.parent
                    bid = block.mem_id if block is not None else 0
                    if bid != block_of_last:
                        visible.append("\n")
                        block_of_last = bid
                    visible.append(node.text_content or "")
            elif tag == "-comment":
                self._comment(node, where, base, depth, out, deadline)
            elif tag is not None and tag[0] != "-":
                if tag in BLOCK:
                    visible.append("\n")
                attrs = node.attributes
                if attrs:
                    style = attrs.get("style")
                    if style:
                        hints.styles.add(style)
                        hints.elements += 1
                    if not HINT_ATTRS.isdisjoint(attrs):
                        hints.special = True
                        hints.elements += 1
                    self._element(attrs, tag, where, base, depth, out, locs)
                if tag == "style":
                    hints.sheet = True
                elif tag == "bdo":
                    hints.special = True
                    hints.elements += 1
        text_where = Location(where.part, where.content_type, _field(where, "text"))
        out.extend(self.text.find("".join(visible), text_where))
        try:
            drawn = render(tree, html, BLOCK, hints, deadline)
        except Exception:  # the drawing is an addition: a fault in it never costs the source's findings
            drawn = None
        if drawn is not None and drawn.spans:
            self._rendered(drawn, where, out)
        return out

    def _rendered(self, drawn: Rendered, where: Location, out: list[Link]) -> None:
        """Links in the text as drawn that the source gave not (their URL is new)."""
        text, starts = drawn.windows()
        loc = Location(where.part, where.content_type, _field(where, "rendered text"))
        seen = {x.url for x in out}
        # where each window begins in the joined text, to give offsets in the rendered text
        begins: list[int] = []
        pos = 0
        for a, b in drawn.spans:
            begins.append(pos)
            pos += b - a + 3
        for link in self.text.find(text, loc):
            if link.url in seen:
                continue
            seen.add(link.url)
            at = link.location.offset
            i = bisect_right(begins, at) - 1 if at >= 0 else -1
            offset = starts[i] + at - begins[i] if i >= 0 else -1
            out.append(Link(link.text, link.url, link.kind, loc.with_offset(offset)))

    def _comment(
        self,
        node: LexborNode,
        where: Location,
        base: str,
        depth: int,
        out: list[Link],
        deadline: float | None,
    ) -> None:
        content = node.comment_content or ""
        if content.lstrip().lower().startswith("[if") and depth < MAX_EMBED_DEPTH:
            inner = content.split("]>", 1)[-1]
            out.extend(self.find(inner, where, base, depth + 1, deadline))

    def _find_flat(self, html: str, where: Location, base: str, depth: int) -> list[Link]:
        """Without a tree, for markup nested deeper than a browser builds (see too_deep)."""
        out: list[Link] = []
        html = _HIDDEN_BLOCK.sub(lambda m: self._hidden(m, where, base, out), _COMMENT.sub(" ", html))
        for m in _TAG.finditer(html):
            if m.group(1) is None:
                continue
            attrs: dict[str, str | None] = {
                a.group(1).lower(): unescape(next(g for g in a.group(2, 3, 4) if g is not None))
                for a in _FLAT_ATTR.finditer(m.group(2))
            }
            self._element(attrs, m.group(1).lower(), where, base, depth, out)
        text = unescape(_TAG.sub(lambda m: "\n" if (m.group(1) or m.group(3)).lower() in BLOCK else "", html))
        out.extend(self.text.find(text, Location(where.part, where.content_type, _field(where, "text"))))
        return out

    def _hidden(self, m: re.Match[str], where: Location, base: str, out: list[Link]) -> str:
        if m.group(1).lower() == "style":
            self._css(m.group(2), where, "style", base, out)
        return " "

    def _element(
        self,
        attrs: dict[str, str | None],
        tag: str,
        where: Location,
        base: str,
        depth: int,
        out: list[Link],
        locs: dict[tuple[str, str], Location] | None = None,
    ) -> None:
        """locs: the Locations made so far in this document (a newsletter makes the same three
        for each of its hundreds of rows; Location is frozen, so they are shared)."""
        if not attrs:
            return
        for name, value in attrs.items():
            if not value:
                continue
            lname = name.lower()
            if lname not in WATCHED_ATTRS:
                continue
            loc = locs.get((tag, lname)) if locs is not None else None
            if loc is None:
                loc = Location(where.part, where.content_type, _field(where, f"attr {tag} {lname}"))
                if locs is not None:
                    locs[(tag, lname)] = loc
            if lname in URL_ATTRS:
                self._url(value, loc, base, depth, out)
            elif lname in ("srcset", "imagesrcset"):
                pos = 0
                # entries that gave no link: the same entry again gives none (_url of a plain
                # relative value depends on the value, base and depth only), so "a.png 1x,"
                # repeated 100,000 times is one _url call, not one per entry
                barren: set[str] = set()
                for cand in value.split(","):
                    url = cand.strip().split(" ")[0] if cand.strip() else ""
                    if url and url not in barren:
                        n = len(out)
                        self._url(url, loc.with_offset(value.find(url, pos)), base, depth, out)
                        if len(out) == n and url.isascii() and ":" not in url:
                            barren.add(url)
                    pos += len(cand) + 1
            elif lname == "ping":
                for url in value.split():
                    self._url(url, loc, base, depth, out)
            elif lname == "style":
                self._css(value, where, f"attr {tag} style", base, out)
            elif lname == "alt":  # Outlook shows alt text in place of the images it blocks
                out.extend(self.text.find(value, loc))
            elif (
                lname == "content" and tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh"
            ):
                url = refresh_url(value)
                if url:
                    self._url(url, loc, base, depth, out)

    def _css(self, css: str, where: Location, field: str, base: str, out: list[Link]) -> None:
        if "url(" not in css.lower() and "@import" not in css.lower():
            return
        loc = Location(where.part, where.content_type, _field(where, field))
        for offset, url in css_urls(css):
            self._url(url, loc.with_offset(offset), base, 0, out)

    def _url(self, value: str, loc: Location, base: str, depth: int, out: list[Link]) -> None:
        v = browser_url(value)
        if not v or v.startswith("#") or local_file_url(v):  # file:///C:/...: the sender's own disk
            return
        sm = _SCHEME.match(v)
        if sm:
            scheme = sm.group(1).lower()
            rest = v[sm.end() :]
            if scheme in NOT_LINK_SCHEMES:
                return
            if scheme == "mailto":
                if self.text.options.count_email:
                    out.append(Link(value, v, "email", loc))
                return
            if scheme == "javascript":
                out.extend(_relocate(self.text.find(unquote(rest), loc), loc))
                return
            if scheme == "data":
                self._data(rest, loc, depth, out)
                return
            if not _ALNUM.search(rest):
                return
            out.append(Link(value, v, "html_attr", loc))
            return
        if v.startswith(("//", "\\\\", "/\\", "\\/")):
            if _ALNUM.search(v):
                out.append(Link(value, "http:" + v.replace("\\", "/"), "html_attr", loc))
            return
        # a base on the sender's own disk (a Word .mht's file:///C:/...) is as good as none: relative
        # paths under it are the sender's files, but a bare www.example.com is still a web address
        if base and _SCHEME.match(base) and not local_file_url(base):
            joined = urljoin(base, v)
            if not local_file_url(joined):  # a Word .mht's parts, relative to file:///C:/...
                out.append(Link(value, joined, "html_attr", loc))
            return
        # No scheme and no base: a mail client treats href="www.example.com" as a web address.
        # (A relative value such as srcset's "a.png" is settled by one regex match when it is
        # plain: 100,000 of them took a second through the whole finder.)
        if v.isascii() and "\n" not in v and normalize(v).as_written and self.text.no_link_at_start(v):
            return
        found = [x for x in self.text.find(v, loc) if x.location.offset == 0 and x.kind != "email"]
        if found:
            out.append(Link(value, found[0].url, "html_attr", loc))

    def _data(self, rest: str, loc: Location, depth: int, out: list[Link]) -> None:
        meta, _, payload = rest.partition(",")
        mtype = meta.split(";")[0].strip().lower()
        if mtype.startswith("image/") and self.image is not None and ";base64" in meta.lower():
            out.extend(self.image(b64decode(payload.encode("ascii", "ignore")), loc))
            return
        if mtype.startswith(("image/", "audio/", "video/", "font/")):
            return
        try:
            raw = base64.b64decode(payload + "==") if ";base64" in meta.lower() else unquote(payload).encode()
        except (binascii.Error, ValueError):
            raw = payload.encode("utf-8", "replace")
        body = raw.decode("utf-8", "replace")
        if mtype in ("text/html", "application/xhtml+xml") and depth < MAX_EMBED_DEPTH:
            out.extend(_relocate(self.find(body, loc, "", depth + 1), loc))
        else:
            out.extend(_relocate(self.text.find(body, loc), loc))


# [^<>]: a tag never runs past the next "<", so "<a <a <a ..." without ">" costs one pass, not one
# pass per "<" (which took 22 s for 60 KB).
_OPEN_CLOSE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)([^<>]*+)>")
_AUTO_CLOSED = frozenset(
    [
        "p",
        "li",
        "td",
        "th",
        "tr",
        "option",
        "dt",
        "dd",
        "br",
        "img",
        "hr",
        "input",
        "meta",
        "link",
        "area",
        "base",
        "col",
        "wbr",
        "source",
        "track",
        "param",
        "embed",
    ]
)
MAX_NESTING = 512  # Chrome's HTML parser stops nesting at 512 levels too
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9:-]*+)([^<>]*+)>|</([A-Za-z][A-Za-z0-9:-]*+)\s*+>")
_FLAT_ATTR = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_COMMENT = re.compile(r"<!--(?!\[if).*?(?:-->|$)", re.S)
_HIDDEN_BLOCK = re.compile(r"<(script|style|template)\b[^>]*>(.*?)(?:</\1\s*>|$)", re.S | re.I)


def too_deep(html: str) -> bool:
    """True when tags nest deeper than MAX_NESTING (Lexbor's tree building is quadratic in depth).

    Below 64 KiB even the deepest possible nesting (~13,000 levels) parses in about 0.2 s, so the
    count (about 1 ms per 100 KiB of markup) is spent only on larger documents.
    """
    if len(html) < 65536 or html.count("<") < MAX_NESTING:
        return False
    depth = 0
    for m in _OPEN_CLOSE.finditer(html):
        if m.group(1):
            depth = max(0, depth - 1)
        elif not m.group(3).endswith("/") and m.group(2).lower() not in _AUTO_CLOSED:
            depth += 1
            if depth > MAX_NESTING:
                return True
    return False


def _field(where: Location, field: str) -> str:
    """Keep an outer field (an attachment's name) in front of the HTML field."""
    return f"{where.field} {field}" if where.field and where.field != "body" else field


def _relocate(links: list[Link], loc: Location) -> list[Link]:
    """Links found inside an attribute value (javascript:, data:) keep the attribute as location."""
    return [Link(x.text, x.url, "html_attr", loc.with_offset(x.location.offset)) for x in links]
