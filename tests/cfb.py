"""A small writer of OLE compound files (version 3, 512-byte sectors), so tests can build .msg
files and legacy Office streams that olefile (a reader only) then reads as Outlook's would be read.

Streams under 4096 bytes go into the mini stream (64-byte mini sectors, as the format requires),
larger ones into regular sectors; directory siblings form a chain through right-sibling links.
"""

from __future__ import annotations

import itertools
import struct

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _key(name: str) -> tuple[int, str]:
    return (len(name), name.upper())


def build(streams: dict[str, bytes]) -> bytes:
    """streams: "storage/sub/stream" -> bytes. Storages are made from the paths."""
    # the tree: path -> children names
    nodes: dict[str, dict[str, object]] = {"": {"type": 5, "children": []}}
    for path, data in streams.items():
        parts = path.split("/")
        for i in range(len(parts)):
            p = "/".join(parts[: i + 1])
            parent = "/".join(parts[:i])
            if p not in nodes:
                is_stream = i == len(parts) - 1
                nodes[p] = {"type": 2 if is_stream else 1, "children": [], "data": data if is_stream else b""}
                nodes[parent]["children"].append(p)  # type: ignore[attr-defined]
    order = list(nodes)
    index = {p: i for i, p in enumerate(order)}
    sectors: list[bytes] = []
    fat: list[int] = []
    start: dict[str, int] = {}
    mini = bytearray()
    minifat: list[int] = []

    def chain(data: bytes) -> int:
        first = len(sectors)
        n = (len(data) + SECTOR - 1) // SECTOR
        for k in range(n):
            sectors.append(data[k * SECTOR : (k + 1) * SECTOR].ljust(SECTOR, b"\x00"))
            fat.append(len(sectors) if k < n - 1 else END)
        return first if n else END

    for p in order:
        data = nodes[p].get("data", b"")
        assert isinstance(data, bytes)
        if nodes[p]["type"] != 2 or not data:
            start[p] = END
        elif len(data) < CUTOFF:
            first = len(mini) // MINI
            n = (len(data) + MINI - 1) // MINI
            mini += data.ljust(n * MINI, b"\x00")
            minifat.extend(first + k + 1 if k < n - 1 else END for k in range(n))
            start[p] = first
        else:
            start[p] = chain(data)
    mini_start = chain(bytes(mini))
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat) if minifat else b""
    minifat_start = chain(minifat_bytes.ljust(-(-len(minifat_bytes) // SECTOR) * SECTOR, b"\xff"))
    nminifat = -(-len(minifat_bytes) // SECTOR)
    start[""] = mini_start
    entries = []
    for p in order:
        node = nodes[p]
        name = "Root Entry" if p == "" else p.rsplit("/", 1)[-1]
        kids = sorted(node["children"], key=lambda c: _key(c.rsplit("/", 1)[-1]))  # type: ignore[attr-defined]
        child = index[kids[0]] if kids else FREE
        entries.append([name, node["type"], FREE, FREE, child, p])
    for p in order:  # siblings: a chain through right-sibling links, in sorted order
        kids = sorted(nodes[p]["children"], key=lambda c: _key(c.rsplit("/", 1)[-1]))  # type: ignore[attr-defined]
        for a, b in itertools.pairwise(kids):
            entries[index[a]][3] = index[b]
    directory = b""
    for name, typ, left, right, child, p in entries:
        enc = name.encode("utf-16-le") + b"\x00\x00"
        data = nodes[p].get("data", b"")
        assert isinstance(data, bytes)
        directory += (
            enc.ljust(64, b"\x00")
            + struct.pack("<HBBIII", len(enc), typ, 1, left, right, child)
            + b"\x00" * 16
            + b"\x00" * 4
            + b"\x00" * 16
            + struct.pack("<IQ", start[p], len(data) if typ == 2 else len(mini) if typ == 5 else 0)
        )
    while len(directory) % SECTOR:
        directory += b"\x00" * 64 + struct.pack("<HBBIII", 0, 0, 0, FREE, FREE, FREE) + b"\x00" * 52
    dir_start = len(sectors)
    ndir = len(directory) // SECTOR
    for k in range(ndir):
        sectors.append(directory[k * SECTOR : (k + 1) * SECTOR])
        fat.append(len(sectors) if k < ndir - 1 else END)
    nfat = 1
    while (len(fat) + nfat) > nfat * (SECTOR // 4):
        nfat += 1
    fat_start = len(sectors)
    fat.extend([FATSECT] * nfat)
    fat.extend([FREE] * (nfat * (SECTOR // 4) - len(fat)))
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    for k in range(nfat):
        sectors.append(fat_bytes[k * SECTOR : (k + 1) * SECTOR])
    assert nfat <= 109
    difat = [fat_start + k for k in range(nfat)] + [FREE] * (109 - nfat)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, nfat, dir_start, 0, CUTOFF, minifat_start, nminifat, END, 0)
        + struct.pack("<109I", *difat)
    )
    assert len(header) == SECTOR
    return header + b"".join(sectors)
