"""The warehouse schema: one declaration per table.

Each table is declared once, here: its name, the event type it holds, and its typed columns (a
name, a kind and the JSON path the value is read from). Everything else follows from it: the
tables' DDL and the columns added to existing tables (filled from the JSON already stored), the
typed SELECT lists of every merge, the Dagster assets and their column schemas, and the routing of
event types (a type without a table lands in `other_events`; when a type gets a table, the rows it
left there move into it). What every row has besides its typed columns (keys, versions, the raw
JSON) is the envelope in `storage/layout.py`; how a JSON value becomes a typed value is
`storage/sql.py:typed_value`, one set of rules for every table.

Shapes marked *assumed* in ATTENT_API.md are declared as we believe them: a field of another JSON
type is NULL in its column and still in the raw JSON, and the `unknown_types_and_fields` check
names fields no column reads.
"""

from __future__ import annotations

from attent_assets.storage import Column, ColumnKind, EventTable, Layout


def _column(name: str, kind: ColumnKind, *path: str) -> Column:
    return Column(name=name, kind=kind, path=path)


#: attent.leads: the typed columns read from each lead (its key and version are the envelope's).
LEAD_COLUMNS = (
    _column("first_name", "text", "firstName"),
    _column("last_name", "text", "lastName"),
    _column("phone", "text", "phone"),
    _column("email", "text", "email"),
    _column("customer_profile", "text", "customerProfile"),
    _column("created_at", "timestamp", "createdAt"),
    _column("last_activity_at", "timestamp", "lastActivityAt"),
    _column("additional_info", "json", "additionalInfo"),
    _column("has_replied", "bool", "hasReplied"),
    _column("is_hot", "bool", "isHot"),
    _column("is_qualified", "bool", "isQualified"),
    _column("is_unsubscribed", "bool", "isUnsubscribed"),
    _column("is_ai_on", "bool", "isAiOn"),
    _column("tags", "json", "tags"),
    _column("summary", "text", "summary"),
    _column("external_lead_id", "identifier", "externalLeadId"),
    _column("deleted", "bool", "deleted"),
    _column("deleted_at", "timestamp", "deletedAt"),
)

#: Every type without a table of its own (undocumented, new, or hostile names) lands here, raw.
OTHER_EVENTS = "other_events"

#: One table per documented event type (a contract users query), typed from the event's `data`.
EVENT_TABLES = (
    EventTable(
        "messages",
        "MESSAGE",
        (
            _column("direction", "text", "direction"),
            _column("text", "text", "content", "text"),
            _column("is_ai_generated", "bool", "isAiGenerated"),
            _column("delivery_channel", "text", "deliveryChannel"),
        ),
    ),
    EventTable(
        "calls",
        "CALL",  # shape assumed from sibling payloads
        (
            _column("direction", "text", "direction"),
            _column("call_status", "text", "callStatus"),
            _column("duration_seconds", "int", "durationSeconds"),
            _column("is_transfer", "bool", "isTransfer"),
            _column("summary", "text", "summary"),
            _column("ended_by", "text", "endedBy"),
        ),
    ),
    EventTable(
        "emails",
        "EMAIL",  # shape assumed: direction and content like MESSAGE, plus a subject
        (
            _column("direction", "text", "direction"),
            _column("subject", "text", "content", "subject"),
            _column("text", "text", "content", "text"),
        ),
    ),
    EventTable(
        "tool_calls",
        "TOOL_CALL",  # shape assumed: an agent's tool invocation
        (
            _column("tool_name", "text", "toolName"),
            _column("arguments", "json", "arguments"),
            _column("result", "json", "result"),
            _column("status", "text", "status"),
        ),
    ),
    EventTable(
        "custom_events",
        "CUSTOM",  # shape assumed: a named event with free properties
        (_column("name", "text", "name"), _column("properties", "json", "properties")),
    ),
    EventTable(
        "compliance_blocks",
        "COMPLIANCE_BLOCKED",
        (
            _column("channel", "text", "channel"),
            _column("reason", "text", "reason"),
            _column("source", "text", "source"),
            _column("triggered_by", "text", "triggeredBy"),
        ),
    ),
    EventTable(OTHER_EVENTS, None),
)

LAYOUT = Layout(lead_columns=LEAD_COLUMNS, event_tables=EVENT_TABLES)
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in LAYOUT.event_tables)
#: The table of each event type that has one (every other type is in `other_events`).
TABLE_OF_TYPE: dict[str, str] = {
    t.event_type: t.name for t in LAYOUT.event_tables if t.event_type is not None
}
