"""dkimspeed's replacements give exactly what dkimpy's own functions give."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from dkimkeys import rsa_key
from nolink.dkim import speed as dkimspeed


@given(st.integers(min_value=0, max_value=1 << 4200), st.integers(min_value=-1, max_value=600))
def test_int2str_matches(n: int, length: int) -> None:
    assert dkimspeed.int2str(n, length) == dkimspeed._original_int2str(n, length)


def test_public_key_parse_matches_and_is_cached() -> None:
    record = rsa_key(2048).record
    p = base64.b64decode(record.split(b"p=", 1)[1].split(b";")[0])
    assert dkimspeed.parse_public_key(p) == dkimspeed._original_parse_public_key(p)
    assert dkimspeed.parse_public_key(p) is dkimspeed.parse_public_key(bytearray(p))


def test_installed_for_dkimpy() -> None:
    import dkim
    import dkim.crypto

    import nolink.dkim.check  # noqa: F401  (installs)

    assert dkim.crypto.int2str is dkimspeed.int2str
    assert dkim.parse_public_key is dkimspeed.parse_public_key
