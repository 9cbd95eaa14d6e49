"""Typed values: one set of rules (attent_assets/values.py), held to one table of cases on both
sides — what lands in the warehouse's typed columns, and what the client's envelope parsers read —
and every declared table reading its columns from where sync/schema.py says."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from attent_assets.api import Event, Lead, LeadEvents
from attent_assets.api.pages import read_page
from attent_assets.storage import RAW, Column, Layout, Store
from attent_assets.storage.layout import ENVELOPES, LakeKind
from attent_assets.sync.rows import event_rows
from attent_assets.sync.schema import EVENT_TABLES, LAYOUT, LEAD_COLUMNS, OTHER_EVENTS
from attent_assets.values import ValueKind, parse_identifier, parse_text, parse_timestamp
from attent_assets_tests.test_storage import T0, event, events, lead, leads, only, rows

AT = datetime(2026, 5, 14, 15, 30, tzinfo=UTC)

#: (kind, the JSON value as the API writes it, the typed value; None: no value)
CASES: list[tuple[ValueKind, str, object]] = [
    ("text", '"Ada"', "Ada"),
    ("text", "12", None),
    ("text", "true", None),
    ("identifier", '"crm-9"', "crm-9"),
    ("identifier", "12345", "12345"),
    ("identifier", "-7", "-7"),
    ("identifier", "12.5", None),
    ("identifier", "false", None),
    ("bool", "true", True),
    ("bool", "1", None),
    ("bool", '"yes"', None),
    ("int", "61", 61),
    ("int", "61.0", 61),
    ("int", "1e3", 1000),
    ("int", "61.5", None),
    ("int", '"12"', None),
    ("int", "9223372036854775808", None),
    ("int", "1e300", None),
    ("float", "2", 2.0),
    ("float", "2.5", 2.5),
    ("float", '"2.5"', None),
    ("timestamp", '"2026-05-14T15:30:00.000Z"', AT),
    ("timestamp", '"2026-05-14T17:30:00+02:00"', AT),
    ("timestamp", '"2026-05-14T10:30:00-0500"', AT),
    ("timestamp", '"2026-05-14T15:30:00"', AT),
    ("timestamp", '"2026-05-14 15:30"', AT),
    ("timestamp", '"2026-05-14"', AT.replace(hour=0, minute=0)),
    ("timestamp", '"2026-05-14T15:30:00.123456789Z"', AT.replace(microsecond=123456)),
    ("timestamp", '"20260514T153000Z"', None),
    ("timestamp", '"2026-W20-4"', None),
    ("timestamp", '"2026-05-14T24:00:00Z"', None),
    ("timestamp", '"2026-05-14T15:30:00 UTC"', None),
    ("timestamp", '"2026-13-01T00:00:00Z"', None),
    ("timestamp", "1715700000", None),
    ("json", '{"a": [1, null]}', {"a": [1, None]}),
    ("json", "null", None),
]
PARSERS = {"text": parse_text, "identifier": parse_identifier, "timestamp": parse_timestamp}


def _case_id(case: tuple[ValueKind, str, object]) -> str:
    return f"{case[0]}:{case[1]}"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case as a lead whose `v` is read by a column of each kind: the rows of attent.leads
    by lead id."""
    probes = tuple(
        Column(f"v_{kind}", kind, ("v",)) for kind in dict.fromkeys(k for k, *_ in CASES)
    )
    layout = Layout(lead_columns=(*LEAD_COLUMNS, *probes), event_tables=LAYOUT.event_tables)
    data_dir: Path = tmp_path_factory.mktemp("typed")
    written = [
        lead(f"L{n}", raw=f'{{"id": "L{n}", "updatedAt": "{T0.isoformat()}", "v": {value}}}')
        for n, (_, value, _) in enumerate(CASES)
    ]
    with Store.open(data_dir, layout, "run-1") as store:
        store.write_leads(leads(*written), watermark=None)
        return {row["id"]: row for row in rows(store, "leads")}


@pytest.mark.parametrize("n", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_the_warehouse_reads_each_json_value_by_the_rules(
    warehouse: dict[str, dict[str, Any]], n: int
) -> None:
    kind, _, expected = CASES[n]
    value = warehouse[f"L{n}"][f"v_{kind}"]
    if kind == "json" and value is not None:
        value = orjson.loads(value)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c[0] in PARSERS],
    ids=[_case_id(c) for c in CASES if c[0] in PARSERS],
)
def test_the_client_parses_the_envelope_by_the_same_rules(
    case: tuple[ValueKind, str, object],
) -> None:
    kind, value, expected = case
    assert PARSERS[kind](orjson.loads(value)) == expected


#: A payload per declared table and the typed values its row must hold.
SAMPLES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "messages": (
        "MESSAGE",
        {
            "direction": "INBOUND",
            "content": {"text": "hi"},
            "isAiGenerated": False,
            "deliveryChannel": "SMS",
        },
        {"direction": "INBOUND", "text": "hi", "is_ai_generated": False, "delivery_channel": "SMS"},
    ),
    "calls": (
        "CALL",
        {
            "direction": "OUTBOUND",
            "callStatus": "COMPLETE",
            "durationSeconds": 61.0,
            "isTransfer": False,
            "summary": "booked",
            "endedBy": "lead",
        },
        {
            "direction": "OUTBOUND",
            "call_status": "COMPLETE",
            "duration_seconds": 61,
            "is_transfer": False,
            "summary": "booked",
            "ended_by": "lead",
        },
    ),
    "emails": (
        "EMAIL",
        {"direction": "INBOUND", "content": {"subject": "Re: demo", "text": "yes"}},
        {"direction": "INBOUND", "subject": "Re: demo", "text": "yes"},
    ),
    "tool_calls": (
        "TOOL_CALL",
        {"toolName": "book", "arguments": {"at": 1}, "result": [1], "status": "ok"},
        {"tool_name": "book", "arguments": '{"at":1}', "result": "[1]", "status": "ok"},
    ),
    "custom_events": (
        "CUSTOM",
        {"name": "visit", "properties": {"page": "/"}},
        {"name": "visit", "properties": '{"page":"/"}'},
    ),
    "compliance_blocks": (
        "COMPLIANCE_BLOCKED",
        {"channel": "sms", "reason": "STATE_DNC", "source": "apten-dnc"},
        {"channel": "sms", "reason": "STATE_DNC", "source": "apten-dnc", "triggered_by": None},
    ),
}


def test_every_declared_table_has_a_sample() -> None:
    assert set(SAMPLES) == {t.name for t in EVENT_TABLES if t.name != OTHER_EVENTS}


@pytest.mark.parametrize("table", sorted(SAMPLES))
def test_each_table_reads_its_columns_from_the_declared_paths(tmp_path: Path, table: str) -> None:
    event_type, data, expected = SAMPLES[table]
    with Store.open(tmp_path, LAYOUT, "run-1") as store:
        store.write_events(events(event(event_type, "e1", data)), cursors=[])
        store.merge_typed()
        row = only(store, table)
    declared = next(t for t in EVENT_TABLES if t.name == table)
    assert {c.name: row[c.name] for c in declared.columns} == expected


def test_the_readme_lists_every_declared_table_and_column() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text().split("\n## The warehouse\n")[1]
    readme = readme.split("\n## ")[0]
    listed = {
        m["table"]: set(re.findall(r"[a-z_]+", m["key"] + m["columns"]))
        for m in re.finditer(
            r"^\| `(?P<table>[a-z_]+)` \| (?P<key>[^|]+) \| (?P<columns>[^|]+) \|$", readme, re.M
        )
    }
    assert set(listed) == {"leads", "quarantine", *(t.name for t in LAYOUT.event_tables)}
    for column in LAYOUT.lead_table_columns():
        assert column.name in listed["leads"], column.name
    for table in EVENT_TABLES:
        assert {c.name for c in table.columns} <= listed[table.name], table.name


@pytest.mark.parametrize(("kind", "model"), [("leads", Lead), ("events", Event)])
def test_the_client_parses_the_envelope_storage_declares(kind: LakeKind, model: type) -> None:
    """What the row builder reads from a parsed record is what storage declares, key by key."""
    parsed = {
        f.name: (f.metadata["json"], f.metadata["parse"])
        for f in dataclasses.fields(model)
        if "json" in f.metadata
    }
    declared = {f.name: ((f.json_key,), PARSERS[f.kind]) for f in ENVELOPES[kind]}
    assert parsed == declared


def test_raw_keeps_the_parsed_record_with_numbers_normalised_as_the_readme_says() -> None:
    """README, "The raw lake": the record parsed and written again — keys, order, strings and
    nesting kept; whitespace dropped, escapes written as UTF-8; integers within 64 bits exact;
    other numbers the nearest double in its shortest form."""
    body = (
        b'{"events": [{"type": "X", "id": "e1", "updatedAt": "2026-05-14T15:30:00Z",\n'
        b'  "data": {"z": 1e3, "a": 12.0, "big": 18446744073709551615,'
        b' "huge": 18446744073709551616, "neg": -9223372036854775808,'
        b' "s": "caf\\u00e9 \\"q\\"", "n": [true, null, {}]}}]}'
    )
    records, _ = read_page(body, "/leads/L1/events", "events")
    rows, _ = event_rows([LeadEvents("L1", [Event.from_json(r) for r in records], last=True)])
    assert rows.column(RAW).to_pylist() == [
        '{"type":"X","id":"e1","updatedAt":"2026-05-14T15:30:00Z",'
        '"data":{"z":1000.0,"a":12.0,"big":18446744073709551615,'
        '"huge":1.8446744073709552e+19,"neg":-9223372036854775808,'
        '"s":"café \\"q\\"","n":[true,null,{}]}}'
    ]
