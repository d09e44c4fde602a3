"""Turn raw MIME bytes into text: Content-Transfer-Encoding, charsets, RFC 2047 headers.

Nothing here raises on bad input: broken base64 is repaired, broken quoted-printable is taken as far
as it goes, an unknown or wrong charset falls back to detection (charset-normalizer) and finally to
latin-1, which maps every byte to one character and so loses nothing a link could be made of.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

from charset_normalizer import from_bytes

_NOT_B64 = bytes(b for b in range(256) if not (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/")))
_ALIASES = {
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "win-874": "cp874",
    "ms874": "cp874",
    "tis620": "tis_620",
    "tis-620": "tis_620",
    "iso-8859-11": "iso8859_11",
    "iso8859-11": "iso8859_11",
    "x-tis620": "tis_620",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "x-unknown": "",
    "unknown-8bit": "",
}
# Codecs Python knows that are no mail charset: they raise on ordinary bytes (idna, punycode,
# undefined) or turn backslashes into other characters (unicode-escape). Treated as unknown.
_NOT_MAIL_CHARSETS = frozenset(("idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"))
_LATIN = frozenset(("iso8859-1", "iso8859-15", "cp1252", "iso8859-2", "ascii"))
_THAI_RUN = re.compile(rb"[\xa1-\xfb]{3,}")
# bytes.translate(None, these) counts them at C speed (a generator over 64 KiB took 0.3 ms)
_PRINTABLE = bytes([9, 10, 13, *range(0x20, 0x7F)])
_HIGH = bytes(range(0x80, 0x100))
DETECT_LIMIT = 64 * 1024  # bytes given to the detector: enough to recognise a charset, bounded in time


def b64decode(data: bytes) -> bytes:
    """Base64 as mail clients decode it: stray characters skipped, padding repaired."""
    if b"=" in data.rstrip(b"=\r\n \t"):  # padding in the middle: what follows it is junk
        data = data.split(b"=", 1)[0]
    clean = data.translate(None, _NOT_B64)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:  # pragma: no cover - the input is already clean
        return b""


def qpdecode(data: bytes) -> bytes:
    """Quoted-printable; soft line breaks (also inside a URL) are joined."""
    data = data.replace(b"=\r\n", b"").replace(b"=\n", b"")
    return binascii.a2b_qp(data)


def transfer_decode(data: bytes, cte: str) -> bytes:
    cte = cte.strip().lower()
    if cte == "base64":
        return b64decode(data)
    if cte in ("quoted-printable", "quoted_printable"):
        return qpdecode(data)
    return data


def codec_for(charset: str | None) -> str:
    """Python codec name for a declared charset, or "" when there is none or it is unknown."""
    if not charset:
        return ""
    name = charset.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if not name or "\x00" in name:
        return ""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a name Python cannot pass to C ("utf-8\0")
        return ""
    # bytes-to-bytes codecs (base64, rot13, zlib) cannot decode to text at all
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_CHARSETS:
        return ""
    return info.name


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset; when it is missing, unknown or wrong, detect; never fail."""
    codec = codec_for(charset)
    if codec in _LATIN and _looks_thai(data):
        codec = "cp874"  # Thai mail labelled iso-8859-1 / windows-1252 by a misconfigured client
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError, ValueError):
            pass
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _looks_thai(data):
        try:
            return data.decode("cp874")
        except UnicodeDecodeError:
            pass
    best = from_bytes(data[:DETECT_LIMIT]).best()
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding, "replace")
        except (UnicodeError, LookupError, ValueError):  # pragma: no cover - the detector names Python codecs
            pass
    return data.decode("latin-1")


# Charsets that give ASCII bytes other letters (EBCDIC and friends). A client that does not know the
# label shows the bytes as ASCII, so such text is searched both ways (see readings).
def readings(data: bytes, charset: str | None = None) -> list[str]:
    """Every plausible reading of a body: the declared one first, then others a client might show.

    Where a client might show the text another way than the label says (an EBCDIC or UTF-16 label
    on plain ASCII bytes, which a client that does not know the label shows as ASCII), the link
    check must search each. Plain ASCII under an ASCII-compatible label has one reading.
    """
    first = decode_bytes(data, charset)
    codec = codec_for(charset)
    if codec and not _ascii_compatible(codec):
        sample = data[:DETECT_LIMIT]
        if len(sample) - len(sample.translate(None, _PRINTABLE)) >= 0.9 * len(sample):
            plain = data.decode("utf-8", "replace")
            if plain != first:
                return [first, plain]
    return [first]


@functools.lru_cache(maxsize=256)
def _ascii_compatible(codec: str) -> bool:
    """True when the codec reads the letters and punctuation of a URL as ASCII does."""
    probe = b"https://www.example.com/path?q=1#x"
    try:
        return probe.decode(codec) == probe.decode("ascii")
    except (UnicodeError, LookupError, ValueError):
        return False


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def not_base64(data: bytes) -> bool:
    """True when a body declared base64 is plainly not base64 (8-bit text, words with spaces).

    Clients differ here: some decode what they can, some show the text as written. The scanner
    then searches both readings.
    """
    junk = len(data.translate(None, _B64_ALPHABET))
    return junk >= 4 and junk * 100 >= len(data)


def _looks_thai(data: bytes) -> bool:
    """TIS-620 text is runs of bytes in 0xA1-0xFB; Latin-1 text has lone accented letters."""
    sample = data[:DETECT_LIMIT]
    high = len(sample) - len(sample.translate(None, _HIGH))
    if high < 6:
        return False
    in_runs = sum(len(m) for m in _THAI_RUN.findall(sample))
    return in_runs >= 0.7 * high


_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75}+)\?([bBqQ])\?([^?\s]*+)\?=")


def encoded_words(value: str) -> list[tuple[bytes | str, str | None]]:
    """RFC 2047: (decoded bytes, charset) for each run of encoded-words, (text, None) between them.

    Linear in the header's length (email.header.decode_header took 28 s for a 1 MB Subject of
    encoded-words). Whitespace between two encoded-words is dropped (RFC 2047 section 6.2), and
    adjacent words in one charset are joined before decoding, so a character or a URL split across
    two words comes back whole. "charset*lang" (RFC 2231) keeps the charset.
    """
    parts: list[tuple[bytes | str, str | None]] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        if between and not (pos and between.isspace() and parts and parts[-1][1] is not None):
            parts.append((between, None))
        cs = m.group(1).split("*", 1)[0]
        payload = m.group(3).encode("ascii", "replace")
        raw = b64decode(payload) if m.group(2) in "bB" else binascii.a2b_qp(payload, header=True)
        prev = parts[-1] if parts else None
        if (
            prev is not None
            and prev[1] is not None
            and prev[1].lower() == cs.lower()
            and isinstance(prev[0], bytes)
        ):
            parts[-1] = (prev[0] + raw, prev[1])
        else:
            parts.append((raw, cs))
        pos = m.end()
    if pos < len(value):
        parts.append((value[pos:], None))
    return parts


def header_text(value: str) -> str:
    """An RFC 2047 header as a reader sees it (the first of header_readings)."""
    return header_readings(value)[0]


_RAW_BYTE = re.compile("[\udc80-\udcff]")  # raw 8-bit header bytes, kept by the parser as surrogates
_FOLD = re.compile(r"\r?\n[ \t]")


def header_readings(value: str) -> list[str]:
    """An RFC 2047 header as a reader sees it, and as a client that does not know its charset may.

    Adjacent encoded-words are joined without the space between them (RFC 2047 section 6.2), so a
    URL split across two encoded-words comes back whole. Raw 8-bit bytes (which the parser keeps as
    surrogates) are decoded like a body.
    """
    if _RAW_BYTE.search(value):
        value = decode_bytes(value.encode("ascii", "surrogateescape"))
    if "\n" in value:
        value = _FOLD.sub(" ", value)
    if "=?" not in value:
        return [value]
    parts = encoded_words(value)
    out: list[str] = []
    alt: list[str] = []
    for chunk, cs in parts:
        if isinstance(chunk, bytes):
            r = readings(chunk, cs) if cs else [chunk.decode("latin-1")]
            out.append(r[0])
            alt.append(r[-1])
        else:
            out.append(chunk)
            alt.append(chunk)
    first, other = "".join(out), "".join(alt)
    return [first] if other == first else [first, other]
