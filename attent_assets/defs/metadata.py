"""Sync reports and table facts as Dagster metadata. Keys stay the same run to run so the UI can
plot them; timestamps are ISO strings."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from attent_assets.storage import Store
from attent_assets.sync import Mode, Window
from attent_assets.sync.report import EventsReport, LeadsReport, StepReport

PREVIEW_ROWS = 5


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def lag_seconds(newest: datetime | None) -> float:
    """Now minus the newest `updatedAt` synced (0 when nothing is synced yet)."""
    return max(0.0, (datetime.now(UTC) - newest).total_seconds()) if newest else 0.0


def run_metadata(mode: Mode, window: Window | None) -> dict[str, Any]:
    """The run's mode and replay window (empty bounds: from the beginning / incremental)."""
    return {
        "mode": mode.value,
        "window_start": _iso(window.start if window else None),
        "window_end": _iso(window.end if window else None),
    }


def step_metadata(report: StepReport) -> dict[str, Any]:
    """The numbers every sync step shares: what it read, wrote and cost."""
    return {
        "since": _iso(report.since),
        "records_fetched": report.records_fetched,
        "rows_written": report.rows_written,
        "rows_new": report.new_keys,
        "rows_updated": report.updated_keys,
        "quarantined": report.quarantined,
        "partitions_changed": len(report.partitions),
        "requests": int(report.client.get("requests", 0)),
        "retries": int(report.client.get("retries", 0)),
        "throttled": int(report.client.get("throttled", 0)),
        "bytes_received": int(report.client.get("bytes_received", 0)),
        "sync_lag_seconds": lag_seconds(report.newest_updated_at),
    }


def leads_metadata(report: LeadsReport) -> dict[str, Any]:
    return {**step_metadata(report), "leads_watermark": _iso(report.watermark)}


def events_metadata(report: EventsReport) -> dict[str, Any]:
    by_type = ", ".join(f"{t}={n}" for t, n in sorted(report.by_type.items()))
    return {
        **step_metadata(report),
        "leads_needing_events": report.leads_needing_events,
        "leads_done": report.leads_done,
        "leads_gone": report.leads_gone,
        "events_by_type": by_type,
    }


def table_metadata(store: Store, table: str) -> dict[str, Any]:
    """Standard table metadata: name, row count, column schema and a small preview."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, type_) for name, type_ in store.column_schema(table)]
    )
    return {
        "dagster/table_name": f"attent.{table}",
        "dagster/row_count": store.row_count(table),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(_markdown(store.preview(table, PREVIEW_ROWS))),
    }


def _markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_empty_"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = (_cell(row[n]) for n in names)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: object, width: int = 40) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
