"""API records to the Arrow rows storage writes, and the records that cannot be keyed.

This is the only per-record Python on the write path, so it does as little as it can: the envelope
columns and the raw JSON. Typed columns are extracted later, in bulk, by the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
import pyarrow as pa

from attent_assets.api import Event, Lead, LeadEvents
from attent_assets.storage import EVENT_ROWS_SCHEMA, LEAD_ROWS_SCHEMA, QuarantinedRecord


def _raw(record: dict[str, object]) -> str:
    return orjson.dumps(record).decode()


def lead_rows(leads: Sequence[Lead]) -> tuple[pa.Table, list[QuarantinedRecord]]:
    """Lake rows for the leads that can be keyed; the others, raw, for quarantine."""
    ids: list[str | None] = []
    updated: list[object] = []
    raws: list[str] = []
    bad: list[QuarantinedRecord] = []
    for lead in leads:
        if lead.problems:
            bad.append(QuarantinedRecord("lead", lead.id, lead.problems, _raw(lead.raw)))
            continue
        ids.append(lead.id)
        updated.append(lead.updated_at)
        raws.append(_raw(lead.raw))
    table = pa.Table.from_pydict(
        {"id": ids, "updated_at": updated, "raw": raws}, schema=LEAD_ROWS_SCHEMA
    )
    return table, bad


def event_rows(pages: Iterable[LeadEvents]) -> tuple[pa.Table, list[QuarantinedRecord]]:
    """Lake rows for the events that can be keyed; the others, raw, for quarantine."""
    columns: dict[str, list[object]] = {name: [] for name in EVENT_ROWS_SCHEMA.names}
    bad: list[QuarantinedRecord] = []
    for page in pages:
        for event in page.events:
            if event.problems:
                bad.append(
                    QuarantinedRecord("event", page.lead_id, event.problems, _raw(event.raw))
                )
                continue
            _append_event(columns, event)
    return pa.Table.from_pydict(columns, schema=EVENT_ROWS_SCHEMA), bad


def _append_event(columns: dict[str, list[object]], event: Event) -> None:
    columns["type"].append(event.type)
    columns["id"].append(event.id)
    columns["room_id"].append(event.room_id)
    columns["org_id"].append(event.org_id)
    columns["timestamp"].append(event.timestamp)
    columns["updated_at"].append(event.updated_at)
    columns["raw"].append(_raw(event.raw))
