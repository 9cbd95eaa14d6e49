"""The paginated answers of the two list endpoints, and the check that a 200 body is one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from attent_assets.api.errors import AttentInvalidBodyError
from attent_assets.api.models import Event, Lead


@dataclass(frozen=True, slots=True)
class LeadPage:
    """One page of GET /leads; `next_token` None means the listing is complete."""

    leads: list[Lead]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of GET /leads/{leadId}/events. It may be short or empty and still have a token."""

    events: list[Event]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class LeadEvents:
    """One page of one lead's events, from a concurrent fetch of many leads.

    `last` marks the lead's final page (a lead without events yields one empty, last page);
    `gone` says the lead no longer exists (404), so it has no events to fetch.
    """

    lead_id: str
    events: list[Event]
    last: bool
    gone: bool = False


def read_page(content: bytes, path: str, key: str) -> tuple[list[Any], str | None]:
    """The records under `key` and the next token of a 200 body from GET `path`.

    A body that is not JSON (cut short, an HTML error page) or lacks the `key` list raises
    `AttentInvalidBodyError` (the retry policy decides whether to try again). An empty token ends
    the listing like null does.
    """
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise AttentInvalidBodyError(
            path, f"HTTP 200 with a body that is not JSON ({len(content)} bytes)"
        ) from None
    records = body.get(key) if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise AttentInvalidBodyError(path, f"HTTP 200 without a {key!r} list")
    token = body.get("nextToken")
    if token is not None and not isinstance(token, str):
        raise AttentInvalidBodyError(path, "HTTP 200 with a nextToken that is not a string")
    return records, token or None
