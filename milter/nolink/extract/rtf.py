"""RTF read as RTF: visible text, field instructions, pictures and embedded objects.

Why our own tokenizer and not striprtf: striprtf turns a document into plain text and throws the
rest away, but the links in RTF sit exactly in what it drops or flattens: field instructions
(`{\\field{\\*\\fldinst HYPERLINK "..."}}`), pictures (`\\pict` hex data: a QR code), embedded objects
(`\\objdata`), and the HTML that Outlook wraps in RTF (`\\fromhtml1` with `\\*\\htmltag` groups). A
tokenizer that keeps a group stack (destination, `\\ucN`, current font) is a few hundred lines and
decodes `\\'hh` with the document's code page (`\\ansicpg874`, or the font's `\\fcharset222` for Thai)
and `\\uN` escapes as Word does.
"""

from __future__ import annotations

import binascii
import re
import struct
from dataclasses import dataclass

from . import metafile
from ._out import Out, at, named
from .base import Budget, BudgetExceeded, Extracted

# RTF \fcharset numbers to Python codecs (Word's table).
_CHARSETS = {
    0: "cp1252",
    2: "",  # symbol font: no text
    77: "mac_roman",
    128: "cp932",
    129: "cp949",
    130: "johab",
    134: "gbk",
    136: "big5",
    161: "cp1253",
    162: "cp1254",
    163: "cp1258",
    177: "cp1255",
    178: "cp1256",
    186: "cp1257",
    204: "cp1251",
    222: "cp874",
    238: "cp1250",
    255: "cp437",
}
_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word
    r"|\\'([0-9a-fA-F]{2})"  # hex byte
    r"|\\([^a-zA-Z'])"  # control symbol
    r"|([{}])"
    r"|[\r\n]+"
    r"|([^\\{}\r\n]+)",
    re.S,
)
# Destinations whose content is not text a reader sees.
_SKIP = frozenset(
    (
        "fonttbl",
        "colortbl",
        "stylesheet",
        "info",
        "listtable",
        "listoverridetable",
        "revtbl",
        "filetbl",
        "rsidtbl",
        "generator",
        "xmlnstbl",
        "themedata",
        "colorschememapping",
        "latentstyles",
        "datastore",
        "nonshppict",
        "pntext",
        "pntxta",
        "pntxtb",
        "listtext",
        "objclass",
        "result",
        "sn",
        "mmathPr",
        "pgdsctbl",
        "bkmkstart",
        "bkmkend",
        "xe",
        "tc",
        "falt",
        "panose",
        "fname",
        "datafield",
        "passwordhash",
        "wgrffmtfilter",
    )
)
# Ignorable (\*) destinations we still read.
_KEEP_STARRED = frozenset(
    (
        "fldinst",
        "htmltag",
        "objdata",
        "footnote",
        "shppict",
        "shpinst",
        "shptxt",
        "annotation",
        "shp",
        "hl",
        "hlfr",
        "hlsrc",
    )
)
# headers, footers, footnotes and comments: read as text, each on a line of its own
_ASIDES = (
    "header",
    "headerl",
    "headerr",
    "headerf",
    "footer",
    "footerl",
    "footerr",
    "footerf",
    "footnote",
    "annotation",
)
_TEXT_DESTS = frozenset(
    (
        *_ASIDES,
        "fldrslt",
        "field",
        "shptxt",
        "shp",
        "shpinst",
        "shppict",
        "sp",
        "sv",
        "hl",
        "hlfr",
        "hlsrc",
        "ftnsep",
        "atrfstart",
        "atrfend",
        "txe",
    )
)
_BREAKS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "cell": " ", "tab": "\t"}
_CHARS = {
    "emdash": "\u2014",
    "endash": "\u2013",
    "lquote": "\u2018",
    "rquote": "\u2019",
    "ldblquote": "\u201c",
    "rdblquote": "\u201d",
    "bullet": "\u2022",
    "emspace": " ",
    "enspace": " ",
    "qmspace": " ",
}
_HANDLED = (
    _SKIP
    | _TEXT_DESTS
    | frozenset(_BREAKS)
    | frozenset(_CHARS)
    | frozenset(
        (
            "fonttbl",
            "fldinst",
            "htmltag",
            "pict",
            "objdata",
            "ansicpg",
            "ansi",
            "mac",
            "pc",
            "pca",
            "deff",
            "fromhtml",
            "htmlrtf",
            "f",
            "uc",
            "u",
            "pngblip",
            "jpegblip",
            "wmetafile",
            "emfblip",
            "macpict",
            "dibitmap",
            "wbitmap",
        )
    )
)
_SYMBOLS = {"~": " ", "-": "", "_": "-", "\\": "\\", "{": "{", "}": "}", "\n": "\n", "\r": "\n", "\t": "\t"}
_FIELD_URL = re.compile(r"^\s*(HYPERLINK|INCLUDEPICTURE|INCLUDETEXT|LINK)\b(.*)$", re.I | re.S)
_FIELD_ARG = re.compile(r'"([^"]*)"|(\S+)')
_SWITCH_WITH_ARG = re.compile(r"^\\[lmnotc]$", re.I)


@dataclass(slots=True)
class _Group:
    dest: str  # "text", "fldinst", "htmltag", "pict", "objdata", "skip", "fonttbl"
    uc: int
    font_cp: str
    htmlrtf: bool
    separate: bool = False  # a header, footer, footnote or comment: its own line


_SEPARATE = frozenset(
    (
        *_ASIDES,
        "shptxt",
        "txe",
    )
)


class _Reader:
    def __init__(self, out: Out, where: str) -> None:
        self.out = out
        self.where = where
        self.text: list[str] = []
        self.html: list[str] = []
        self.fromhtml = False
        self.default_cp = "cp1252"
        self.fonts: dict[int, str] = {}
        self.deff = -1
        self.pending = bytearray()
        self.pending_dest = "text"
        self.skip_chars = 0
        self.fldinst: list[str] = []
        self.blob: list[str] = []
        self.blob_bin: list[bytes] = []
        self.pict_kind = ""
        self.font_num = -1
        self.pictures = 0
        self.objects = 0

    # -- output -------------------------------------------------------------------------------
    def emit(self, g: _Group, s: str) -> None:
        if g.dest == "text":
            if self.fromhtml:
                if not g.htmlrtf:
                    self.html.append(s.replace("&", "&amp;").replace("<", "&lt;"))
            else:
                self.text.append(s)
        elif g.dest == "htmltag":
            self.html.append(s)
        elif g.dest == "fldinst":
            self.fldinst.append(s)

    def flush(self, g: _Group) -> None:
        if self.pending:
            cp = g.font_cp or self.default_cp
            try:
                s = bytes(self.pending).decode(cp or "cp1252", "replace")
            except LookupError:
                s = bytes(self.pending).decode("cp1252", "replace")
            self.pending.clear()
            self.emit(g, s)

    def byte(self, g: _Group, b: int) -> None:
        if self.skip_chars:
            self.skip_chars -= 1
            return
        if g.dest in ("text", "htmltag", "fldinst"):
            self.pending.append(b)

    def chars(self, g: _Group, s: str) -> None:
        if self.skip_chars:
            n = min(self.skip_chars, len(s))
            self.skip_chars -= n
            s = s[n:]
            if not s:
                return
        self.flush(g)
        self.emit(g, s)

    # -- fields -------------------------------------------------------------------------------
    def field_instruction(self, instr: str) -> None:
        m = _FIELD_URL.match(instr)
        if not m:
            self.out.text(instr, at(self.where, "field"))
            return
        args = [a or b for a, b in _FIELD_ARG.findall(m.group(2))]
        target = ""
        i = 0
        local = False
        while i < len(args):
            a = args[i]
            if _SWITCH_WITH_ARG.match(a):
                local = local or a.lower() == "\\l"
                i += 2
                continue
            if a.startswith("\\"):
                i += 1
                continue
            target = a
            break
        if target and not local:
            self.out.url(target.replace("\\\\", "\\"), at(self.where, "field " + m.group(1).upper()))
        elif not target and not local:
            self.out.text(instr, at(self.where, "field"))


def _codepage(n: int) -> str:
    if n in (0, 1252):
        return "cp1252"
    if n == 10000:
        return "mac_roman"
    if n == 65001:
        return "utf-8"
    return f"cp{n}"


def _objdata(data: bytes) -> bytes:
    """The native data of an OLE 1.0 object (\\objdata): usually an OLE compound file."""
    try:
        pos = 8  # OLEVersion, FormatID
        for _ in range(3):  # ClassName, TopicName, ItemName: length-prefixed ANSI strings
            (n,) = struct.unpack_from("<I", data, pos)
            pos += 4 + n
        (size,) = struct.unpack_from("<I", data, pos)
        native = data[pos + 4 : pos + 4 + size]
        return native or data
    except struct.error:
        return data


def parse(data: bytes, where: str = "rtf", budget: Budget | None = None) -> Extracted:
    """Everything a reader of this RTF document could see or click."""
    out = Out()
    r = _Reader(out, where)
    s = data.decode("latin-1")
    stack: list[_Group] = []
    g = _Group("text", 1, "", False)
    pos = 0
    n = len(s)
    starred = False
    tokens = 0
    while pos < n:
        tokens += 1
        if budget is not None and not tokens & 0xFFF and not budget.check_time():
            raise BudgetExceeded(budget.time_note())
        m = _TOKEN.match(s, pos)
        if m is None:  # pragma: no cover - the pattern matches every character
            pos += 1
            continue
        pos = m.end()
        word, arg, hexbyte, symbol, brace, run = m.groups()
        if run is not None:
            if g.dest in ("pict", "objdata"):
                r.blob.append(run)
            elif g.dest == "fonttbl":
                pass
            elif g.dest != "skip":
                if run.isascii():
                    r.chars(g, run)
                else:
                    for ch in run:
                        r.byte(g, ord(ch))
            continue
        if hexbyte is not None:
            if g.dest in ("text", "htmltag", "fldinst"):
                r.byte(g, int(hexbyte, 16))
            continue
        if brace == "{":
            r.flush(g)
            stack.append(g)
            g = _Group(g.dest, g.uc, g.font_cp, g.htmlrtf)
            starred = False
            continue
        if brace == "}":
            r.flush(g)
            closing = g
            g = stack.pop() if stack else _Group("text", 1, "", False)
            if closing.dest != g.dest:
                _end_destination(r, closing.dest)
            if closing.separate:
                r.chars(g, "\n")
            starred = False
            continue
        if symbol is not None:
            if symbol == "*":
                starred = True
                continue
            if symbol == "\n" or symbol == "\r":
                r.chars(g, "\n")
            elif symbol in _SYMBOLS and g.dest not in ("skip", "pict", "objdata", "fonttbl"):
                r.chars(g, _SYMBOLS[symbol])
            continue
        if word is None:
            continue
        # control words
        num = int(arg) if arg is not None else None
        if word == "bin":
            size = max(0, num or 0)
            if g.dest in ("pict", "objdata"):
                r.blob_bin.append(s[pos : pos + size].encode("latin-1"))
            pos += size
            continue
        if starred:
            starred = False
            if word not in _KEEP_STARRED:
                r.flush(g)
                g.dest = "skip"
                continue
        if g.dest == "skip":
            continue
        if word not in _HANDLED and g.dest != "fonttbl":
            continue  # formatting (\\b, \\fs24, \\lang1054 ...): nothing a link is made of
        if word == "fonttbl":
            r.flush(g)
            g.dest = "fonttbl"
            continue
        if g.dest == "fonttbl":
            if word == "f" and num is not None:
                r.font_num = num
                r.fonts.setdefault(num, "")
            elif word == "fcharset" and num is not None and r.font_num >= 0:
                r.fonts[r.font_num] = _CHARSETS.get(num, r.fonts.get(r.font_num, ""))
            elif word == "cpg" and num is not None and r.font_num >= 0:
                r.fonts[r.font_num] = _codepage(num)
            continue
        if word in _SKIP:
            r.flush(g)
            g.dest = "skip"
            continue
        if word == "fldinst":
            r.flush(g)
            g.dest = "fldinst"
            r.fldinst = []
            continue
        if word == "htmltag":
            r.flush(g)
            g.dest = "htmltag" if r.fromhtml else "skip"
            continue
        if word == "pict":
            r.flush(g)
            g.dest = "pict"
            r.blob, r.blob_bin, r.pict_kind = [], [], ""
            continue
        if word == "objdata":
            r.flush(g)
            g.dest = "objdata"
            r.blob, r.blob_bin = [], []
            continue
        if g.dest == "pict":
            if word in ("pngblip", "jpegblip", "wmetafile", "emfblip", "macpict", "dibitmap", "wbitmap"):
                r.pict_kind = word
            continue
        if g.dest == "objdata":
            continue
        if word in _TEXT_DESTS:
            r.flush(g)
            if g.dest not in ("fldinst", "htmltag"):
                g.dest = "text"
                if word in _SEPARATE:
                    g.separate = True
                    r.chars(g, "\n")
            continue
        if word == "ansicpg" and num is not None:
            r.default_cp = _codepage(num)
        elif word in ("ansi", "mac", "pc", "pca"):
            r.default_cp = {"ansi": "cp1252", "mac": "mac_roman", "pc": "cp437", "pca": "cp850"}[word]
        elif word == "deff" and num is not None:
            r.deff = num
        elif word == "fromhtml":
            r.fromhtml = num != 0
        elif word == "htmlrtf":
            r.flush(g)
            g.htmlrtf = num != 0
        elif word == "f" and num is not None:
            r.flush(g)
            g.font_cp = r.fonts.get(num, "")
        elif word == "uc" and num is not None:
            g.uc = max(0, num)
        elif word == "u" and num is not None:
            r.skip_chars = 0
            r.chars(g, chr(num + 65536 if num < 0 else num) if -65536 < num < 0x110000 else "")
            r.skip_chars = g.uc
        elif word in _BREAKS:
            if g.dest == "text" and r.fromhtml and not g.htmlrtf:
                r.flush(g)
                r.html.append("\r\n" if word in ("par", "line") else _BREAKS[word])
            else:
                r.chars(g, _BREAKS[word])
        elif word in _CHARS:
            r.chars(g, _CHARS[word])
    r.flush(g)
    if r.fromhtml:
        out.text(_whole("".join(r.html)), at(where, "html"), html=True)
    else:
        out.text(_whole("".join(r.text)), where)
    return out.done()


def _whole(s: str) -> str:
    """Surrogate pairs written as two \\uN escapes become one character."""
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _end_destination(r: _Reader, dest: str) -> None:
    if dest == "fldinst":
        instr = "".join(r.fldinst)
        r.fldinst = []
        if instr.strip():
            r.field_instruction(instr)
    elif dest == "pict":
        data = _blob(r)
        if data:
            r.pictures += 1
            if metafile.is_metafile(data):  # \wmetafile, \emfblip: drawn by extract/metafile.py
                r.out.child(data, "", "", at(r.where, f"picture {r.pictures}"))
            else:
                r.out.image(data, at(r.where, f"picture {r.pictures}"))
    elif dest == "objdata":
        data = _blob(r)
        if data:
            r.objects += 1
            r.out.child(
                _objdata(data),
                f"object{r.objects}",
                "application/octet-stream",
                at(r.where, f"object {r.objects}"),
            )


def _blob(r: _Reader) -> bytes:
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", "".join(r.blob))
    if len(hexdigits) % 2:
        hexdigits = hexdigits[:-1]
    raw = b"".join(r.blob_bin)
    r.blob, r.blob_bin = [], []
    try:
        return binascii.unhexlify(hexdigits) + raw
    except binascii.Error:  # pragma: no cover - only hex digits are left
        return raw


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)


# -- compressed RTF (MS-OXRTFCP), as Outlook stores it in .msg files and TNEF ------------------------

_LZFU_DICT = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
MAX_DECOMPRESSED = 64 * 1024 * 1024


class CompressedRtfError(ValueError):
    """Compressed RTF that cannot be decompressed (truncated, unknown type, too large)."""


def decompress(data: bytes, budget: Budget | None = None, limit: int = MAX_DECOMPRESSED) -> bytes:
    """LZFu-compressed (or MELA-stored) RTF to RTF bytes; the declared size is taken from the
    message's byte budget first (BudgetExceeded when it does not fit)."""
    if len(data) < 16:
        raise CompressedRtfError("compressed RTF shorter than its header")
    comp_size, raw_size, kind = struct.unpack_from("<III", data, 0)
    if raw_size > limit:
        raise CompressedRtfError(f"compressed RTF of {raw_size} bytes is above the limit")
    if budget is not None:
        budget.spend_bytes(raw_size)
    body = data[16 : 4 + comp_size]
    if kind == 0x414C454D:  # "MELA": stored
        return body[:raw_size]
    if kind != 0x75465A4C:  # "LZFu"
        raise CompressedRtfError(f"unknown compressed RTF type {kind:#x}")
    window = bytearray(4096)
    window[: len(_LZFU_DICT)] = _LZFU_DICT
    wpos = len(_LZFU_DICT)
    out = bytearray()
    pos = 0
    n = len(body)
    while pos < n:
        control = body[pos]
        pos += 1
        for bit in range(8):
            if pos >= n:
                break
            if control & (1 << bit):
                if pos + 1 >= n:
                    return bytes(out)
                ref = (body[pos] << 8) | body[pos + 1]
                pos += 2
                offset, length = ref >> 4, (ref & 0xF) + 2
                if offset == wpos:
                    return bytes(out)
                for i in range(length):
                    b = window[(offset + i) & 0xFFF]
                    out.append(b)
                    window[wpos] = b
                    wpos = (wpos + 1) & 0xFFF
            else:
                b = body[pos]
                pos += 1
                out.append(b)
                window[wpos] = b
                wpos = (wpos + 1) & 0xFFF
            if len(out) > limit:
                raise CompressedRtfError("compressed RTF expands beyond the limit")
    return bytes(out)
