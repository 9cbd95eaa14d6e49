"""attent.leads: the newest version of each lead, merged from lead rows as they are committed,
and restored from the lake by a replay."""

from __future__ import annotations

from datetime import date

import duckdb

from attent_assets.storage.lake import Lake
from attent_assets.storage.layout import Layout
from attent_assets.storage.manifest import ALL_FILES, committed_files
from attent_assets.storage.projection import from_lake, upsert, with_typed
from attent_assets.storage.sql import transaction

_RESTORE = "_attent_restore"


def upsert_leads(con: duckdb.DuckDBPyConnection, layout: Layout, source: str) -> None:
    """Merge lake-schema lead rows from `source` into attent.leads, newest version per id."""
    newest = f"""(SELECT * FROM {source}
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1)"""
    select = with_typed(from_lake(newest, "leads"), "leads", layout.lead_columns)
    con.execute(upsert("leads", "leads", layout.lead_columns, select)).fetchall()


def restore_leads(
    con: duckdb.DuckDBPyConnection, lake: Lake, layout: Layout, replay_from: date
) -> None:
    """Merge every lead version in the lake from `replay_from` on back into attent.leads.

    Monotone, so only rows missing or older than the lake's newest version change: a replay
    repairs a table a user edited or emptied without re-reading anything from the API.
    """
    files = [path for path, _ in committed_files(con, lake, "leads", 0, ALL_FILES, replay_from)]
    if not files:
        return
    with transaction(con):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_RESTORE} AS SELECT * FROM read_parquet(?)", [files]
        ).fetchall()
        upsert_leads(con, layout, f"temp.{_RESTORE}")
        con.execute(f"DROP TABLE temp.{_RESTORE}").fetchall()
