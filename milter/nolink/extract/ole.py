"""Legacy binary Office (OLE compound files): Word `.doc`, Excel `.xls`, PowerPoint `.ppt`, and
what other OLE files carry (embedded packages, encrypted OOXML); Outlook `.msg` goes to msg.py.

Why olefile: pure Python, the reference reader for the compound file format (also what oletools and
extract-msg build on), tolerant of truncated files, no system library.

- Word: the text is read through the document's piece table (each piece is UTF-16LE or 8-bit
  cp1252), so the main text, headers, footers, footnotes, comments and text boxes all come out in
  order; field instructions (`HYPERLINK "..."`, `INCLUDEPICTURE "..."`) become URLs.
- Excel: the text-bearing records (shared strings, labels, hyperlinks, comments and text boxes) read
  as UTF-16LE and 8-bit runs.
- PowerPoint: the record tree of the "PowerPoint Document" stream (text atoms of slides, masters and
  notes; hyperlink targets in CString atoms).
- Pictures (Word's Data stream, PowerPoint's Pictures stream, Excel's drawing records) are cut out by
  their signatures (PNG, JPEG, GIF, BMP) and decoded for codes.
- Documents embedded in another OLE file (ObjectPool/_1/WordDocument, an embedded Workbook) are
  read in place; OLE Package objects and `Package`/`CONTENTS` streams are children.
- Visio and Publisher files are "unsupported" (documents with no reader here); other OLE files
  (Thumbs.db, installers) hold nothing a citizen reads.
- Encrypted documents (Word fEncrypted/fObfuscated, Excel FILEPASS, PowerPoint EncryptedSummary,
  an encrypted OOXML package) are unscannable ("encrypted"); a file olefile cannot open is
  "unparseable".
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any

from . import metafile, office
from ._out import Out, at, named
from .base import Budget, Extracted

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_PICTURES = 100
_UTF16_RUN = re.compile(
    rb"(?:[\x09\x0a\x0d\x20-\x7e\xa0-\xff]\x00|[\x00-\x7f]\x0e|[\x00-\x6f]\x20|[\x00-\xef]\xff){4,}"
)
_ASCII_RUN = re.compile(rb"[\x09\x0a\x0d\x20-\x7e]{5,}")
_FIELD = re.compile(r"\x13([^\x13\x14\x15]*)(?=[\x14\x15])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_IMAGE_SIGS = re.compile(rb"\x89PNG\r\n\x1a\n|\xff\xd8\xff[\xc0-\xfe]|GIF8[79]a")
# OfficeArt BLIP records of metafile pictures (the drawing layer of .doc, .xls and .ppt): the record
# header's version/instance and type, EMF (0xF01A, instance 0x3D4/0x3D5) and WMF (0xF01B, 0x216/0x217)
_METAFILE_BLIP = re.compile(rb"[\x40\x50]\x3d\x1a\xf0|[\x60\x70]\x21\x1b\xf0")
_XLS_TEXT_RECORDS = frozenset((0x003C, 0x0204, 0x01B8, 0x01B6, 0x0207, 0x0018, 0x0800))
_PPT_TEXT = {0x0FA0: "utf-16-le", 0x0FA8: "latin-1", 0x0FBA: "utf-16-le"}


def utf16_runs(data: bytes) -> str:
    return "\n".join(m.group().decode("utf-16-le", "replace") for m in _UTF16_RUN.finditer(data))


def ascii_runs(data: bytes) -> str:
    return "\n".join(m.group().decode("ascii") for m in _ASCII_RUN.finditer(data))


def carve_pictures(data: bytes, out: Out, where: str, count: list[int]) -> None:
    """PNG, JPEG and GIF pictures inside a binary stream, cut out by their signatures."""
    starts = [m.start() for m in _IMAGE_SIGS.finditer(data)]
    for i, start in enumerate(starts):
        if count[0] >= MAX_PICTURES:
            out.cannot("budget", f"more than {MAX_PICTURES} pictures", where)
            return
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        if data.startswith(b"\x89PNG", start):
            iend = data.find(b"IEND\xaeB`\x82", start)
            end = iend + 8 if iend > 0 else end
        count[0] += 1
        out.image(data[start:end], at(where, f"picture {count[0]}"))
    for m in _METAFILE_BLIP.finditer(data):
        if count[0] >= MAX_PICTURES:
            out.cannot("budget", f"more than {MAX_PICTURES} pictures", where)
            return
        picture = _metafile_blip(data, m.start())
        if picture is not None:
            count[0] += 1
            out.child(picture, "", "", at(where, f"picture {count[0]}"))


def _metafile_blip(data: bytes, start: int) -> bytes | None:
    """The EMF or WMF inside an OfficeArt BLIP record (MS-ODRAW OfficeArtBlipEMF/WMF): after the
    record header, one or two 16-byte UIDs and a 34-byte metafile header whose compression byte says
    whether the picture is deflated (0x00) or stored (0xFE); None when it is not one."""
    if start + 8 > len(data):
        return None
    ver_instance, _, length = struct.unpack_from("<HHI", data, start)
    instance = ver_instance >> 4
    body = data[start + 8 : start + 8 + length]
    if len(body) != length:
        return None
    at_header = 32 if instance & 1 else 16  # 0x3D5, 0x217: a second UID
    if len(body) < at_header + 34:
        return None
    size, _, _, _, _, _, _, saved, compression = struct.unpack_from("<I4i2iIB", body, at_header)
    payload = body[at_header + 34 : at_header + 34 + saved]
    if compression == 0x00:
        try:
            picture = zlib.decompressobj().decompress(
                payload, min(size, MAX_STREAM_BYTES) or MAX_STREAM_BYTES
            )
        except zlib.error:
            return None
    elif compression == 0xFE:
        picture = payload
    else:
        return None
    return picture if metafile.is_metafile(picture) else None


def _doc_text(word: bytes, table: bytes) -> str | None:
    """Word's text through its piece table (CLX), or None when the FIB does not lead to one."""
    try:
        fc_clx, lcb_clx = struct.unpack_from("<II", word, 0x01A2)
        clx = table[fc_clx : fc_clx + lcb_clx]
        pos = 0
        while pos < len(clx) and clx[pos] == 0x01:  # Prc: property modifiers, skipped
            (cb,) = struct.unpack_from("<h", clx, pos + 1)
            pos += 3 + max(cb, 0)
        if pos >= len(clx) or clx[pos] != 0x02:
            return None
        (lcb,) = struct.unpack_from("<I", clx, pos + 1)
        plc = clx[pos + 5 : pos + 5 + lcb]
        n = (len(plc) - 4) // 12
        if n <= 0:
            return None
        cps = struct.unpack_from(f"<{n + 1}I", plc, 0)
        parts: list[str] = []
        for i in range(n):
            (fc,) = struct.unpack_from("<I", plc, 4 * (n + 1) + 8 * i + 2)
            chars = max(0, cps[i + 1] - cps[i])
            if fc & 0x40000000:
                off = (fc & 0x3FFFFFFF) // 2
                parts.append(word[off : off + chars].decode("cp1252", "replace"))
            else:
                parts.append(word[fc : fc + 2 * chars].decode("utf-16-le", "replace"))
        return "".join(parts)
    except struct.error:
        return None


def _doc(ole: Any, out: Out, where: str, pictures: list[int], prefix: str = "") -> None:
    word = _read(ole, prefix + "WordDocument")
    if len(word) < 0x200 or word[:2] != b"\xec\xa5":
        out.cannot("unparseable", "Word document without a valid header", where)
        return
    (flags,) = struct.unpack_from("<H", word, 0x0A)
    if flags & 0x0100 or flags & 0x8000:
        out.cannot("encrypted", "password-protected Word document", where)
        return
    table = _read(ole, prefix + ("1Table" if flags & 0x0200 else "0Table"))
    text = _doc_text(word, table)
    if text is None:
        text = utf16_runs(word) + "\n" + ascii_runs(word)
    for m in _FIELD.finditer(text):
        office.field_instruction(m.group(1), out, at(where, "field"))
    text = _FIELD.sub(" ", text)
    text = _CONTROL.sub(" ", text.replace("\r", "\n")).replace("\x14", " ").replace("\x15", " ")
    out.text(text, where)
    if ole.exists(prefix + "Data"):
        carve_pictures(_read(ole, prefix + "Data"), out, where, pictures)


class _Segments:
    """The SST record and its CONTINUE records read as one stream; a string's characters that run
    into a CONTINUE start there with a new option byte (8-bit or UTF-16), as Excel writes them."""

    def __init__(self, segments: list[bytes]) -> None:
        self.segments = segments
        self.i = 0
        self.pos = 0

    def _next(self) -> bool:
        self.i += 1
        self.pos = 0
        return self.i < len(self.segments)

    def raw(self, n: int) -> bytes:
        out = bytearray()
        while n > 0 and self.i < len(self.segments):
            seg = self.segments[self.i]
            take = seg[self.pos : self.pos + n]
            out += take
            self.pos += len(take)
            n -= len(take)
            if n > 0 and not self._next():
                break
        if n > 0:
            raise struct.error("SST runs past its records")
        return bytes(out)

    def chars(self, cch: int, high: bool) -> str:
        parts: list[str] = []
        while cch > 0:
            seg = self.segments[self.i] if self.i < len(self.segments) else b""
            width = 2 if high else 1
            n = min(cch, (len(seg) - self.pos) // width)
            if n <= 0:
                if not self._next():
                    raise struct.error("SST string runs past its records")
                high = bool(self.segments[self.i][:1] == b"\x01")
                self.pos = 1
                continue
            chunk = seg[self.pos : self.pos + n * width]
            parts.append(chunk.decode("utf-16-le" if high else "latin-1", "replace"))
            self.pos += n * width
            cch -= n
        return "".join(parts)


def sst_strings(segments: list[bytes]) -> list[str]:
    """The shared strings of a BIFF8 workbook (every cell's text), as far as they can be read."""
    r = _Segments(segments)
    out: list[str] = []
    try:
        _total, unique = struct.unpack("<II", r.raw(8))
        for _ in range(min(unique, 1_000_000)):
            cch, flags = struct.unpack("<HB", r.raw(3))
            runs = struct.unpack("<H", r.raw(2))[0] if flags & 0x08 else 0
            ext = struct.unpack("<I", r.raw(4))[0] if flags & 0x04 else 0
            out.append(r.chars(cch, bool(flags & 0x01)))
            r.raw(4 * runs)
            r.raw(ext)
    except struct.error:
        pass
    return out


def _xls(ole: Any, stream: str | list[str], out: Out, where: str, pictures: list[int]) -> None:
    data = _read(ole, stream)
    pos = 0
    texts: list[bytes] = []
    drawings: list[bytes] = []
    ssts: list[list[bytes]] = []
    prev = 0
    while pos + 4 <= len(data):
        rtype, size = struct.unpack_from("<HH", data, pos)
        body = data[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if rtype == 0x002F:  # FILEPASS
            out.cannot("encrypted", "password-protected Excel workbook", where)
            return
        if rtype == 0x00FC:  # SST: the workbook's strings, continued in CONTINUE records
            ssts.append([body])
            prev = rtype
            continue
        if rtype == 0x003C and prev == 0x00FC:
            ssts[-1].append(body)
            continue
        prev = rtype
        if rtype in _XLS_TEXT_RECORDS:
            texts.append(body)
        elif rtype in (0x00EB, 0x00EC):  # MsoDrawingGroup / MsoDrawing (pictures)
            drawings.append(body)
    strings = [s for segs in ssts for s in sst_strings(segs)]
    joined = b"".join(texts)
    out.text("\n".join([*strings, utf16_runs(joined), ascii_runs(joined)]), where)
    carve_pictures(b"".join(drawings), out, where, pictures)


def _ppt(ole: Any, out: Out, where: str, pictures: list[int], prefix: str = "") -> None:
    if ole.exists(prefix + "EncryptedSummary"):
        out.cannot("encrypted", "password-protected PowerPoint presentation", where)
        return
    data = _read(ole, prefix + "PowerPoint Document")
    texts: list[str] = []
    pos = 0
    while pos + 8 <= len(data):
        ver_inst, rtype, size = struct.unpack_from("<HHI", data, pos)
        if ver_inst & 0x000F == 0x000F:  # container: its children follow
            pos += 8
            continue
        if rtype == 0x2F14:  # CryptSession10Container
            out.cannot("encrypted", "password-protected PowerPoint presentation", where)
            return
        codec = _PPT_TEXT.get(rtype)
        if codec:
            texts.append(data[pos + 8 : pos + 8 + size].decode(codec, "replace"))
        pos += 8 + size
    text = "\n".join(texts).replace("\r", "\n").replace("\x0b", "\n")
    out.text(text, where)
    if ole.exists(prefix + "Pictures"):
        carve_pictures(_read(ole, prefix + "Pictures"), out, where, pictures)


def _ole10native(data: bytes) -> tuple[str, bytes]:
    """The file inside an OLE Package object (\\x01Ole10Native): its label and bytes."""
    try:
        pos = 4 + 2
        end = data.index(b"\x00", pos)
        label = data[pos:end].decode("cp1252", "replace")
        pos = data.index(b"\x00", end + 1) + 1  # original path
        pos += 4  # reserved
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4 + n  # temporary path
        (size,) = struct.unpack_from("<I", data, pos)
        return label, data[pos + 4 : pos + 4 + size]
    except (ValueError, struct.error):
        return "", data[4:]


def _read(ole: Any, path: str | list[str]) -> bytes:
    try:
        if ole.get_size(path) > MAX_STREAM_BYTES:
            return b""
        data: bytes = ole.openstream(path).read()
        return data
    except Exception:
        return b""


def is_msg(ole: Any) -> bool:
    return bool(ole.exists("__properties_version1.0")) or any(
        e and e[0].startswith("__substg1.0_") for e in ole.listdir(streams=True, storages=False)
    )


def parse(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    import olefile

    out = Out()
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as e:
        out.cannot("unparseable", f"unreadable OLE file ({type(e).__name__})", where)
        return out.done()
    try:
        if ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo"):
            out.cannot("encrypted", "password-protected Office document", where)
            return out.done()
        if is_msg(ole):
            from . import msg

            return msg.from_ole(ole, where, budget)
        pictures = [0]
        if ole.exists("WordDocument"):
            _doc(ole, out, where, pictures)
        elif ole.exists("Workbook") or ole.exists("Book"):
            _xls(ole, "Workbook" if ole.exists("Workbook") else "Book", out, where, pictures)
        elif ole.exists("PowerPoint Document"):
            _ppt(ole, out, where, pictures)
        elif ole.exists("VisioDocument") or ole.exists("Quill"):
            kind = "Visio drawing" if ole.exists("VisioDocument") else "Publisher document"
            out.cannot("unsupported", f"{kind} (no reader here)", where)
            return out.done()
        for entry in ole.listdir(streams=True, storages=False):
            leaf = entry[-1]
            loc = at(where, "/".join(entry))
            if leaf == "\x01Ole10Native":
                label, body = _ole10native(_read(ole, entry))
                out.child(body, label, "application/octet-stream", loc)
            elif len(entry) > 1 and leaf in ("Workbook", "Book"):  # an embedded workbook (ObjectPool/_1/)
                _xls(ole, entry, out, loc, pictures)
            elif len(entry) > 1 and leaf == "WordDocument":  # an embedded Word document
                _doc(ole, out, loc, pictures, "/".join(entry[:-1]) + "/")
            elif len(entry) > 1 and leaf == "PowerPoint Document":
                _ppt(ole, out, loc, pictures, "/".join(entry[:-1]) + "/")
            elif leaf in ("Package", "CONTENTS"):
                out.child(_read(ole, entry), leaf, "application/octet-stream", loc)
    except Exception as e:
        out.cannot("unparseable", f"unreadable OLE file ({type(e).__name__})", where)
    finally:
        ole.close()
    return out.done()


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)
