"""Archives: ZIP, 7z (py7zr), tar, gzip, bzip2, xz (standard library) and RAR (libarchive).

Members become children (the scanner recurses into them and counts the nesting against
links.max_archive_depth); a compressed tar (.tar.gz, .tar.bz2, .tar.xz) is one archive, not two
levels. Every byte decompressed is counted against the message's byte budget *while* it is
decompressed, so a zip bomb stops at the budget in the time it takes to inflate that many bytes.
Encrypted members or archives are unscannable ("encrypted"), never skipped.

Why py7zr: pure Python with wheels on PyPI, reads the 7z codecs mail carries (LZMA/LZMA2, BCJ,
PPMd, Deflate), tells an encrypted archive (needs_password) and writes into our own bounded
buffers. Why libarchive-c for RAR: Python's only RAR readers either call an unrar binary (not
free software, not in Debian main; unrar-free cannot read RAR5) or this binding to Debian's
libarchive13, which reads RAR 4 and RAR 5 in-process.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Callable
from typing import IO, Any, Protocol

from .base import Budget, BudgetExceeded, ChildPiece, Extracted, Unscannable, extension

MAX_MEMBER_BYTES = 25 * 1024 * 1024  # one member above this is unscannable ("budget")
MAX_MEMBERS = 1000
CHUNK = 1 << 20


def _quote(name: str) -> str:
    return f'"{name}"' if name else "attachment"


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_bounded(stream: _Readable, budget: Budget, what: str) -> bytes:
    """Everything from stream, each chunk counted against the budget as it is decompressed."""
    out = bytearray()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return bytes(out)
        if len(out) + len(chunk) > MAX_MEMBER_BYTES:
            raise BudgetExceeded(f"{what} holds a file larger than {MAX_MEMBER_BYTES} bytes")
        budget.spend_bytes(len(chunk))
        out += chunk


class _Collect:
    """Children and unscannable pieces of one archive, with the member limit."""

    def __init__(self, kind: str, name: str) -> None:
        self.what = f"{kind} {_quote(name)}"
        self.children: list[ChildPiece] = []
        self.bad: list[Unscannable] = []
        self.encrypted = False

    def member(self, member: str, read: Callable[[], bytes], budget: Budget) -> bool:
        """Read one member; False when the archive should not be read further."""
        if len(self.children) >= MAX_MEMBERS:
            self.bad.append(Unscannable("budget", f"{self.what} has more than {MAX_MEMBERS} files", member))
            return False
        try:
            data = read()
        except BudgetExceeded as e:
            self.bad.append(Unscannable("budget", f"{self.what}: {e.what}", member))
            return False
        self.children.append(ChildPiece(data, member, "", member))
        return True

    def encrypted_member(self, member: str) -> None:
        if not self.encrypted:
            self.encrypted = True
            self.bad.append(Unscannable("encrypted", f"encrypted {self.what}", member))

    def result(self) -> Extracted:
        return Extracted(children=tuple(self.children), unscannable=tuple(self.bad))


def _broken(kind: str, name: str, e: BaseException) -> Extracted:
    return Extracted(
        unscannable=(Unscannable("unparseable", f"damaged {kind} {_quote(name)} ({type(e).__name__})", ""),)
    )


def extract_zip(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return _broken("ZIP", name, e)
    c = _Collect("ZIP", name)
    with z:
        for info in z.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                c.encrypted_member(info.filename)
                continue

            def read(info: zipfile.ZipInfo = info) -> bytes:
                with z.open(info) as f:
                    return _read_bounded(f, budget, c.what)

            try:
                if not c.member(info.filename, read, budget):
                    break
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
                c.bad.append(
                    Unscannable(
                        "unparseable", f"unreadable file in {c.what} ({type(e).__name__})", info.filename
                    )
                )
    return c.result()


def _tar_members(t: tarfile.TarFile, c: _Collect, budget: Budget) -> None:
    for m in t:
        if not m.isreg():
            continue
        f = t.extractfile(m)
        if f is None:
            continue

        def read(f: IO[bytes] = f) -> bytes:
            return _read_bounded(f, budget, c.what)

        if not c.member(m.name, read, budget):
            break


def extract_tar(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    c = _Collect("tar", name)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
            _tar_members(t, c, budget)
    except (tarfile.TarError, OSError, ValueError, EOFError) as e:
        if not c.children:
            return _broken("tar", name, e)
        c.bad.append(Unscannable("unparseable", f"damaged {c.what} ({type(e).__name__})", ""))
    return c.result()


def _stream(
    kind: str, opener: Callable[[IO[bytes]], Any], data: bytes, name: str, budget: Budget
) -> Extracted:
    """gzip, bzip2, xz: one compressed stream; a tar inside is read as this archive's members."""
    what = f"{kind} {_quote(name)}"
    try:
        with opener(io.BytesIO(data)) as f:
            inner = _read_bounded(f, budget, what)
    except BudgetExceeded as e:
        return Extracted(unscannable=(Unscannable("budget", f"{what}: {e.what}", ""),))
    except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
        return _broken(kind, name, e)
    if inner[257:262] == b"ustar":
        sub = extract_tar(inner, "", name, budget)
        return sub
    ext = extension(name)
    inner_name = name[: -len(ext) - 1] if ext in ("gz", "tgz", "bz2", "xz", "txz", "tbz", "z") else name
    return Extracted(children=(ChildPiece(inner, inner_name, "", ""),))


def extract_gzip(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return _stream("gzip", lambda f: gzip.GzipFile(fileobj=f), data, name, budget)


def extract_bzip2(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return _stream("bzip2", lambda f: bz2.BZ2File(f), data, name, budget)


def extract_xz(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return _stream("xz", lambda f: lzma.LZMAFile(f), data, name, budget)


def extract_7z(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    try:
        import py7zr
        import py7zr.io
    except ImportError:  # pragma: no cover - a dependency
        return Extracted(unscannable=(Unscannable("unsupported", f"7z {_quote(name)}: py7zr missing", ""),))
    c = _Collect("7z", name)

    class Buf(py7zr.io.Py7zBytesIO):
        def write(self, s: bytes | bytearray) -> int:
            if self.size() + len(s) > MAX_MEMBER_BYTES:
                raise BudgetExceeded(f"{c.what} holds a file larger than {MAX_MEMBER_BYTES} bytes")
            budget.spend_bytes(len(s))
            return int(self._buffer.write(s))

    class Factory(py7zr.io.WriterFactory):
        def __init__(self) -> None:
            self.products: dict[str, Buf] = {}

        def create(self, filename: str) -> Any:
            self.products[filename] = Buf(filename, MAX_MEMBER_BYTES)
            return self.products[filename]

    try:
        with py7zr.SevenZipFile(io.BytesIO(data), mode="r") as z:
            if z.needs_password():
                c.encrypted_member("")
                return c.result()
            files = [i for i in z.list() if not i.is_directory]
            if len(files) > MAX_MEMBERS:
                c.bad.append(Unscannable("budget", f"{c.what} has more than {MAX_MEMBERS} files", ""))
                files = files[:MAX_MEMBERS]
            factory = Factory()
            try:
                z.extract(targets=[i.filename for i in files], factory=factory)
            except BudgetExceeded as e:
                c.bad.append(Unscannable("budget", f"{c.what}: {e.what}", ""))
            for fn, buf in factory.products.items():
                buf.seek(0)
                c.children.append(ChildPiece(buf.read(), fn, "", fn))
    except BudgetExceeded as e:
        c.bad.append(Unscannable("budget", f"{c.what}: {e.what}", ""))
    except Exception as e:
        if "password" in str(e).lower():
            c.encrypted_member("")
        elif not c.children:
            return _broken("7z", name, e)
    return c.result()


def extract_rar(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    try:
        import libarchive
    except Exception:  # libarchive-c present but Debian's libarchive13 missing
        return Extracted(
            unscannable=(Unscannable("unsupported", f"RAR {_quote(name)} (libarchive not installed)", ""),)
        )
    c = _Collect("RAR", name)
    is_encrypted = _rar_encrypted_check()
    try:
        with libarchive.memory_reader(data) as archive:
            for entry in archive:
                if not entry.isfile:
                    continue
                member = str(entry.pathname)
                if is_encrypted(entry):
                    c.encrypted_member(member)
                    continue

                def read(entry: Any = entry) -> bytes:
                    out = bytearray()
                    for block in entry.get_blocks():
                        if len(out) + len(block) > MAX_MEMBER_BYTES:
                            raise BudgetExceeded(
                                f"{c.what} holds a file larger than {MAX_MEMBER_BYTES} bytes"
                            )
                        budget.spend_bytes(len(block))
                        out += block
                    return bytes(out)

                try:
                    if not c.member(member, read, budget):
                        break
                except Exception as e:
                    if "encrypt" in str(e).lower() or "passphrase" in str(e).lower():
                        c.encrypted_member(member)
                        continue
                    raise
    except Exception as e:
        if "encrypt" in str(e).lower() or "passphrase" in str(e).lower():
            c.encrypted_member("")
        elif not c.children:
            return _broken("RAR", name, e)
        else:
            c.bad.append(Unscannable("unparseable", f"damaged {c.what} ({type(e).__name__})", ""))
    return c.result()


def _rar_encrypted_check() -> Callable[[Any], bool]:
    """archive_entry_is_encrypted (libarchive >= 3.2), which libarchive-c does not wrap."""
    import ctypes

    from libarchive import ffi

    try:
        fn = ffi.libarchive.archive_entry_is_encrypted
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_int
    except AttributeError:  # pragma: no cover - older libarchive: reading the data fails instead
        return lambda entry: False
    return lambda entry: bool(fn(entry._entry_p))
