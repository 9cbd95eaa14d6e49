"""Read-only questions about the warehouse and the lake, for asset checks and run metadata.

The check questions take a `Scope`: the lake files one run committed (what a sensor or backfill
run verifies: its cost follows the change) or the whole history (the audit). Table names are
accepted only if the Layout knows them, so a name never reaches SQL unchecked. Everything here
works on a read-only connection too; the Store inherits these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from attent_assets.storage.lake import Lake
from attent_assets.storage.layout import ENVELOPES, KEYS, EventTable, LakeKind, Layout
from attent_assets.storage.sql import (
    as_utc,
    ident,
    json_document,
    scalar,
    state_table,
    user_table,
)
from attent_assets.storage.typed import routing

#: The lead's JSON keys its envelope reads (its other keys are typed columns, or unknown).
_LEAD_ENVELOPE = tuple(f.json_key for f in ENVELOPES["leads"] if f.json_key)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a check reads: `files` (committed lake files as the manifest names them, by kind) or,
    when None, the whole history: every table row and every lake file (the audit)."""

    files: Mapping[LakeKind, tuple[str, ...]] | None = None

    @property
    def is_audit(self) -> bool:
        return self.files is None


AUDIT = Scope()


class Inspector:
    def __init__(self, con: duckdb.DuckDBPyConnection, lake: Lake, layout: Layout) -> None:
        self._con = con
        self.lake = lake
        self.layout = layout
        self._scopes: dict[LakeKind, tuple[str, ...]] = {}

    @property
    def table_names(self) -> tuple[str, ...]:
        return ("leads", *(t.name for t in self.layout.event_tables), "quarantine")

    def row_count(self, table: str) -> int:
        return int(scalar(self._con, f"SELECT count(*) FROM {self._table(table)}"))

    def duplicate_keys(self, table: str, scope: Scope = AUDIT) -> tuple[int, int]:
        """(keys held by more than one row, keys looked at): every key of the table, or the keys
        of the versions in the scope's files (each must be held by exactly one row)."""
        keys = ", ".join(map(ident, self._keys(table)))
        target = self._table(table)
        if scope.is_audit:
            rows = f"SELECT {keys} FROM {target}"
            params: list[object] = []
        else:
            source, params = self._lake_rows(table, scope)
            if not source:
                return 0, 0
            rows = f"SELECT {keys} FROM {target} WHERE ({keys}) IN (SELECT {keys} FROM {source})"
        found = self._con.execute(
            f"""SELECT count(*) FILTER (WHERE n > 1), count(*)
            FROM (SELECT count(*) AS n FROM ({rows}) GROUP BY {keys})""",
            params,
        ).fetchall()
        return int(found[0][0]), int(found[0][1])

    def null_keys(self, table: str) -> int:
        nulls = " OR ".join(f"{ident(k)} IS NULL" for k in self._keys(table))
        return int(scalar(self._con, f"SELECT count(*) FROM {self._table(table)} WHERE {nulls}"))

    def lake_versions_missing(
        self, table: str, scope: Scope = AUDIT, examples: int = 5
    ) -> tuple[int, list[tuple[str, ...]]]:
        """Keys whose newest lake version (in the scope's files) is not in `table` with that
        updated_at.

        The audit reads every committed lake file (hive-partitioned Parquet), independent of the
        manifest, so it also catches a merge that skipped files. A run's scope holds the newest
        version of each key it wrote (the lake keeps only versions newer than those stored).
        Examples are key tuples, ordered.
        """
        keys = self._keys(table)
        source, params = self._lake_rows(table, scope)
        if not source:
            return 0, []
        key_list = ", ".join(map(ident, keys))
        on = " AND ".join(f"t.{ident(k)} = v.{ident(k)}" for k in (*keys, "updated_at"))
        rows = self._con.execute(
            f"""WITH v AS (
                SELECT {key_list}, max(updated_at) AS updated_at FROM {source} GROUP BY {key_list})
            SELECT count(*) OVER (), {", ".join(f"v.{ident(k)}" for k in keys)}
            FROM v LEFT JOIN {self._table(table)} t ON {on}
            WHERE t.{ident(keys[-1])} IS NULL
            ORDER BY {", ".join(f"v.{ident(k)}" for k in keys)} LIMIT ?""",
            [*params, examples],
        ).fetchall()
        if not rows:
            return 0, []
        return int(rows[0][0]), [tuple(row[1:]) for row in rows]

    def unknown_types(self, scope: Scope = AUDIT) -> list[tuple[str, int, str]]:
        """Event types without a table of their own: (type, rows, an example id)."""
        catch_all = self.layout.catch_all
        if catch_all is None:
            return []
        source, params = self._documents(catch_all.name, scope)
        if not source:
            return []
        rows = self._con.execute(
            f"SELECT type, count(*) AS n, min(id) FROM {source} "
            "GROUP BY type ORDER BY n DESC, type",
            params,
        ).fetchall()
        return [(kind, int(n), example) for kind, n, example in rows]

    def unknown_fields(self, table: str, scope: Scope = AUDIT) -> list[tuple[str, int, str]]:
        """Top-level JSON keys no typed column reads: (key, rows having it, an example id).

        For leads the document is `raw` (its `id` and `updatedAt` are columns too); for event
        tables it is `data`.
        """
        covered: tuple[str, ...] = ()
        if table == "leads":
            columns, covered = self.layout.lead_columns, _LEAD_ENVELOPE
        else:
            columns = self._event(table).columns
        known = sorted({*covered, *(column.path[0] for column in columns)})
        source, params = self._documents(table, scope)
        if not source:
            return []
        rows = self._con.execute(
            f"""SELECT key, count(*) AS n, min(id) FROM (
                SELECT id, unnest(doc_keys) AS key FROM {source})
            WHERE NOT list_contains(?::VARCHAR[], key)
            GROUP BY key ORDER BY n DESC, key""",
            [*params, known],
        ).fetchall()
        return [(key, int(n), example) for key, n, example in rows]

    def files_missing(self, scope: Scope = AUDIT) -> tuple[list[str], list[str]]:
        """(manifest files absent from the lake, lake files absent from the manifest): over the
        whole lake, or for the scope's files (which must all be there)."""
        listed = {
            path
            for (path,) in self._con.execute(
                f"SELECT path FROM {state_table('lake_files')}"
            ).fetchall()
        }
        if scope.files is None:
            on_disk = set(self.lake.walk())
            return sorted(listed - on_disk), sorted(on_disk - listed)
        wanted = {path for files in scope.files.values() for path in files}
        return sorted(self.lake.missing(wanted)), []

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

    def _lake_rows(self, table: str, scope: Scope) -> tuple[str, list[object]]:
        """A FROM clause over the lake versions `table` holds (keys, updated_at and `doc_keys`,
        the top-level keys of the JSON its typed columns read), in the scope's files or in the
        whole lake; empty when there is nothing to read."""
        kind: LakeKind = "leads" if table == "leads" else "events"
        where = "true" if table == "leads" else routing(self.layout, self._event(table))
        if scope.files is None:
            pattern = self.lake.glob(kind)
            if pattern is None:
                return "", []
            source = (
                "(SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true) "
                f"WHERE {where})"
            )
            return source, [pattern]
        staged = self._staged_scope(kind, scope.files.get(kind, ()))
        return (f"(SELECT * FROM {staged} WHERE {where})", []) if staged else ("", [])

    def _staged_scope(self, kind: LakeKind, files: tuple[str, ...]) -> str:
        """The scope's versions of `kind` read once into a temporary table that every check of
        the run queries: keys, updated_at and the top-level keys of the JSON document."""
        if not files:
            return ""
        name = f"temp._attent_scope_{kind}"
        if self._scopes.get(kind) != files:
            document = json_document("raw")
            doc = document if kind == "leads" else f"json_extract({document}, '$.data')"
            keys = "id" if kind == "leads" else "type, id"
            self._con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _attent_scope_{kind} AS
                SELECT {keys}, updated_at,
                    CASE WHEN json_type({doc}) = 'OBJECT' THEN json_keys({doc}) END AS doc_keys
                FROM read_parquet(?, union_by_name = true)""",
                [[self.lake.url(path) for path in files]],
            ).fetchall()
            self._scopes[kind] = files
        return name

    def _documents(self, table: str, scope: Scope) -> tuple[str, list[object]]:
        """A FROM clause with `type`, `id` and `doc_keys` (the top-level keys of the JSON a
        typed column reads) of the rows `table` holds, or of the lake versions in the scope."""
        kind = "'lead'" if table == "leads" else "type"
        if scope.is_audit:
            doc = ident("raw" if table == "leads" else "data")
            keys = f"CASE WHEN json_type({doc}) = 'OBJECT' THEN json_keys({doc}) END"
            return f"(SELECT {kind} AS type, id, {keys} AS doc_keys FROM {self._table(table)})", []
        source, params = self._lake_rows(table, scope)
        if not source:
            return "", []
        return f"(SELECT {kind} AS type, id, doc_keys FROM {source})", params

    def _table(self, table: str) -> str:
        if table not in self.table_names:
            raise ValueError(f"unknown table {table!r}; known: {list(self.table_names)}")
        return user_table(table)

    def _event(self, table: str) -> EventTable:
        return self.layout.event_table(table)

    def _keys(self, table: str) -> tuple[str, ...]:
        self._table(table)
        if table == "quarantine":
            return ("record_hash",)
        return KEYS["leads" if table == "leads" else "events"]
