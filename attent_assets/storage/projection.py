"""How lake rows become table rows: the fixed columns, then each typed column read from the
row's JSON document, merged so that only a newer version replaces a row.

Every table is filled through here (leads and event merges, a type moving out of the catch-all),
so the typed values follow one set of rules: `sql.typed_value`.
"""

from __future__ import annotations

from collections.abc import Sequence

from attent_assets.storage.layout import (
    DOCUMENTS,
    ENVELOPES,
    KEYS,
    RAW,
    SYNC_FIELDS,
    Column,
    LakeKind,
    fixed_columns,
)
from attent_assets.storage.sql import (
    extract_all,
    ident,
    json_document,
    json_path,
    literal,
    monotone_upsert,
    non_null_json,
    typed_columns,
    user_table,
)


def _names(fields: Sequence[str]) -> str:
    return ", ".join(map(ident, fields))


def from_lake(source: str, kind: LakeKind) -> str:
    """SELECT the fixed columns of a `kind` table from lake-schema rows of `source` (a table or
    a parenthesised query): the envelope, the JSON document parsed from `raw`, the sync's."""
    envelope = _names([f.name for f in ENVELOPES[kind]])
    sync = _names([f.name for f in SYNC_FIELDS])
    name, path = DOCUMENTS[kind]
    document = json_document(ident(RAW))
    if not path:
        return f"SELECT {envelope}, {document} AS {ident(name)}, {sync} FROM {source}"
    # Extracted once in an inner query: non_null_json reads its argument twice.
    inner = f"""SELECT {envelope}, json_extract({document}, {literal(json_path(path))}) AS _doc,
        {sync} FROM {source}"""
    return f"SELECT {envelope}, {non_null_json('_doc')} AS {ident(name)}, {sync} FROM ({inner})"


def with_typed(fixed: str, kind: LakeKind, columns: Sequence[Column]) -> str:
    """`fixed` (a SELECT of a table's fixed columns) plus each typed column read from its JSON
    document, parsed once per row."""
    names = _names(fixed_columns(kind))
    if not columns:
        return f"SELECT {names} FROM ({fixed})"
    typed = ", ".join(typed_columns("_vals", columns))
    values = extract_all(ident(DOCUMENTS[kind][0]), columns)
    return f"SELECT {names}, {typed} FROM (SELECT *, {values} AS _vals FROM ({fixed}))"


def upsert(table: str, kind: LakeKind, columns: Sequence[Column], select: str) -> str:
    """Merge `select` (one row per key, the table's fixed then typed columns) into `table`."""
    names = [*fixed_columns(kind), *(c.name for c in columns)]
    return monotone_upsert(user_table(table), names, KEYS[kind], select)
