"""DKIM failure reasons as nolink names them, for counting (nolink report).

DkimResult.reason is free text for the log: it names the key record, and for some failures it is
dkimpy's own exception text (body hashes as bytes reprs). A report groups by these stable names.
"""

from __future__ import annotations

import re

# (name, pattern on DkimResult.reason), the first match wins
_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("no_signature", r"^no DKIM signature"),
        ("body_changed", r"^body hash mismatch"),
        ("signature_mismatch", r"^signature does not verify"),
        ("from_not_signed", r"^the From header is not signed"),
        ("bad_from", r"^the (message has no|message has more than one|From header|From domain)"),
        ("not_aligned", r"is not aligned with the From domain"),
        ("expired", r"^signature expired"),
        ("future_timestamp", r"^signature timestamp t= is in the future"),
        ("bad_timestamp", r"^malformed t= or x="),
        ("missing_tag", r"^(signature lacks a required tag|missing )"),
        ("rsa_sha1", r"^rsa-sha1"),
        ("unknown_algorithm", r"algorithm"),
        ("weak_key", r"^RSA key of \d+ bits is below"),
        ("partial_body", r"^l= "),
        ("no_key", r"^no key record"),
        ("key_lookup_failed", r"^key lookup for .* failed"),
        ("key_revoked", r"is revoked"),
        ("bad_key", r"^(bad key|key record .* (cannot be parsed|does not allow))"),
        ("unparsable", r"cannot be parsed for DKIM"),
        ("bad_tag", r"^[a-z]{1,2}= "),
        ("verification_error", r"^verification error"),
    )
)

NAMES = (*(n for n, _ in _NAMES), "other")


def reason_name(reason: str) -> str:
    """The stable name of a DkimResult.reason ("body_changed", "no_key", ...; "other")."""
    for name, pattern in _NAMES:
        if pattern.search(reason):
            return name
    return "other"
