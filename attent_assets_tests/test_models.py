"""Typed records: tolerant parsing, timestamps, raw preservation and the column declarations."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from attent_assets.api import (
    DATA_MODELS,
    DOCUMENTED_TYPES,
    CallData,
    ComplianceBlockedData,
    CustomData,
    EmailData,
    Event,
    Lead,
    MessageData,
    ModelField,
    ToolCallData,
    format_timestamp,
    model_fields,
    parse_timestamp,
)

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


def test_lead_reads_every_documented_field_and_keeps_the_raw_record():
    lead = Lead.from_json(LEAD)
    assert lead.id == "room_1"
    assert (lead.first_name, lead.last_name, lead.customer_profile) == ("Ada", "Lovelace", "vip")
    assert lead.updated_at == INSTANT
    assert lead.last_activity_at == INSTANT
    assert lead.additional_info == {"source": "web", "note": None}
    assert lead.tags == [{"id": "t1", "name": "hot", "condition": None}]
    assert (lead.has_replied, lead.is_hot, lead.is_ai_on, lead.deleted) == (
        True,
        False,
        True,
        False,
    )
    assert lead.external_lead_id == "crm-9"
    assert lead.deleted_at is None
    assert lead.raw is LEAD
    assert lead.raw["brandNewField"] == {"x": 1}
    assert lead.problems == ()


def test_lead_with_wrong_json_types_parses_to_none_but_keeps_ids_given_as_numbers():
    lead = Lead.from_json(
        {"id": 42, "firstName": 7, "isHot": "yes", "updatedAt": 5, "externalLeadId": 1001}
    )
    assert lead.id == "42"
    assert lead.external_lead_id == "1001"
    assert lead.first_name is None
    assert lead.is_hot is None
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


def test_event_envelope_key_and_typed_data():
    record = {
        "id": "m1",
        "roomId": "room_1",
        "orgId": "org_1",
        "type": "MESSAGE",
        "timestamp": "2026-05-14T15:29:59.500Z",
        "updatedAt": "2026-05-14T15:30:00Z",
        "data": {
            "direction": "INBOUND",
            "content": {"text": "hi"},
            "isAiGenerated": False,
            "deliveryChannel": "SMS",
            "sentiment": "positive",
        },
    }
    event = Event.from_json(record)
    assert event.key == ("MESSAGE", "m1")
    assert (event.room_id, event.org_id, event.updated_at) == ("room_1", "org_1", INSTANT)
    assert event.typed_data() == MessageData(
        direction="INBOUND", text="hi", is_ai_generated=False, delivery_channel="SMS"
    )
    assert MessageData.unknown_fields(record["data"]) == ["sentiment"]
    assert event.raw["data"]["sentiment"] == "positive"
    assert event.problems == ()


def test_undocumented_event_type_is_kept_raw_and_has_no_typed_data():
    record = {
        "id": "v1",
        "type": "VOICEMAIL_DROP",
        "updatedAt": "2026-05-14T15:30:00.000Z",
        "data": {"audioUrl": "https://example.com/a.mp3"},
        "newEnvelopeField": 1,
    }
    event = Event.from_json(record)
    assert event.typed_data() is None
    assert event.key == ("VOICEMAIL_DROP", "v1")
    assert event.raw["newEnvelopeField"] == 1
    assert event.data == {"audioUrl": "https://example.com/a.mp3"}


def test_event_problems_and_key_refusal():
    event = Event.from_json({"id": "e1", "type": 3, "updatedAt": "soon"})
    assert event.problems == ("invalid type: 3", "invalid updatedAt: 'soon'")
    with pytest.raises(ValueError, match="invalid type"):
        _ = event.key


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        (
            "CALL",
            {
                "direction": "OUTBOUND",
                "callStatus": "COMPLETE",
                "durationSeconds": 61.0,
                "isTransfer": False,
                "summary": "booked",
                "endedBy": "lead",
            },
            CallData("OUTBOUND", "COMPLETE", 61, False, "booked", "lead"),
        ),
        (
            "EMAIL",
            {"direction": "INBOUND", "content": {"subject": "Re: demo", "text": "yes"}},
            EmailData("INBOUND", "Re: demo", "yes"),
        ),
        (
            "TOOL_CALL",
            {"toolName": "book", "arguments": {"at": 1}, "result": [1], "status": "ok"},
            ToolCallData("book", {"at": 1}, [1], "ok"),
        ),
        (
            "CUSTOM",
            {"name": "visit", "properties": {"page": "/"}},
            CustomData("visit", {"page": "/"}),
        ),
        (
            "COMPLIANCE_BLOCKED",
            {"channel": "sms", "reason": "STATE_DNC", "source": "apten-dnc"},
            ComplianceBlockedData("sms", "STATE_DNC", "apten-dnc", None),
        ),
    ],
)
def test_each_documented_type_parses_its_data(event_type, data, expected):
    event = Event.from_json(
        {"id": "x", "type": event_type, "updatedAt": "2026-05-14", "data": data}
    )
    assert event.typed_data() == expected


def test_event_data_tolerates_wrong_shapes():
    assert CallData.from_json({"durationSeconds": "12", "isTransfer": 1}) == CallData()
    assert CallData.from_json({"durationSeconds": 2**70}).duration_seconds is None
    assert MessageData.from_json({"content": "flat text"}).text is None
    assert MessageData.from_json(None) == MessageData()
    assert MessageData.unknown_fields(None) == []


def test_model_fields_declare_every_typed_column():
    lead_fields = model_fields(Lead)
    assert [f.name for f in lead_fields] == [
        f.name for f in dataclasses.fields(Lead) if f.name != "raw"
    ]
    by_name = {f.name: f for f in lead_fields}
    assert by_name["first_name"] == ModelField("first_name", ("firstName",), "text")
    assert by_name["updated_at"].kind == "timestamp"
    assert by_name["is_ai_on"].kind == "bool"
    assert by_name["tags"].kind == "json"
    assert model_fields(MessageData)[1] == ModelField("text", ("content", "text"), "text")
    assert model_fields(CallData)[2] == ModelField("duration_seconds", ("durationSeconds",), "int")
    assert [f.name for f in model_fields(Event)] == [
        "id",
        "room_id",
        "org_id",
        "type",
        "timestamp",
        "updated_at",
        "data",
    ]


def test_data_models_cover_exactly_the_documented_types():
    assert DOCUMENTED_TYPES == (
        "MESSAGE",
        "CALL",
        "EMAIL",
        "TOOL_CALL",
        "CUSTOM",
        "COMPLIANCE_BLOCKED",
    )
    assert set(DATA_MODELS) == set(DOCUMENTED_TYPES)
    for model in DATA_MODELS.values():
        assert model_fields(model), model
