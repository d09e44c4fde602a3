"""Images: every format mail carries, every frame and page, large scans, SVG, octet-stream."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image, ImageDraw

from mail import attachment, message, multipart, part, qr_image, qr_png, scanned_letter
from nolink import Config, scan_message
from nolink.config import LinksConfig
from nolink.extract import Budget, sniff
from nolink.extract.image import frames


def scanned(*parts: bytes, config: Config | None = None):  # type: ignore[no-untyped-def]
    body, ctype = multipart([part("ดูรายละเอียดในภาพ", "text/plain"), *parts])
    return scan_message(message(body, ctype), config)


def encoded(im: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def blank(size: tuple[int, int] = (300, 300)) -> Image.Image:
    return Image.new("L", size, 255)


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "TIFF", "PNG", "JPEG", "GIF"])
def test_every_format_is_decoded(fmt: str) -> None:
    data = qr_png("https://fmt.example.com/", fmt=fmt)
    assert sniff(data, "application/octet-stream", "") == "image"
    r = scanned(attachment(data, "application/octet-stream", f"x.{fmt.lower()}"))
    assert [x.url for x in r.findings] == ["https://fmt.example.com/"]


def test_gif_every_frame() -> None:
    frames_ = [blank().convert("P"), qr_image("https://frame2.example.com/").resize((300, 300)).convert("P")]
    data = encoded(frames_[0], "GIF", save_all=True, append_images=frames_[1:], duration=500)
    r = scanned(attachment(data, "image/gif", "anim.gif"))
    assert [(x.url, x.location.field) for x in r.findings] == [
        ("https://frame2.example.com/", "attachment anim.gif › frame 2 › qr")
    ]


def test_tiff_every_page_fax_style() -> None:
    pages = [blank((800, 1000)).convert("1"), blank((800, 1000))]
    pages[1].paste(qr_image("https://fax.example.com/p2", scale=5), (200, 300))
    pages[1] = pages[1].convert("1")
    data = encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="group4")
    r = scanned(attachment(data, "image/tiff", "fax.tif"))
    assert [(x.url, x.location.field) for x in r.findings] == [
        ("https://fax.example.com/p2", "attachment fax.tif › page 2 › qr")
    ]


def test_transparent_png_code_is_read() -> None:
    code = qr_image("https://alpha.example.com/")
    rgba = Image.new("RGBA", code.size, (0, 0, 0, 0))
    rgba.putalpha(code.point(lambda v: 255 - v))  # black modules, transparent background
    r = scanned(attachment(encoded(rgba, "PNG"), "image/png", "logo.png"))
    assert [x.url for x in r.findings] == ["https://alpha.example.com/"]


def test_inline_octet_stream_image_without_a_name() -> None:
    img = part(
        __import__("base64").encodebytes(qr_png("https://noname.example.com/")),
        "application/octet-stream",
        "base64",
    )
    r = scanned(img)
    assert [x.url for x in r.findings] == ["https://noname.example.com/"]


def test_600_dpi_a4_scan_is_decoded_not_refused() -> None:
    data = scanned_letter(1, "https://scan600.example.com/", dpi=600, fmt="PNG")
    assert Image.open(io.BytesIO(data)).size == (4962, 7014)
    r = scanned(attachment(data, "image/png", "scan.png"))
    assert [x.url for x in r.findings] == ["https://scan600.example.com/"]
    assert r.unscannable == ()


def test_small_code_in_a_large_photo() -> None:
    import random

    photo = Image.new("L", (6000, 4000), 128)
    d = ImageDraw.Draw(photo)
    rng = random.Random(5)
    for _ in range(2000):
        x, y = rng.randrange(6000), rng.randrange(4000)
        d.rectangle((x, y, x + rng.randrange(5, 80), y + rng.randrange(5, 80)), fill=rng.randrange(256))
    photo.paste(qr_image("https://small.example.com/", scale=2), (4100, 2900))
    r = scanned(attachment(encoded(photo, "JPEG", quality=92), "image/jpeg", "IMG_0001.JPG"))
    assert [x.url for x in r.findings] == ["https://small.example.com/"]


def test_image_without_a_code_is_clean() -> None:
    photo = Image.new("RGB", (1200, 900), (90, 140, 200))
    ImageDraw.Draw(photo).ellipse((100, 100, 800, 700), fill=(250, 200, 40))
    assert scanned(attachment(encoded(photo, "JPEG"), "image/jpeg", "sun.jpg")).verdict == "clean"


def test_svg_links_and_rendered_code() -> None:
    code = qr_image("https://svgqr.example.com/", scale=1)
    rects = "".join(
        f'<rect x="{x * 8}" y="{y * 8}" width="8" height="8"/>'
        for y in range(code.height)
        for x in range(code.width)
        if code.getpixel((x, y)) < 128
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{code.width * 8}" height="{code.height * 8}"><rect width="100%" height="100%" fill="#fff"/>{rects}</svg>'
    assert sniff(svg.encode(), "application/octet-stream", "") == "svg"
    r = scanned(attachment(svg.encode(), "image/svg+xml", "code.svg"))
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://svgqr.example.com/")]
    linked = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="https://svglink.example.com/"><text y="20">click</text></a></svg>'
    r = scanned(attachment(linked.encode(), "image/svg+xml", "banner.svg"))
    assert "https://svglink.example.com/" in [x.url for x in r.findings]


def test_frames_count_against_the_pixel_budget() -> None:
    data = encoded(blank((1000, 1000)), "PNG")
    got = list(frames(data, Budget(max_pixels=2_000_000), 50_000_000))
    assert [w for w, _ in got] == [""]  # type: ignore[misc]
    b = Budget(max_pixels=1_500_000)
    list(frames(data, b, 50_000_000))
    got = list(frames(data, b, 50_000_000))
    assert [u.reason for u in got] == ["budget"]  # type: ignore[union-attr]


def test_pixel_budget_over_a_message_is_unscannable() -> None:
    img = attachment(encoded(blank((1000, 1000)), "PNG"), "image/png", "a.png")
    cfg = Config(links=LinksConfig(max_total_pixels=2_500_000))
    r = scanned(img, img, img, config=cfg)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert "links.max_total_pixels" in r.unscannable[0].detail


def test_svg_data_uri_in_html_is_read_not_refused() -> None:
    import base64

    icon = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="6"/></svg>'
    )
    linked = b'<svg xmlns="http://www.w3.org/2000/svg"><a href="https://svgdata.example.com/"><text y="9">x</text></a></svg>'
    for svg, verdict in ((icon, "clean"), (linked, "link")):
        src = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
        r = scan_message(message(f'<p>ข่าว</p><img src="{src}">', "text/html; charset=utf-8"))
        assert r.verdict == verdict, (r.findings, r.unscannable)


SVG_ENTITY = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE svg [<!ENTITY e "https://evil.example.com/x">]>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" height="40">'
    '<a xlink:href="&e;"><text y="20">&e;</text></a></svg>'
)


@pytest.mark.parametrize(
    "svg",
    [
        SVG_ENTITY,
        # nested entities, a "]>" inside a quoted value, a comment in the subset
        SVG_ENTITY.replace(
            '<!ENTITY e "https://evil.example.com/x">',
            '<!-- ] --><!ENTITY h "https://"><!ENTITY e "&h;evil.example.com/x"><!ENTITY z "]>">',
        ),
        # the value spelled with character references
        SVG_ENTITY.replace("https://evil", "&#104;ttps://evil"),
    ],
)
def test_svg_internal_entity_is_expanded_as_a_browser_does(svg: str) -> None:
    r = scanned(attachment(svg.encode(), "image/svg+xml", "banner.svg"))
    assert r.verdict != "clean"
    assert "https://evil.example.com/x" in [x.url for x in r.findings], [str(x) for x in r.findings]


def test_svg_billion_laughs_is_unscannable_quickly() -> None:
    decls = '<!ENTITY l0 "https://lol.example.com/ ">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    svg = (
        f'<?xml version="1.0"?><!DOCTYPE svg [{decls}]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text y="9">&l9;</text></svg>'
    )
    t = time.monotonic()
    r = scanned(attachment(svg.encode(), "image/svg+xml", "lol.svg"))
    assert time.monotonic() - t < 5
    assert r.verdict != "clean"
    assert any(u.reason == "budget" for u in r.unscannable), r.unscannable


@pytest.mark.parametrize(
    "decl",
    [
        '<!ENTITY e SYSTEM "https://ext.example.com/e.xml">',  # external: nolink does not fetch it
        '<!ENTITY % p "x">',  # parameter entities: not expanded
        '<!ENTITY a "&b;"><!ENTITY b "&a;">',  # a loop
    ],
)
def test_svg_entities_nolink_will_not_expand_are_unscannable(decl: str) -> None:
    svg = SVG_ENTITY.replace('<!ENTITY e "https://evil.example.com/x">', decl).replace(
        "&e;", "&a;" if "&b;" in decl else "x"
    )
    r = scanned(attachment(svg.encode(), "image/svg+xml", "odd.svg"))
    assert r.verdict != "clean"
    assert r.unscannable


def test_svg_without_entities_is_still_clean() -> None:
    svg = b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="6"/></svg>'
    r = scanned(attachment(svg, "image/svg+xml", "icon.svg"))
    assert r.verdict == "clean", [str(x) for x in r.findings]


def test_illustrator_svg_with_namespace_entities_is_clean() -> None:
    svg = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [
	<!ENTITY ns_extend "http://ns.adobe.com/Extensibility/1.0/">
	<!ENTITY ns_svg "http://www.w3.org/2000/svg">
	<!ENTITY ns_xlink "http://www.w3.org/1999/xlink">
]>
<svg version="1.1" xmlns:x="&ns_extend;" xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;" width="16" height="16"><circle cx="8" cy="8" r="6"/></svg>"""
    r = scanned(attachment(svg, "image/svg+xml", "logo.svg"))
    assert r.verdict == "clean", ([str(x) for x in r.findings], r.unscannable)
