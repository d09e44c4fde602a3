"""Jasmin MT interceptor: refuse a message with a link, checked by nolink's text API.

Jasmin runs this script for every MT message routed through an MT interception rule, with the
message as the global ``routable``. The script reads the text the way Jasmin will send it
(data_coding 8 = UCS-2 as UTF-16BE; a UDH stripped; the parts of a long message that Jasmin's
HTTP API made, chained in ``pdu.nextPdu``, joined), asks nolink (POST /v1/check-text on
text_api.listen) and, for a link, sets ``smpp_status`` / ``http_status`` so that Jasmin refuses
the message: the SMPP client gets ESME_RSUBMITFAIL (0x45), the HTTP API client 403. When nolink
cannot be reached the message is refused too (0x08 ESME_RSYSERR, HTTP 503): nothing leaves
unchecked.

Limit: a long message that enters Jasmin over SMPP as separate submit_sm parts (the client
split it, UDH concatenation) reaches the interceptor one part at a time, so a link split across
two parts is not seen whole. Put nolink's SMS proxy ([[sms_proxy]], dialect "jasmin") in front
of Jasmin's HTTP API where that matters, or have the SMPP client send message_payload.

Install (jcli): see contrib/jasmin/README.md. Settings: NOLINK_URL and NOLINK_TOKEN below.
"""

import json
import urllib.error
import urllib.request

NOLINK_URL = "http://127.0.0.1:9429/v1/check-text"  # text_api.listen
NOLINK_TOKEN = ""  # the contents of text_api.token_file, if one is set
TIMEOUT = 2.0  # seconds; on a time-out the message is refused

ESME_RSUBMITFAIL = 0x45
ESME_RSYSERR = 0x08


def _field(pdu, name):
    value = pdu.params.get(name)
    return value if value is not None else None


def _coding(pdu):
    dc = _field(pdu, "data_coding")
    if dc is None:
        return 0
    if isinstance(dc, int):
        return dc
    data = getattr(dc, "schemeData", None)  # smpp.pdu DataCoding
    name = str(getattr(data, "name", data) or "")
    if "UCS2" in name:
        return 8
    try:
        return int(getattr(data, "value", data) or 0)
    except (TypeError, ValueError):
        return 0


def _has_udh(pdu):
    esm = _field(pdu, "esm_class")
    features = getattr(esm, "gsmFeatures", None) or ()
    return any("UDHI" in str(f) for f in features)


def part_text(pdu):
    """One PDU's text, decoded the way Jasmin sends it."""
    data = _field(pdu, "short_message") or _field(pdu, "message_payload") or b""
    if isinstance(data, str):
        data = data.encode("latin-1", "replace")
    if _has_udh(pdu) and data:
        data = data[data[0] + 1 :]
    if _coding(pdu) == 8:
        return data.decode("utf-16-be", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def whole_text(pdu):
    """The text of a PDU and of the parts chained after it (nextPdu)."""
    parts = []
    while pdu is not None:
        parts.append(part_text(pdu))
        pdu = getattr(pdu, "nextPdu", None)
    return "".join(parts)


def check(text):
    """nolink's verdict: "link" or "clean"; raises OSError/ValueError when nolink cannot answer."""
    body = json.dumps({"text": text}).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if NOLINK_TOKEN:
        headers["Authorization"] = "Bearer " + NOLINK_TOKEN
    req = urllib.request.Request(NOLINK_URL, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read().decode("utf-8"))["verdict"]


def decide(r):
    """(smpp_status, http_status) for a routable: (0, 200) lets it go."""
    try:
        verdict = check(whole_text(r.pdu))
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return ESME_RSYSERR, 503
    if verdict == "clean":
        return 0, 200
    return ESME_RSUBMITFAIL, 403


if "routable" in globals():  # run by Jasmin's interceptor
    _smpp, _http = decide(routable)  # noqa: F821 - Jasmin's global
    if _smpp:
        smpp_status = _smpp
        http_status = _http
