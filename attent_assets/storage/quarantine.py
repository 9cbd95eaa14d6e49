"""Records that cannot be keyed (no id, type or valid updatedAt), kept so nothing is dropped.

A record is identified by the sha256 of its kind and raw text: fetching the same malformed record
again (every run sees it while the API serves it) stores nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from attent_assets.storage.records import QuarantinedRecord
from attent_assets.storage.sql import json_document, registered, scalar, user_table


def quarantine(
    con: duckdb.DuckDBPyConnection, records: Sequence[QuarantinedRecord], run_id: str
) -> int:
    """Store the records not stored before; returns how many were new."""
    if not records:
        return 0
    table = pa.table(
        {
            "kind": pa.array([r.kind for r in records], pa.string()),
            "lead_id": pa.array([r.lead_id for r in records], pa.string()),
            "reasons": pa.array([list(r.reasons) for r in records], pa.list_(pa.string())),
            "raw": pa.array([r.raw for r in records], pa.string()),
        }
    )
    with registered(con, "_attent_quarantine", table) as source:
        inserted = scalar(
            con,
            f"""INSERT INTO {user_table("quarantine")}
                (kind, lead_id, reasons, raw, record_hash, first_seen_at, run_id)
            SELECT kind, lead_id, reasons, {json_document("raw")},
                sha256(kind || chr(10) || raw) AS record_hash, now(), ?
            FROM {source}
            QUALIFY row_number() OVER (PARTITION BY record_hash) = 1
            ON CONFLICT (record_hash) DO NOTHING""",
            [run_id],
        )
    return int(inserted)
