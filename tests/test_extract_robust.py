"""Bad input never crashes a 9b extractor: random bytes and damaged real files give pieces or
Unscannable, never an exception (the scanner would otherwise report a generic error)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nolink.extract import Budget, calendar, mhtml, msg, office, ole, rtf, smime, textbody, tnef

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "office"
PARSERS = {
    "rtf": lambda d: rtf.parse(d),
    "office": lambda d: office.parse(d, "", Budget()),
    "ole": lambda d: ole.parse(d),
    "msg": lambda d: msg.parse(d),
    "tnef": lambda d: tnef.parse(d),
    "smime": lambda d: smime.parse(d),
    "mhtml": lambda d: mhtml.parse_mhtml(d),
    "calendar": lambda d: calendar.parse(d),
    "text": lambda d: textbody.read(d.decode("latin-1"), "text/plain; format=flowed; delsp=yes"),
}


@pytest.mark.parametrize("kind", sorted(PARSERS))
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_bytes(kind: str, data: bytes) -> None:
    PARSERS[kind](data)


RTF_TOKENS = [
    b"{",
    b"}",
    b"\\u-3913?",
    b"\\u99999999 ",
    b"\\'e0",
    b"\\'g",
    b"\\bin5 ",
    b"\\bin-3 ",
    b"\\*",
    b"\\fldinst ",
    b"\\pict ",
    b"\\objdata ",
    b'HYPERLINK "x',
    b"\\fromhtml1 ",
    b"\\htmltag ",
    b"\\f1 ",
    b"\\fonttbl",
    b"\\fcharset222 ",
    b"\\uc0 ",
    b"\\ansicpg99999 ",
    b"text",
    b"\\\\",
    b"\r\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(RTF_TOKENS), max_size=60))
def test_rtf_token_soup(tokens: list[bytes]) -> None:
    rtf.parse(b"{\\rtf1 " + b"".join(tokens))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".py"))
def test_damaged_fixtures(name: str) -> None:
    import gzip

    data = (FIXTURES / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    rng = random.Random(name)
    parse = (
        ole.parse
        if data.startswith(ole.OLE_MAGIC)
        else rtf.parse
        if data.startswith(b"{\\rtf")
        else office.parse
    )
    for _ in range(25):
        damaged = bytearray(data[: rng.randrange(len(data))] if rng.random() < 0.3 else data)
        for _ in range(rng.randrange(1, 20)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        parse(bytes(damaged))


@settings(max_examples=40, deadline=None)
@given(rtf_body=st.binary(max_size=300), html_body=st.binary(max_size=100), mapi=st.binary(max_size=200))
def test_random_outlook_properties(rtf_body: bytes, html_body: bytes, mapi: bytes) -> None:
    import struct

    import cfb
    from test_extract_outlook import tnef_stream

    header = struct.pack("<IIII", len(rtf_body) + 12, len(rtf_body) * 3, 0x75465A4C, 0)
    msg.parse(
        cfb.build({"__substg1.0_10090102": header + rtf_body, "__substg1.0_10130102": html_body or b"x"})
    )
    tnef.parse(tnef_stream(mapi=mapi))
