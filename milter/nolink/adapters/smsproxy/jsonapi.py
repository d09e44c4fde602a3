"""A bulk-SMS provider's HTTP API: the text at a configured field of a JSON (or form) body.

``text_field`` (default "message") names the field; "a.b" reaches into nested objects. The
sender is the first of sender, from, From, sender_name; the recipients are counted from the first
of to, To, phone, msisdn, recipients, destinations (a list, or numbers separated by commas).
A POST, PUT or PATCH with a body must carry the text field (else it is refused: it may be a batch
form nolink does not read); a GET with the text field in its query is read too; other GETs, HEAD
and DELETE pass through (balance, status, reports).
A form body (application/x-www-form-urlencoded) is read the same way, for providers such as
Twilio (text_field = "Body", and ShortenUrls is refused).

Refusals are JSON: {"status": N, "error": "nolink_...", "message": "...", "ref": "..."}.
"""

from __future__ import annotations

import json
from typing import Any

from .common import Answer, Refusal, Request, Sms, Unreadable, first, form_pairs, set_options

SENDERS = ("sender", "from", "From", "sender_name")
RECIPIENTS = ("to", "To", "phone", "msisdn", "recipients", "destinations")
STATUS: dict[Refusal, int] = {
    "link": 403,
    "option": 403,
    "unreadable": 400,
    "too_large": 413,
    "upstream": 502,
    "error": 500,
    "busy": 503,
}
CODES: dict[Refusal, str] = {
    "link": "nolink_link_found",
    "option": "nolink_link_option",
    "unreadable": "nolink_unreadable",
    "too_large": "nolink_too_large",
    "upstream": "nolink_upstream_error",
    "error": "nolink_error",
    "busy": "nolink_busy",
}


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, str):
        return len([x for x in value.split(",") if x.strip()])
    return 0 if value is None else 1


class JsonApi:
    name = "json"

    def __init__(self, text_field: str = "message", refuse_fields: tuple[str, ...] = ()) -> None:
        self.path = text_field.split(".")
        self.refuse_fields = refuse_fields

    def read(self, req: Request) -> Sms | None:
        if req.method not in ("POST", "PUT", "PATCH") or not req.body:
            # a GET that carries the text in its query (some providers send that way) is read
            pairs = form_pairs(req.query.encode("latin-1"), "query") if req.query else []
            if len(self.path) != 1 or first(pairs, self.path[0]) is None:
                return None
            obj0 = {k: v.decode("utf-8", "replace") for k, v in reversed(pairs)}
            return self._sms(obj0)
        kind, params = req.content_type
        if kind == "application/x-www-form-urlencoded":
            pairs = form_pairs(req.body, "body")
            obj: dict[str, Any] = {}
            for k, v in pairs:
                obj.setdefault(k, v.decode("utf-8", "replace"))
            try:
                for _, v in pairs:
                    v.decode("utf-8")
            except UnicodeDecodeError:
                raise Unreadable("the form body is not UTF-8") from None
        else:
            try:
                obj = json.loads(req.body.decode(params.get("charset") or "utf-8"))
            except (UnicodeDecodeError, LookupError):
                raise Unreadable("the body is not text in its charset") from None
            except ValueError as e:
                raise Unreadable(f"the body is not JSON: {e}") from None
        if not isinstance(obj, dict):
            raise Unreadable("the body is not a JSON object")
        return self._sms(obj)

    def _sms(self, obj: dict[str, Any]) -> Sms:
        node: Any = obj
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                raise Unreadable(f"the body has no {'.'.join(self.path)!r} field (sms_proxy.text_field)")
            node = node[key]
        if not isinstance(node, str):
            raise Unreadable(f"{'.'.join(self.path)!r} is not a string")
        sender = next((obj[k] for k in SENDERS if isinstance(obj.get(k), str)), "")
        rcpt = next((_count(obj[k]) for k in RECIPIENTS if k in obj), 0)
        options = set_options(list(obj.items()), self.refuse_fields)
        return Sms(node, sender, rcpt, options)

    def refuse(self, refusal: Refusal, message: str) -> Answer:
        status = STATUS[refusal]
        ref = message.rpartition("Ref ")[2] if "Ref " in message else ""
        body = {"status": status, "error": CODES[refusal], "message": message, "ref": ref}
        return Answer(status, "application/json", json.dumps(body, ensure_ascii=False).encode("utf-8"))
