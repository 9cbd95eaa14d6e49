"""Read-only questions about the warehouse and the lake, for asset checks and run metadata.

Table names are accepted only if the Layout knows them, so a name never reaches SQL unchecked.
Everything here works on a read-only connection too; the Store inherits these methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from attent_assets.storage.lake import Lake, LakeKind
from attent_assets.storage.layout import EventTable, Layout
from attent_assets.storage.sql import as_utc, ident, scalar, state_table, user_table
from attent_assets.storage.typed import EVENT_KEY, routing

_LEAD_ENVELOPE: tuple[str, ...] = ("id", "updatedAt")


class Inspector:
    def __init__(self, con: duckdb.DuckDBPyConnection, lake: Lake, layout: Layout) -> None:
        self._con = con
        self.lake = lake
        self.layout = layout

    @property
    def table_names(self) -> tuple[str, ...]:
        return ("leads", *(t.name for t in self.layout.event_tables), "quarantine")

    def row_count(self, table: str) -> int:
        return int(scalar(self._con, f"SELECT count(*) FROM {self._table(table)}"))

    def duplicate_keys(self, table: str) -> int:
        """Keys held by more than one row (the primary key should make this 0)."""
        keys = ", ".join(map(ident, self._keys(table)))
        return int(
            scalar(
                self._con,
                f"SELECT count(*) FROM (SELECT 1 FROM {self._table(table)} "
                f"GROUP BY {keys} HAVING count(*) > 1)",
            )
        )

    def null_keys(self, table: str) -> int:
        nulls = " OR ".join(f"{ident(k)} IS NULL" for k in self._keys(table))
        return int(scalar(self._con, f"SELECT count(*) FROM {self._table(table)} WHERE {nulls}"))

    def lake_versions_missing(
        self, table: str, examples: int = 5
    ) -> tuple[int, list[tuple[str, ...]]]:
        """Keys whose newest lake version is not in `table` with that updated_at.

        Reads the committed lake files (hive-partitioned Parquet), independent of the manifest,
        so it also catches a merge that skipped files. Examples are key tuples, ordered.
        """
        kind: LakeKind = "leads" if table == "leads" else "events"
        keys = self._keys(table)
        target = self._table(table)
        pattern = self.lake.glob(kind)
        if pattern is None:
            return 0, []
        where, params = (
            ("true", []) if table == "leads" else routing(self.layout, self._event(table))
        )
        key_list = ", ".join(map(ident, keys))
        on = " AND ".join(f"t.{ident(k)} = v.{ident(k)}" for k in (*keys, "updated_at"))
        rows = self._con.execute(
            f"""WITH v AS (
                SELECT {key_list}, max(updated_at) AS updated_at
                FROM read_parquet(?, hive_partitioning = true, union_by_name = true)
                WHERE {where} GROUP BY {key_list})
            SELECT count(*) OVER (), {", ".join(f"v.{ident(k)}" for k in keys)}
            FROM v LEFT JOIN {target} t ON {on}
            WHERE t.{ident(keys[-1])} IS NULL
            ORDER BY {", ".join(f"v.{ident(k)}" for k in keys)} LIMIT ?""",
            [pattern, *params, examples],
        ).fetchall()
        if not rows:
            return 0, []
        return int(rows[0][0]), [tuple(row[1:]) for row in rows]

    def unknown_types(self) -> list[tuple[str, int, str]]:
        """Event types held by the catch-all table: (type, rows, an example id)."""
        catch_all = self.layout.catch_all
        if catch_all is None:
            return []
        rows = self._con.execute(
            f"SELECT type, count(*) AS n, min(id) FROM {user_table(catch_all.name)} "
            "GROUP BY type ORDER BY n DESC, type"
        ).fetchall()
        return [(kind, int(n), example) for kind, n, example in rows]

    def unknown_fields(self, table: str) -> list[tuple[str, int, str]]:
        """Top-level JSON keys no typed column reads: (key, rows having it, an example id).

        For leads the document is `raw` (its `id` and `updatedAt` are columns too); for event
        tables it is `data`.
        """
        covered: tuple[str, ...] = ()
        if table == "leads":
            doc, columns, covered = "raw", self.layout.lead_columns, _LEAD_ENVELOPE
        else:
            doc, columns = "data", self._event(table).columns
        known = sorted({*covered, *(column.path[0] for column in columns)})
        rows = self._con.execute(
            f"""SELECT key, count(*) AS n, min(id) FROM (
                SELECT id, unnest(json_keys({ident(doc)})) AS key FROM {self._table(table)}
                WHERE json_type({ident(doc)}) = 'OBJECT')
            WHERE NOT list_contains(?::VARCHAR[], key)
            GROUP BY key ORDER BY n DESC, key""",
            [known],
        ).fetchall()
        return [(key, int(n), example) for key, n, example in rows]

    def newest_updated_at(self) -> datetime | None:
        """The newest `updated_at` stored, over leads and events (as written to the lake)."""
        value = scalar(
            self._con,
            f"""SELECT greatest(
                (SELECT max(updated_at) FROM {user_table("leads")}),
                (SELECT max(updated_at) FROM {state_table("event_versions")}))""",
        )
        return as_utc(value)

    def column_schema(self, table: str) -> list[tuple[str, str]]:
        self._table(table)
        rows = self._con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'attent' "
            "AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        return [(name, kind) for name, kind in rows]

    def preview(self, table: str, n: int = 5) -> list[dict[str, Any]]:
        """The `n` most recently changed rows; JSON columns come back as text."""
        order = "first_seen_at" if table == "quarantine" else "updated_at"
        relation = self._con.sql(
            f"SELECT * FROM {self._table(table)} ORDER BY {ident(order)} DESC LIMIT ?",
            params=[n],
        )
        rows: list[dict[str, Any]] = relation.to_arrow_table().to_pylist()
        return rows

    def _table(self, table: str) -> str:
        if table not in self.table_names:
            raise ValueError(f"unknown table {table!r}; known: {list(self.table_names)}")
        return user_table(table)

    def _event(self, table: str) -> EventTable:
        return self.layout.event_table(table)

    def _keys(self, table: str) -> tuple[str, ...]:
        self._table(table)
        if table == "leads":
            return ("id",)
        if table == "quarantine":
            return ("record_hash",)
        return EVENT_KEY
