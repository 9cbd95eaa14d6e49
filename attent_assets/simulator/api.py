"""The two endpoints of the Attent API: routing, query validation and page bodies.

Transport-free: the server hands in the raw request target and gets back a status and JSON bytes.
The lead id is ONE path segment percent-decoded here from the raw path, so ids containing ``/``,
``?``, ``#``, ``%``, ``+`` or ``..`` arrive intact (no framework gets to normalise dot-segments).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, unquote

import orjson

from attent_assets.simulator.pagination import (
    TokenError,
    decode_token,
    encode_token,
    fingerprint,
)
from attent_assets.simulator.stats import Endpoint
from attent_assets.simulator.store import LeadOrder, Page
from attent_assets.simulator.timestamps import parse_ms
from attent_assets.simulator.world import World

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    lead_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


class _BadRequest(Exception):
    pass


def route(raw_path: str) -> Route:
    """``/v1/leads`` or ``/v1/leads/{leadId}/events`` (leadId percent-decoded), else "other"."""
    parts = raw_path.split("/")
    if parts[:3] != ["", "v1", "leads"]:
        return Route("other")
    if len(parts) == 3:
        return Route("leads")
    if len(parts) == 5 and parts[4] == "events":
        try:
            return Route("events", unquote(parts[3], errors="strict"))
        except UnicodeDecodeError:
            return Route("other")
    return Route("other")


def message(status: int, text: str | None = None) -> Reply:
    """An error reply ``{"message": ...}``, by default the status's reason phrase."""
    return Reply(status, orjson.dumps({"message": reason_phrase(status) if text is None else text}))


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def advance(world: World, query: str) -> Reply:
    """Apply ``changes`` (1..100000) random changes, spread over about ``seconds`` (0..86400) of
    the world's clock when given; reply with the world's clock after them."""
    params = parse_qs(query)
    try:
        changes = int(params.get("changes", ["1"])[-1])
    except ValueError:
        return message(400, "changes must be an integer")
    if not 1 <= changes <= 100_000:
        return message(400, "changes must be between 1 and 100000")
    span_ms = None
    if "seconds" in params:
        try:
            seconds = float(params["seconds"][-1])
        except ValueError:
            return message(400, "seconds must be a number")
        if not 0 <= seconds <= 86_400:
            return message(400, "seconds must be between 0 and 86400")
        span_ms = int(seconds * 1000)
    world.advance(changes, span_ms)
    return Reply(200, orjson.dumps({"changes": changes, "now": world.now().isoformat()}))


def answer(world: World, target: Route, query: str, *, empty_page: bool = False) -> Reply:
    """The reply to an authorised GET. With ``empty_page`` a valid request gets an empty page whose
    token resumes at the position it asked for."""
    params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
    try:
        if target.endpoint == "leads":
            return _leads(world, params, empty_page)
        if target.endpoint == "events" and target.lead_id is not None:
            return _events(world, target.lead_id, params, empty_page)
    except _BadRequest as error:
        return message(400, str(error))
    return message(404, "Not Found")


def _leads(world: World, params: dict[str, str], empty_page: bool) -> Reply:
    updated = _instant(params, "updatedSince")
    created = _instant(params, "createdSince")
    order, lower, created_lower = _lead_order(updated, created)
    limit = _limit(params)
    filters = fingerprint("leads", updated, created)
    after = _resume_key(params, filters, width=2)
    if empty_page:
        return _page_reply("leads", Page([], after), filters, force_token=True)
    page = world.leads_page(order, lower, created_lower, after, limit)
    return _page_reply("leads", page, filters)


def _lead_order(updated: int | None, created: int | None) -> tuple[LeadOrder, int, int | None]:
    """Order by updatedAt when updatedSince is given (then createdSince only filters), else by
    createdAt."""
    if updated is not None:
        return "updatedAt", updated, created
    if created is not None:
        return "createdAt", created, None
    raise _BadRequest("updatedSince or createdSince is required")


def _events(world: World, lead_id: str, params: dict[str, str], empty_page: bool) -> Reply:
    since = _instant(params, "since")
    if since is None:
        raise _BadRequest("since is required")
    limit = _limit(params)
    named = [name.strip() for name in params.get("types", "").split(",")]
    types = frozenset(name for name in named if name) or None
    filters = fingerprint("events", lead_id, since, sorted(types or ()))
    after = _resume_key(params, filters, width=3)
    if empty_page and world.has_lead(lead_id):
        return _page_reply("events", Page([], after), filters, force_token=True)
    try:
        page = world.events_page(lead_id, since, types, after, limit)
    except KeyError:
        return message(404, "Lead not found")
    return _page_reply("events", page, filters)


def _page_reply(name: str, page: Page, filters: str, *, force_token: bool = False) -> Reply:
    token = None
    if page.resume_after is not None or force_token:
        token = encode_token(page.resume_after, filters)
    body = b"".join(
        (
            b'{"',
            name.encode(),
            b'":[',
            b",".join(page.bodies),
            b'],"nextToken":',
            orjson.dumps(token),
            b"}",
        )
    )
    return Reply(200, body)


def _instant(params: dict[str, str], name: str) -> int | None:
    """The instant of an optional ISO 8601 parameter; 400 when present but not a timestamp."""
    value = params.get(name)
    if value is None:
        return None
    ms = parse_ms(value)
    if ms is None:
        raise _BadRequest(f"{name} must be an ISO 8601 timestamp")
    return ms


def _limit(params: dict[str, str]) -> int:
    value = params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_LIMIT):
        raise _BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(value)


def _resume_key(params: dict[str, str], filters: str, *, width: int) -> tuple[Any, ...] | None:
    token = params.get("nextToken")
    if not token:
        return None
    try:
        return decode_token(token, filters, width)
    except TokenError as error:
        raise _BadRequest(str(error)) from None
