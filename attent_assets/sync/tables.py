"""The warehouse layout, derived from the API models.

The typed columns of every table come from the `json_field` declarations in
`attent_assets.api.models`, so the models are the one place that says which fields of a payload we
understand. Adding a field there adds a column here; storage only executes the layout it is given.
"""

from __future__ import annotations

from attent_assets.api.models import DATA_MODELS, Lead, model_fields
from attent_assets.storage import Column, EventTable, Layout

#: Warehouse table per documented event type (DESIGN section 6: a contract users query).
EVENT_TABLE_NAMES: dict[str, str] = {
    "MESSAGE": "messages",
    "CALL": "calls",
    "EMAIL": "emails",
    "TOOL_CALL": "tool_calls",
    "CUSTOM": "custom_events",
    "COMPLIANCE_BLOCKED": "compliance_blocks",
}
#: Every type without a table of its own (undocumented, new, or hostile names) lands here, raw.
OTHER_EVENTS = "other_events"

#: Lead fields stored as the table's key and version columns rather than as typed payload columns.
_LEAD_KEY_FIELDS = frozenset({"id", "updated_at"})


def _columns(model: type) -> tuple[Column, ...]:
    return tuple(Column(name=f.name, kind=f.kind, path=f.path) for f in model_fields(model))


def build_layout() -> Layout:
    """The leads table plus one table per documented event type and `other_events`."""
    lead_columns = tuple(c for c in _columns(Lead) if c.name not in _LEAD_KEY_FIELDS)
    documented = (
        EventTable(name=EVENT_TABLE_NAMES[type_], event_type=type_, columns=_columns(model))
        for type_, model in DATA_MODELS.items()
    )
    event_tables = (*documented, EventTable(name=OTHER_EVENTS, event_type=None, columns=()))
    return Layout(lead_columns=lead_columns, event_tables=event_tables)


LAYOUT = build_layout()
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in LAYOUT.event_tables)
