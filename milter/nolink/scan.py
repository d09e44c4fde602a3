"""The scanner: one message's bytes in, every link a citizen could follow out (ScanResult)."""

from __future__ import annotations

import fnmatch
import re
import threading
from email.message import Message

from .config import Config
from .decode import header_readings, readings
from .findings import Link, Location, ScanResult
from .links.attachments import AttachmentScanner, name_links, sniff
from .links.html import HtmlFinder
from .links.images import qr_links
from .links.text import TextFinder, TextOptions
from .mime import HeaderBlock, Leaf, TooDeep, parse, walk
from .psl import load as load_psl

_ADDRESS = re.compile(r"<[^<>\s]*+@[^<>\s]*+>|(?<![\w.+\-=])[\w.+\-=]++@[\w.\-\[\]:]+")  # linear
ADDRESS_HEADERS = frozenset(("from", "to", "cc", "bcc", "reply-to", "sender", "resent-from", "resent-to"))


class Scanner:
    """Scans messages under one configuration. Thread-safe: it holds no per-message state."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        lc = self.config.links
        self.psl = load_psl(lc.psl_file)
        self.text = TextFinder(self.psl, TextOptions(count_email=lc.count_email))
        self.html = HtmlFinder(self.text, self._image_hook if lc.scan_qr and lc.scan_attachments else None)
        self.attachments = AttachmentScanner(self.text.find, lc.max_pdf_pages, lc.max_archive_depth)
        # links.headers are shell patterns ("List-*"): one case-insensitive regex for all of them
        self._headers_re = re.compile("|".join(fnmatch.translate(h) for h in lc.headers) or "(?!)", re.I)

    def scan(self, data: bytes) -> ScanResult:
        findings: list[Link] = []
        errors: list[str] = []
        unchecked: list[str] = []
        try:
            msg = parse(data)
        except Exception as e:
            return ScanResult(errors=(f"message cannot be parsed: {type(e).__name__}",), size=len(data))
        parts = self._message(msg, "", findings, errors, unchecked, 0)
        return ScanResult(tuple(findings), tuple(errors), parts, len(data), tuple(unchecked))

    # -- structure --------------------------------------------------------------------------------

    def _message(
        self,
        msg: Message,
        number: str,
        findings: list[Link],
        errors: list[str],
        unchecked: list[str],
        depth: int,
    ) -> int:
        parts = 0
        for item in walk(msg, self.config.links.max_depth - depth, number):
            if isinstance(item, HeaderBlock):
                findings.extend(self.headers(item.message, item.number))
            elif isinstance(item, TooDeep):
                errors.append(
                    f"part {item.number or '1'}: MIME nesting deeper than {self.config.links.max_depth} "
                    "levels; deeper parts not checked"
                )
            else:
                parts += 1
                try:
                    findings.extend(self._leaf(item, errors, unchecked, depth))
                except RecursionError:
                    errors.append(f"part {item.number}: nested too deeply to check")
                except Exception as e:
                    errors.append(f"part {item.number} {item.content_type}: not checked ({type(e).__name__})")
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

    def _leaf(self, leaf: Leaf, errors: list[str], unchecked: list[str], depth: int) -> list[Link]:
        out: list[Link] = []
        if leaf.filename:
            out.extend(
                name_links(
                    self.text.find, leaf.filename, Location(leaf.number, leaf.content_type, "filename")
                )
            )
        field = f"attachment {leaf.filename}" if leaf.filename else "body"
        where = Location(leaf.number, leaf.content_type, field)
        out.extend(
            self.content(leaf.data, leaf.content_type, leaf.filename, where, depth, leaf, errors, unchecked)
        )
        for alt in leaf.also if leaf.content_type.startswith("text/") else ():  # "base64" that is not
            out.extend(
                self.content(alt, leaf.content_type, leaf.filename, where, depth, leaf, errors, unchecked)
            )
        return out

    def content(
        self,
        data: bytes,
        ctype: str,
        filename: str,
        where: Location,
        depth: int,
        leaf: Leaf | None,
        errors: list[str],
        unchecked: list[str],
    ) -> list[Link]:
        """Links in one piece of content, whatever it is (body part, attachment, archive member)."""
        charset = leaf.charset if leaf else None
        kind = "text" if ctype.startswith("text/") and ctype != "text/html" and not filename else None
        kind = kind or sniff(data, ctype, filename)
        if kind in ("html", "text"):  # every reading a client might show (decode.readings)
            found: list[Link] = []
            for text in readings(data, charset):
                if kind == "html":
                    found.extend(self.html.find(text, where, leaf.base if leaf else ""))
                else:
                    found.extend(self.text.find(text, where))
            return found
        if not self.config.links.scan_attachments:
            return []
        if kind == "pdf":
            return self.attachments.pdf(data, where, unchecked)
        if kind == "zip":

            def recurse(d: bytes, ct: str, fn: str, loc: Location, dp: int) -> list[Link]:
                return self.content(d, ct, fn, loc, dp, None, errors, unchecked)

            return self.attachments.zip(data, where, depth, recurse, unchecked)
        if kind == "image":
            if not self.config.links.scan_qr:
                return []
            return qr_links(data, where, self.text.find, self.config.links.max_image_pixels, unchecked)
        if kind == "message":
            if depth >= self.config.links.max_depth:
                errors.append(f"{where}: attached message nested too deeply; not checked")
                return []
            sub: list[Link] = []
            self._message(parse(data), where.part, sub, errors, unchecked, depth + 1)
            return sub
        return []

    def _image_hook(self, data: bytes, where: Location) -> list[Link]:
        """QR codes in data: images inside HTML."""
        return qr_links(data, where, self.text.find, self.config.links.max_image_pixels, [])


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
