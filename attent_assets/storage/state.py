"""Sync state next to the data: the leads watermark and per-lead event cursors.

Every update is `greatest(old, new)` (NULL counts as "no information", as DuckDB's greatest skips
NULLs), so replays and overlapping runs can only move state forward, whatever their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from attent_assets.storage.lake import TIMESTAMP
from attent_assets.storage.layout import ACTIVITY_COLUMN
from attent_assets.storage.records import LeadCursor, LeadTodo
from attent_assets.storage.sql import (
    as_utc,
    ident,
    registered,
    require_aware,
    scalar,
    state_table,
    user_table,
)

LEADS_WATERMARK = "leads"
LEADS_COMPLETE = "leads_complete"
_CURSORS = state_table("lead_cursors")
_ACTIVITY = f"l.{ident(ACTIVITY_COLUMN)}"


def watermark(con: duckdb.DuckDBPyConnection, name: str) -> datetime | None:
    value = scalar(con, f"SELECT value FROM {state_table('watermarks')} WHERE name = ?", [name])
    return as_utc(value)


def raise_watermark(con: duckdb.DuckDBPyConnection, name: str, value: datetime) -> None:
    require_aware(value, f"watermark {name!r}")
    con.execute(
        f"INSERT INTO {state_table('watermarks')} AS w VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = greatest(w.value, excluded.value)",
        [name, value],
    ).fetchall()


def advance_cursors(con: duckdb.DuckDBPyConnection, cursors: Sequence[LeadCursor]) -> None:
    """Move each lead's cursors forward (never back); one set-based statement for the batch."""
    for cursor in cursors:
        require_aware(cursor.events_cursor, "events_cursor")
        require_aware(cursor.activity_seen, "activity_seen")
    table = pa.table(
        {
            "lead_id": pa.array([c.lead_id for c in cursors], pa.string()),
            "events_cursor": pa.array([c.events_cursor for c in cursors], TIMESTAMP),
            "activity_seen": pa.array([c.activity_seen for c in cursors], TIMESTAMP),
        }
    )
    with registered(con, "_attent_cursors", table) as source:
        con.execute(
            f"""INSERT INTO {_CURSORS} AS c
            SELECT lead_id, max(events_cursor), max(activity_seen), now()
            FROM {source} GROUP BY lead_id
            ON CONFLICT (lead_id) DO UPDATE SET
                events_cursor = greatest(c.events_cursor, excluded.events_cursor),
                activity_seen = greatest(c.activity_seen, excluded.activity_seen),
                fetched_at = excluded.fetched_at"""
        ).fetchall()


def _todos(con: duckdb.DuckDBPyConnection, where: str, params: object = None) -> list[LeadTodo]:
    rows = con.execute(
        f"""SELECT l.id, c.events_cursor, {_ACTIVITY}
        FROM {user_table("leads")} l LEFT JOIN {_CURSORS} c ON c.lead_id = l.id
        WHERE {where} ORDER BY l.id""",
        params,
    ).fetchall()
    return [
        LeadTodo(lead_id, as_utc(cursor), as_utc(activity)) for lead_id, cursor, activity in rows
    ]


def leads_needing_events(
    con: duckdb.DuckDBPyConnection, *, behind_cursor: bool = False
) -> list[LeadTodo]:
    """Leads never read, and leads whose activity moved past what their last read covered.

    A lead without any activity is read once (to learn that) and then costs nothing.
    `behind_cursor` (the reconcile) also takes leads whose activity is ahead of the newest event
    read: the listing showed the activity before the events index served the event behind it.
    """
    moved = f"c.activity_seen IS NULL OR {_ACTIVITY} > c.activity_seen"
    if behind_cursor:
        moved += f" OR {_ACTIVITY} > coalesce(c.events_cursor, '-infinity'::TIMESTAMPTZ)"
    return _todos(con, f"c.lead_id IS NULL OR ({_ACTIVITY} IS NOT NULL AND ({moved}))")


def leads_active_since(con: duckdb.DuckDBPyConnection, start: datetime) -> list[LeadTodo]:
    """Leads active since `start`, and leads without any activity that were never read: a replay
    reads those once too (one short request), so every lead it listed leaves it with a cursor and
    the next incremental run fetches nothing for them."""
    require_aware(start, "start")
    return _todos(con, f"{_ACTIVITY} >= ? OR ({_ACTIVITY} IS NULL AND c.lead_id IS NULL)", [start])
