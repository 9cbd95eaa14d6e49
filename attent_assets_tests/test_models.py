"""The records the sync decides with: tolerant parsing of the envelope, timestamps, the raw record.
(Typed columns are read by the warehouse: test_typed_values.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from attent_assets.api import Event, Lead, format_timestamp, parse_timestamp

INSTANT = datetime(2026, 5, 14, 15, 30, tzinfo=UTC)

LEAD = {
    "id": "room_1",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "phone": "+15550001111",
    "email": "ada@example.com",
    "customerProfile": "vip",
    "createdAt": "2026-05-01T00:00:00.000Z",
    "updatedAt": "2026-05-14T15:30:00.000Z",
    "lastActivityAt": "2026-05-14T17:30:00+02:00",
    "additionalInfo": {"source": "web", "note": None},
    "hasReplied": True,
    "isHot": False,
    "isQualified": True,
    "isUnsubscribed": False,
    "isAiOn": True,
    "tags": [{"id": "t1", "name": "hot", "condition": None}],
    "summary": "Wants a demo",
    "externalLeadId": "crm-9",
    "deleted": False,
    "deletedAt": None,
    "brandNewField": {"x": 1},
}


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-14T15:30:00.000Z",
        "2026-05-14T15:30:00Z",
        "2026-05-14T15:30:00+00:00",
        "2026-05-14T17:30:00+02:00",
        "2026-05-14T10:30:00.000-05:00",
        "2026-05-14T15:30:00",
    ],
)
def test_parse_timestamp_reads_every_iso_form_as_the_same_utc_instant(text):
    parsed = parse_timestamp(text)
    assert parsed == INSTANT
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


def test_parse_timestamp_keeps_fractions():
    assert parse_timestamp("2026-05-14T15:30:00.123456Z") == INSTANT.replace(microsecond=123456)


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-13-01T00:00:00Z", 1715700000, []])
def test_parse_timestamp_returns_none_for_anything_else(value):
    assert parse_timestamp(value) is None


def test_format_timestamp_writes_utc_milliseconds_and_never_rounds_up():
    cet = timezone(timedelta(hours=2))
    moment = datetime(2026, 5, 14, 17, 30, 0, 999_999, tzinfo=cet)
    assert format_timestamp(moment) == "2026-05-14T15:30:00.999Z"
    assert format_timestamp(INSTANT) == "2026-05-14T15:30:00.000Z"
    assert parse_timestamp(format_timestamp(INSTANT)) == INSTANT


def test_format_timestamp_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 5, 14))


def test_a_lead_keeps_its_key_version_and_raw_record():
    lead = Lead.from_json(LEAD)
    assert (lead.id, lead.updated_at) == ("room_1", INSTANT)
    assert lead.raw is LEAD
    assert lead.raw["brandNewField"] == {"x": 1}
    assert lead.problems == ()


def test_a_lead_id_given_as_a_number_is_the_same_id_and_a_bad_version_is_a_problem():
    lead = Lead.from_json({"id": 42, "updatedAt": 5})
    assert lead.id == "42"
    assert lead.updated_at is None
    assert lead.problems == ("invalid updatedAt: 5",)


def test_lead_problems_name_what_is_missing_or_invalid():
    assert Lead.from_json({"updatedAt": "not a date"}).problems == (
        "missing id",
        "invalid updatedAt: 'not a date'",
    )
    assert Lead.from_json({"id": "", "updatedAt": None}).problems == (
        "invalid id: ''",
        "missing updatedAt",
    )


def test_a_record_that_is_not_an_object_is_kept_raw_without_raising():
    lead = Lead.from_json(["odd"])
    event = Event.from_json("odd")
    assert lead.raw == {"_value": ["odd"]}
    assert event.raw == {"_value": "odd"}
    assert "missing id" in lead.problems
    assert "missing type" in event.problems


def test_event_envelope_key_and_raw_record():
    record = {
        "id": "m1",
        "roomId": "room_1",
        "orgId": 7,
        "type": "MESSAGE",
        "timestamp": "2026-05-14T15:29:59.500Z",
        "updatedAt": "2026-05-14T15:30:00Z",
        "data": {"direction": "INBOUND", "sentiment": "positive"},
        "newEnvelopeField": 1,
    }
    event = Event.from_json(record)
    assert event.key == ("MESSAGE", "m1")
    assert (event.room_id, event.org_id, event.updated_at) == ("room_1", "7", INSTANT)
    assert event.timestamp == INSTANT - timedelta(milliseconds=500)
    assert event.raw is record
    assert event.problems == ()


def test_event_problems_and_key_refusal():
    event = Event.from_json({"id": "e1", "type": 3, "updatedAt": "soon"})
    assert event.problems == ("invalid type: 3", "invalid updatedAt: 'soon'")
    with pytest.raises(ValueError, match="invalid type"):
        _ = event.key
