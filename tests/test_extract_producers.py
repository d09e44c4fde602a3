"""PDFs as real producers make them: LibreOffice (headless, from Debian) and Pillow (scanners,
img2pdf-style: one image per page)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from mail import attachment, message, multipart, part, qr_png
from nolink import scan_message

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def fodt(text: str, picture: bytes = b"") -> str:
    """A flat OpenDocument text (one XML file) with a paragraph and an optional picture."""
    frame = ""
    if picture:
        frame = (
            '<text:p><draw:frame draw:name="p" text:anchor-type="as-char" svg:width="4cm" svg:height="4cm">'
            f"<draw:image><office:binary-data>{base64.b64encode(picture).decode()}</office:binary-data>"
            "</draw:image></draw:frame></text:p>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">'
        f"<office:body><office:text><text:p>{text}</text:p>{frame}</office:text></office:body></office:document>"
    )


def libreoffice_pdf(tmp_path: Path, doc: str) -> bytes:
    src = tmp_path / "letter.fodt"
    src.write_text(doc, encoding="utf-8")
    subprocess.run(
        [
            SOFFICE or "soffice",
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--convert-to",
            "pdf",
            str(src),
            "--outdir",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (tmp_path / "letter.pdf").read_bytes()


def scanned(data: bytes):  # type: ignore[no-untyped-def]
    body, ctype = multipart(
        [part("เรียน ท่าน", "text/plain"), attachment(data, "application/pdf", "letter.pdf")]
    )
    return scan_message(message(body, ctype))


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is not installed (scripts/setup.sh --test installs it)"
)
def test_libreoffice_letter_with_a_qr_picture(tmp_path: Path) -> None:
    data = libreoffice_pdf(
        tmp_path, fodt("รายละเอียดปรากฏตาม QR Code ท้ายหนังสือ", qr_png("https://lo.example.com/form"))
    )
    assert data.startswith(b"%PDF-")
    r = scanned(data)
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://lo.example.com/form")]
    assert "page 1 › image 1 › qr" in str(r.findings[0].location)


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is not installed (scripts/setup.sh --test installs it)"
)
def test_libreoffice_letter_with_a_logo_and_no_link_is_clean(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    logo = Image.new("RGB", (200, 200), (255, 255, 255))
    ImageDraw.Draw(logo).ellipse((20, 20, 180, 180), fill=(0, 80, 160))
    import io

    buf = io.BytesIO()
    logo.save(buf, "PNG")
    data = libreoffice_pdf(tmp_path, fodt("ที่ มท ๐๘๒๓.๒/ว ๕๒๗ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙", buf.getvalue()))
    assert scanned(data).verdict == "clean"
