"""Opaque keyset tokens and the index walk they resume.

A page ends at some sort key; its token carries that key, and the next page starts strictly after
it. A record that changes mid-crawl moves to a later key (its new ``updatedAt`` is later than
everything already served), so it is met again further on: never skipped, and never served twice in
one crawl unless it changed. The token also carries a fingerprint of the filters it was issued for;
presenting it with other filters, or presenting anything that is not a token, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import orjson

from attent_assets.simulator.timestamps import UNPARSEABLE_MS

LeadKey = tuple[int, str]
"""(timestamp instant, lead id)"""
EventKey = tuple[int, str, str]
"""(updatedAt instant, type, event id)"""
K = TypeVar("K", LeadKey, EventKey)


class TokenError(ValueError):
    """The nextToken is not one this server issued for these filters."""


def fingerprint(*filters: object) -> str:
    """A short digest of the filters a token belongs to."""
    return hashlib.sha256(orjson.dumps(filters)).hexdigest()[:16]


def encode_token(keyset: Sequence[int | str] | None, filters_fingerprint: str) -> str:
    """A token resuming after ``keyset`` (None: from the start of the filtered range)."""
    payload = {"k": None if keyset is None else list(keyset), "f": filters_fingerprint}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode("ascii")


def decode_token(token: str, filters_fingerprint: str, width: int) -> tuple[Any, ...] | None:
    """The keyset inside ``token`` (an int instant then ``width - 1`` strings), None for "from the
    start"; TokenError when it is garbage or was issued for other filters."""
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise TokenError("nextToken is not valid") from None
    if not isinstance(payload, dict) or "k" not in payload:
        raise TokenError("nextToken is not valid")
    if payload.get("f") != filters_fingerprint:
        raise TokenError("nextToken was issued for different filters")
    keyset = payload["k"]
    if keyset is None:
        return None
    if not (
        isinstance(keyset, list)
        and len(keyset) == width
        and type(keyset[0]) is int
        and all(isinstance(part, str) for part in keyset[1:])
    ):
        raise TokenError("nextToken is not valid")
    return tuple(keyset)


def walk(keys: Sequence[K], lower_ms: int, after: K | None) -> Iterator[int]:
    """Positions in sorted ``keys`` whose instant is >= ``lower_ms`` and whose key is > ``after``,
    in order. Keys with an unparseable instant sort first and match every lower bound."""
    unparsed_end = bisect_left(keys, UNPARSEABLE_MS + 1, key=_instant)
    first = 0 if after is None else bisect_right(keys, after)
    yield from range(first, unparsed_end)
    lower = bisect_left(keys, lower_ms, key=_instant)
    yield from range(max(first, unparsed_end, lower), len(keys))


def _instant(key: LeadKey | EventKey) -> int:
    return key[0]
