"""The scanner: one message's bytes in, every link a citizen could follow out (ScanResult)."""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from .config import Config
from .decode import header_readings
from .extract import EXTRACTORS, Budget, BudgetExceeded, Extracted, ImagePiece, Unscannable, sniff
from .extract.base import media_type
from .extract.image import frames
from .extract.registry import DOCUMENT_FORMATS
from .findings import Link, Location, ScanResult, UnscannableReason, Unscanned
from .links.html import HtmlFinder
from .links.images import code_links
from .links.ocr import OcrBudget, OcrFinder, OcrOptions, content_key
from .links.text import TextFinder, TextOptions
from .mime import HeaderBlock, Leaf, TooDeep, parse, walk
from .psl import load as load_psl

_ADDRESS = re.compile(r"<[^<>\s]*+@[^<>\s]*+>|(?<![\w.+\-=])[\w.+\-=]++@[\w.\-\[\]:]+")  # linear
ADDRESS_HEADERS = frozenset(("from", "to", "cc", "bcc", "reply-to", "sender", "resent-from", "resent-to"))
_CHARSET_PARAM = re.compile(r';\s*charset\*?(?:\*\d+\*?)?\s*=\s*(?:"[^"]*"|[^;]*)', re.I)
NOT_LINKS = ("#", "tel:", "cid:", "javascript:void", "sms:")
# Names for the reply ("encrypted ZIP", "a PDF that could not be read") by format
FORMAT_NAMES = {
    "pdf": "PDF",
    "zip": "ZIP",
    "office": "office document",
    "image": "image",
    "svg": "SVG image",
    "metafile": "picture (EMF/WMF)",
    "ole": "Office 97-2003 document",
    "msg": "Outlook message",
    "tnef": "TNEF attachment",
    "smime": "S/MIME message",
}


@dataclass(slots=True)
class _Message:
    """What one scan gathers; one per message (the Scanner itself holds no per-message state)."""

    budget: Budget
    findings: list[Link] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unscannable: list[Unscanned] = field(default_factory=list)
    out_of_time: bool = False
    ocr: OcrBudget = field(default_factory=lambda: OcrBudget(0.0))  # links.ocr_budget, set by the scanner

    def unscan(self, reason: UnscannableReason, detail: str, where: Location) -> None:
        self.unscannable.append(Unscanned(reason, detail, where))


_current: ContextVar[_Message | None] = ContextVar("nolink_scan_message", default=None)


class Scanner:
    """Scans messages under one configuration. Thread-safe: it holds no per-message state.

    The walk: every MIME leaf is sniffed (by its bytes) and handed to its extractor
    (extract/registry.py); the extractor's texts go to the text or HTML finder, its URLs become
    findings directly, its images go to ``image_findings`` and its children are walked the same
    way, all under one Budget per message.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        lc = self.config.links
        self.psl = load_psl(lc.psl_file)
        self.text = TextFinder(self.psl, TextOptions(count_email=lc.count_email))
        self.ocr = (
            OcrFinder(self.text, OcrOptions(lc.ocr_languages, lc.ocr_cache_size, lc.max_image_pixels))
            if lc.ocr
            else None
        )
        self.html = HtmlFinder(
            self.text, self._image_hook if (lc.scan_qr or lc.ocr) and lc.scan_attachments else None
        )
        # links.headers are shell patterns ("List-*"): one case-insensitive regex for all of them
        self._headers_re = re.compile("|".join(fnmatch.translate(h) for h in lc.headers) or "(?!)", re.I)

    def _new_message(self) -> _Message:
        return _Message(self.budget(), ocr=OcrBudget(self.config.links.ocr_budget))

    def budget(self) -> Budget:
        lc = self.config.links
        return Budget(
            lc.max_total_bytes,
            lc.max_total_pixels,
            lc.max_total_pdf_pages,
            lc.max_pdf_pages,
            lc.max_scan_seconds,
        )

    def scan(self, data: bytes) -> ScanResult:
        try:
            msg = parse(data)
        except Exception as e:
            return ScanResult(errors=(f"message cannot be parsed: {type(e).__name__}",), size=len(data))
        m = self._new_message()
        token = _current.set(m)
        try:
            parts = self._message(msg, "", m, 0)
        finally:
            _current.reset(token)
        return ScanResult(tuple(m.findings), tuple(m.errors), parts, len(data), tuple(m.unscannable))

    # -- structure --------------------------------------------------------------------------------

    def _message(self, msg: Message, number: str, m: _Message, depth: int) -> int:
        parts = 0
        for item in walk(msg, self.config.links.max_depth - depth, number):
            if isinstance(item, HeaderBlock):
                m.findings.extend(self.headers(item.message, item.number))
            elif isinstance(item, TooDeep):
                m.errors.append(
                    f"part {item.number or '1'}: MIME nesting deeper than {self.config.links.max_depth} "
                    "levels; deeper parts not checked"
                )
            else:
                parts += 1
                try:
                    self._leaf(item, m, depth)
                except RecursionError:
                    m.errors.append(f"part {item.number}: nested too deeply to check")
                except Exception as e:
                    m.errors.append(
                        f"part {item.number} {item.content_type}: not checked ({type(e).__name__})"
                    )
        return parts

    def headers(self, msg: Message, number: str) -> list[Link]:
        out: list[Link] = []
        for name, value in msg.raw_items():  # raw: items() turns 8-bit bytes into U+FFFD
            lname = name.lower()
            if not self._headers_re.match(name):
                continue
            for text in header_readings(str(value)):  # also as a client not knowing its charset shows it
                if lname in ADDRESS_HEADERS:
                    # Display names and anything that is not an address; the addresses are e-mail, not links.
                    # (Not email.utils.getaddresses: "https:" in a display name parses as an address group.)
                    text = _ADDRESS.sub(lambda m: " " * len(m.group()), text)
                out.extend(self.text.find(text, Location(number, "", f"header {name}")))
        return out

    def name_links(self, name: str, where: Location) -> list[Link]:
        """Links in a file name; the name itself (eicar.com, tax.info, report.zip) is a file, not a link."""
        base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        return [x for x in self.text.find(name, where) if x.text.strip() not in (base, name.strip())]

    def _leaf(self, leaf: Leaf, m: _Message, depth: int) -> None:
        if leaf.filename:
            m.findings.extend(
                self.name_links(leaf.filename, Location(leaf.number, leaf.content_type, "filename"))
            )
        field = f"attachment {leaf.filename}" if leaf.filename else "body"
        where = Location(leaf.number, leaf.content_type, field)
        declared = leaf.declared or leaf.content_type
        if leaf.charset:  # the MIME layer's reading of the label (RFC 2231, quotes, junk) is the one used
            declared = f"{_CHARSET_PARAM.sub('', declared)}; charset={leaf.charset}"
        self.content(leaf.data, declared, leaf.filename, where, m, 0, depth, leaf.base)
        for alt in leaf.also if leaf.content_type.startswith("text/") else ():  # "base64" that is not
            self.content(alt, declared, leaf.filename, where, m, 0, depth, leaf.base)
        if leaf.also and leaf.content_type.startswith("message/"):  # a forwarded message that is not
            m.unscan("unparseable", "attached message declared base64 cannot be decoded", where)
            self.content(leaf.also[0], "text/plain", "", where, m, 0, depth)  # its links as written

    def content(
        self,
        data: bytes,
        declared: str,
        name: str,
        where: Location,
        m: _Message,
        level: int,
        depth: int,
        base: str = "",
    ) -> None:
        """One piece of content, whatever it is (body part, attachment, archive member, embedded file).

        level: how many containers (archives, embedded files) deep this content is;
        depth: how many attached messages deep.
        """
        if not m.budget.check_time():
            if not m.out_of_time:
                m.out_of_time = True
                m.unscan("budget", m.budget.time_note(), where)
            return
        fmt = sniff(data, declared, name)
        if fmt == "message":
            if depth >= self.config.links.max_depth:
                m.errors.append(f"{where}: attached message nested too deeply; not checked")
                return
            self._special_message(data, declared, where, m)
            self._message(parse(data), where.part, m, depth + 1)
            return
        if fmt in ("media", "binary"):
            return
        if not self.config.links.scan_attachments and fmt not in ("text", "html"):
            return
        extractor = EXTRACTORS.get(fmt)
        if extractor is None:
            if fmt in DOCUMENT_FORMATS:
                m.unscan("unsupported", f"{_quoted(fmt, name)} cannot be read by nolink here", where)
            return
        try:
            got = extractor(data, declared, name, m.budget)
        except BudgetExceeded as e:
            m.unscan("budget", e.what, where)
            return
        except RecursionError:
            raise
        except Exception as e:
            m.unscan("unparseable", f"{_quoted(fmt, name)} could not be read ({type(e).__name__})", where)
            return
        self._pieces(got, where, m, level, depth, base)

    def _special_message(self, data: bytes, declared: str, where: Location, m: _Message) -> None:
        """message/partial and message/external-body: the message is not (all) here.

        A piece of a message (partial) cannot be reassembled from one mail: unscannable, and the
        piece is still searched. An external body is a pointer: when it points at a URL or an FTP
        file, that target is the link; any other access type (local-file, mail-server,
        content-id) names content nolink cannot see: unscannable.
        """
        ctype = media_type(declared)
        if ctype == "message/partial":
            m.unscan(
                "unsupported",
                "a message sent in pieces (message/partial) cannot be reassembled and checked",
                where,
            )
        elif ctype == "message/external-body":
            target = external_target(declared)
            link = self.url_link(target, where) if target else None
            if link is not None:
                m.findings.append(link)
            else:
                access = _header_param(declared, "access-type") or "none"
                m.unscan(
                    "unsupported",
                    f"an external body (message/external-body, access-type {access}) cannot be checked",
                    where,
                )

    def _pieces(
        self, got: Extracted, where: Location, m: _Message, level: int, depth: int, base: str
    ) -> None:
        for t in got.texts:
            loc = where.child(t.where)
            if t.html:
                m.findings.extend(self.html.find(t.text, loc, t.base or base, deadline=m.budget.deadline))
            else:
                m.findings.extend(self.text.find(t.text, loc))
        for u in got.urls:
            link = self.url_link(u.url, where.child(u.where))
            if link is not None:
                m.findings.append(link)
        for im in got.images:
            if self.config.links.scan_qr or self.ocr is not None:
                self.see_image(im, where.child(im.where), m)
        for bad in got.unscannable:
            m.unscan(bad.reason, bad.detail, where.child(bad.where))
        for c in got.children:
            loc = where.child(c.where)
            if c.name:
                m.findings.extend(self.name_links(c.name, Location(loc.part, loc.content_type, "filename")))
            if level + 1 > self.config.links.max_archive_depth:
                m.unscan(
                    "too_deep",
                    f"files nested deeper than {self.config.links.max_archive_depth} containers "
                    "(links.max_archive_depth)",
                    loc,
                )
                continue
            self.content(c.data, c.declared_type, c.name, loc, m, level + 1, depth)

    def url_link(self, url: str, where: Location) -> Link | None:
        """A target the structure of a document holds (PDF action, DOCX relationship) as a finding.
        mailto: is an e-mail address (a finding only with links.count_email), not a link."""
        u = url.strip()
        low = u.lower()
        if not u or low.startswith(NOT_LINKS):
            return None
        if low.startswith("mailto:"):
            return Link(u[:200], u, "email", where) if self.config.links.count_email else None
        return Link(u[:200], u, "attachment", where)

    # -- images: the one place image finders run (2D codes today; OCR from issue 10) ---------------

    def see_image(self, piece: ImagePiece, where: Location, m: _Message) -> None:
        """Decode one image piece (every frame or page) within the budget and run the finders."""
        if piece.image is not None:
            m.findings.extend(self.image_findings(piece.image, where))
            return
        # the OCR cache is keyed by the encoded bytes (hashing them is cheaper than the pixels)
        digest = content_key(piece.data) if self.ocr is not None else b""
        for item in frames(piece.data, m.budget, self.config.links.max_image_pixels):
            if isinstance(item, Unscannable):
                m.unscan(item.reason, item.detail, where.child(item.where))
                continue
            sub, image = item
            if not m.budget.check_time():
                if not m.out_of_time:
                    m.out_of_time = True
                    m.unscan("budget", m.budget.time_note(), where.child(sub))
                return
            key = digest + sub.encode() if digest else b""
            m.findings.extend(self.image_findings(image, where.child(sub), key))

    def image_findings(self, image: Any, where: Location, key: bytes = b"") -> list[Link]:
        """Every finder that reads a decoded grey-scale PIL image: 2D codes, then OCR.

        key: a content hash of the encoded image and frame, for the OCR cache (b"": hash pixels)."""
        out = code_links(image, where, self.text.find) if self.config.links.scan_qr else []
        if self.ocr is not None:
            m = _current.get()
            if m is None:  # called outside scan(): a budget of its own
                m = self._new_message()
            r = self.ocr.find_image(image, where, m.ocr, key, time_left=m.budget.deadline - time.monotonic())
            out.extend(x for x in r.links if all(x.url != y.url for y in out))
            if r.unscannable:
                m.unscan(
                    "unparseable" if r.reason == "unparseable" else "budget",
                    r.unscannable,
                    where.child("ocr"),
                )
        return out

    def _image_hook(self, data: bytes, where: Location) -> list[Link]:
        """QR codes (and SVG links) in data: images inside HTML, within the current message's budget."""
        m = _current.get()
        if m is None:  # HtmlFinder used outside scan(): a budget of its own
            m = self._new_message()
        before = len(m.findings)
        # by its bytes, like any content: a data:image/svg+xml is rendered and its links read
        self.content(data, "", "", where, m, 1, 0)
        found = m.findings[before:]
        del m.findings[before:]
        return found


def _header_param(declared: str, key: str) -> str:
    holder = Message()
    holder["Content-Type"] = declared
    try:
        value = holder.get_param(key, "", "content-type")
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231
        value = str(value[2])
    return "".join(str(value).split())  # RFC 2017: a long URL is folded with white space


def external_target(declared: str) -> str:
    """The URL a message/external-body points at ("" when it names none a citizen could follow)."""
    access = _header_param(declared, "access-type").lower()
    if access == "url":
        return _header_param(declared, "url")
    if access in ("ftp", "anon-ftp", "tftp"):
        site = _header_param(declared, "site")
        if not site:
            return ""
        path = "/".join(
            x.strip("/") for x in (_header_param(declared, "directory"), _header_param(declared, "name")) if x
        )
        return f"{'tftp' if access == 'tftp' else 'ftp'}://{site}/{path}"
    return ""


def _quoted(fmt: str, name: str) -> str:
    what = FORMAT_NAMES.get(fmt, fmt.upper() if len(fmt) <= 4 else fmt)
    return f'{what} "{name}"' if name else what


_lock = threading.Lock()
_scanners: dict[Config, Scanner] = {}


def scanner_for(config: Config | None = None) -> Scanner:
    cfg = config or Config()
    with _lock:
        s = _scanners.get(cfg)
        if s is None:
            s = _scanners[cfg] = Scanner(cfg)
        return s


def scan_message(data: bytes, config: Config | None = None) -> ScanResult:
    """Every link a citizen could follow in one message (bytes as received)."""
    return scanner_for(config).scan(data)


def find_links(text: str) -> list[Link]:
    """Links in a piece of text, with the default configuration."""
    return scanner_for().text.find(text, Location("", "", "text"))
