"""MHT/MHTML (a web page or a Word document saved as one MIME file): every part with its own
transfer encoding and charset; HTML parts go to the HTML finder, the others are children.

A part's own `Content-Location` (`file:///C:/Users/…/letter.htm` in a Word .mht) names where the
file was saved: it is not a link, and relative references inside the page are resolved against it
only when it is a web address (a page saved from the web links to that site).
"""

from __future__ import annotations

from ..decode import decode_bytes, header_text
from ..mime import Leaf, parse, walk
from ._out import Out, at, named
from .base import Budget, Extracted
from .office import xml_text

MAX_PARTS = 500


def parse_mhtml(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    out = Out()
    try:
        msg = parse(data)
    except Exception as e:  # pragma: no cover - the e-mail parser accepts any bytes
        out.cannot("unparseable", f"unreadable MHTML ({type(e).__name__})", where)
        return out.done()
    subject = msg.get("Subject")
    if subject:
        out.text(header_text(str(subject)), at(where, "subject"))
    n = 0
    for item in walk(msg, 20):
        if not isinstance(item, Leaf):
            continue
        n += 1
        if n > MAX_PARTS:
            out.cannot("budget", f"MHTML with more than {MAX_PARTS} parts", where)
            break
        location = item.base.strip()
        name = location.replace("\\", "/").rsplit("/", 1)[-1] if location else item.filename
        loc = at(where, f"part {item.number}" + (f" {name}" if name else ""))
        base = location if location.lower().startswith(("http://", "https://")) else ""
        if item.content_type in ("text/html", "application/xhtml+xml"):
            out.text(decode_bytes(item.data, item.charset), loc, html=True, base=base)
        elif item.content_type in ("text/xml", "application/xml"):
            # Word's filelist.xml, colorschememapping.xml: markup and namespaces, not text a reader sees
            out.text(xml_text(item.data), loc)
        elif item.content_type == "text/plain":
            out.text(decode_bytes(item.data, item.charset), loc)
        else:
            declared = item.content_type + (f"; charset={item.charset}" if item.charset else "")
            out.child(item.data, name, declared, loc)
    return out.done()


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse_mhtml(data, "", budget), name)
