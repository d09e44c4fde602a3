"""Builders for test messages: raw bytes, so every encoding is exactly what the test says."""

from __future__ import annotations

import base64
import io
import zipfile


def message(
    body: bytes | str, ctype: str = "text/plain; charset=utf-8", cte: str = "7bit", headers: str = ""
) -> bytes:
    if isinstance(body, str):
        body = body.encode()
    head = (
        "From: Saraban <saraban@example.go.th>\r\nTo: somchai@example.com\r\nSubject: test\r\n"
        f"{headers}MIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body


def part(body: bytes | str, ctype: str, cte: str = "7bit", extra: str = "") -> bytes:
    if isinstance(body, str):
        body = body.encode()
    return f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n{extra}\r\n".encode() + body


def multipart(parts: list[bytes], subtype: str = "mixed", boundary: str = "b0") -> tuple[bytes, str]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/{subtype}; boundary="{boundary}"'


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def attachment(data: bytes, ctype: str, filename: str) -> bytes:
    return part(b64(data), ctype, "base64", f'Content-Disposition: attachment; filename="{filename}"\r\n')


def pdf(text: str = "", uri: str = "", content: bytes = b"") -> bytes:
    """A one-page PDF with an optional line of text (or a raw content stream) and an optional link
    annotation."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >>" + (b" /Annots [6 0 R]" if uri else b"") + b" >>",
    ]
    stream = f"BT /F1 12 Tf 10 100 Td ({text}) Tj ET".encode() if text else content
    objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if uri:
        objs.append(
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A << /S /URI /URI ("
            + uri.encode()
            + b") >> >>"
        )
    return pdf_objects(objs)


def pdf_objects(objs: list[bytes]) -> bytes:
    """A PDF file of these objects (numbered from 1; object 1 is the catalog)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def docx(text: str = "", link: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr(
            "word/document.xml",
            f"<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )
        rels = '<?xml version="1.0"?><Relationships>'
        if link:
            rels += f'<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="{link}" TargetMode="External"/>'
        rels += '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'
        z.writestr("word/_rels/document.xml.rels", rels)
    return buf.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def qr_png(text: str, canvas: tuple[int, int] = (0, 0), fmt: str = "PNG") -> bytes:
    """A QR code image (optionally pasted on a larger white canvas), as a phone would scan it."""
    import zxingcpp
    from PIL import Image

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    mv = memoryview(code)
    im = Image.frombytes("L", (mv.shape[1], mv.shape[0]), bytes(mv))
    if canvas != (0, 0):
        big = Image.new("L", canvas, 255)
        big.paste(im, (canvas[0] // 3, canvas[1] // 3))
        im = big
    out = io.BytesIO()
    im.convert("RGB").save(out, fmt)
    return out.getvalue()


def qr_image(text: str, scale: int = 4):  # type: ignore[no-untyped-def]
    """A QR code as a grey-scale PIL image (white quiet zone included)."""
    import zxingcpp
    from PIL import Image

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=scale)
    mv = memoryview(code)
    return Image.frombytes("L", (mv.shape[1], mv.shape[0]), bytes(mv))


def scanned_letter(pages: int = 10, qr: str = "", dpi: int = 200, fmt: str = "PDF") -> bytes:
    """A scanned A4 letter as a scanner or img2pdf makes it: one JPEG per page, no text layer;
    with qr, a QR code at the foot of the last page."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(pages * 7 + dpi)
    w, h = int(8.27 * dpi), int(11.69 * dpi)
    ims = []
    for p in range(pages):
        im = Image.new("L", (w, h), 250)
        d = ImageDraw.Draw(im)
        for line in range(40):  # lines of "text": dark dashes, as a scan of a typed letter shows
            y = int(dpi * (1.2 + line * 0.22))
            x = int(dpi * 1.0)
            while x < w - dpi:
                n = rng.randint(dpi // 10, dpi // 3)
                d.rectangle((x, y, x + n, y + dpi // 14), fill=rng.randint(20, 90))
                x += n + dpi // 12
        if qr and p == pages - 1:
            code = qr_image(qr, scale=max(2, dpi // 50))
            im.paste(code, (w - code.width - dpi, h - code.height - dpi))
        ims.append(im)
    out = io.BytesIO()
    if fmt == "PDF":
        ims[0].save(out, "PDF", save_all=True, append_images=ims[1:], resolution=float(dpi), quality=80)
    elif len(ims) > 1:
        ims[0].save(out, fmt, save_all=True, append_images=ims[1:], dpi=(dpi, dpi))
    else:
        ims[0].save(out, fmt, dpi=(dpi, dpi))
    return out.getvalue()


def vector_qr_pdf(text: str, caption: str = "") -> bytes:
    """A one-page PDF whose QR code is drawn as filled rectangles (vector paths), as LibreOffice or
    a design tool draws it; an optional caption as real text."""
    import zxingcpp

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=1)
    mv = memoryview(code)
    rows, cols = mv.shape[0], mv.shape[1]
    data = bytes(mv)
    ops = ["0 g"]
    for y in range(rows):
        for x in range(cols):
            if data[y * cols + x] < 128:
                ops.append(f"{50 + x * 4} {150 - y * 4} 4 4 re")
    ops.append("f")
    if caption:
        ops.append(f"BT /F1 10 Tf 50 20 Td ({caption}) Tj ET")
    return pdf(content="\n".join(ops).encode())


def rar4(files: dict[str, bytes], encrypted: bool = False) -> bytes:
    """A RAR 4 archive with stored (uncompressed) members, written by hand: no free tool writes
    RAR. encrypted sets the header flag a password-protected member carries."""
    import struct
    import zlib

    out = b"Rar!\x1a\x07\x00"
    head = struct.pack("<BHH", 0x73, 0, 13) + b"\x00" * 6
    out += struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head
    for name, data in files.items():
        n = name.encode()
        flags = 0x8000 | (0x04 if encrypted else 0)
        head = (
            struct.pack(
                "<BHHIIBIIBBHI",
                0x74,
                flags,
                32 + len(n),
                len(data),
                len(data),
                0,
                zlib.crc32(data),
                0x5A000000,
                20,
                0x30,
                len(n),
                0x20,
            )
            + n
        )
        out += struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head + data
    return out + b"\xc4\x3d\x7b\x00\x40\x07\x00"
