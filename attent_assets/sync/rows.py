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
    keyed: list[Lead] = []
    bad: list[QuarantinedRecord] = []
    for lead in leads:
        if lead.problems:
            bad.append(QuarantinedRecord("lead", lead.id, lead.problems, _raw(lead.raw)))
        else:
            keyed.append(lead)
    columns = {
        "id": [lead.id for lead in keyed],
        "updated_at": [lead.updated_at for lead in keyed],
        "raw": [_raw(lead.raw) for lead in keyed],
    }
    return pa.Table.from_pydict(columns, schema=LEAD_ROWS_SCHEMA), bad


def event_rows(pages: Iterable[LeadEvents]) -> tuple[pa.Table, list[QuarantinedRecord]]:
    """Lake rows for the events that can be keyed; the others, raw, for quarantine.

    Built a column at a time, one comprehension each: this runs for every event of a sync, on
    the writer thread, and every millisecond it holds the GIL is one the fetching threads wait
    (measured: under half the time of appending each event to seven lists).
    """
    keyed: list[Event] = []
    bad: list[QuarantinedRecord] = []
    for page in pages:
        for event in page.events:
            if event.problems:
                bad.append(
                    QuarantinedRecord("event", page.lead_id, event.problems, _raw(event.raw))
                )
            else:
                keyed.append(event)
    columns = {
        "type": [event.type for event in keyed],
        "id": [event.id for event in keyed],
        "room_id": [event.room_id for event in keyed],
        "org_id": [event.org_id for event in keyed],
        "timestamp": [event.timestamp for event in keyed],
        "updated_at": [event.updated_at for event in keyed],
        "raw": [_raw(event.raw) for event in keyed],
    }
    return pa.Table.from_pydict(columns, schema=EVENT_ROWS_SCHEMA), bad
