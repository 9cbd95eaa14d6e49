"""The raw Parquet lake: files that become visible only once committed, wherever the lake is.

Layout (a contract users rely on): `<lake>/<kind>/date=YYYY-MM-DD/<name>.parquet`, hive-partitioned
on the UTC day of `updated_at`, where `<lake>` is a local folder (`<data_dir>/lake` by default) or
an object-store prefix (`s3://bucket/prefix`). The manifest (`attent_state.lake_files`) names a
file `lake/<kind>/date=…/<name>.parquet` wherever the lake is. Everything not yet committed lives
under `<lake>/_staging/`, which no reader's `<kind>/date=*/*.parquet` pattern matches:

- a new file is written whole as `_staging/files/<kind>/date=<day>/<name>`; its row in the DuckDB
  manifest is the commit point; only then is it moved to its final place;
- `recover` finishes what a killed process committed and undoes the rest, looking only at
  `_staging/` (which holds nothing once every commit is finished), never at the whole lake.

How a file is made durable and moved, and how a compaction replaces a day's files, depends on the
storage: local_lake.py (fsync, atomic renames, folder swaps) and object_lake.py (one PUT per
object, server-side copies) say why each is safe.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from attent_assets.storage.layout import (
    ENVELOPES,
    KEYS,
    LAKE_KINDS,
    RAW,
    SYNC_FIELDS,
    ColumnKind,
    Field,
    LakeKind,
)

TIMESTAMP = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: Mapping[ColumnKind, pa.DataType] = {
    "text": pa.string(),
    "identifier": pa.string(),
    "timestamp": TIMESTAMP,
}


def _arrow_fields(fields: Sequence[Field]) -> list[pa.Field]:
    return [pa.field(f.name, _ARROW_TYPES[f.kind]) for f in fields]


#: What the sync hands to `Store.write_*`: the envelope, then the record's JSON text.
ROW_SCHEMAS: Mapping[LakeKind, pa.Schema] = {
    kind: pa.schema([*_arrow_fields(ENVELOPES[kind]), pa.field(RAW, pa.string())])
    for kind in LAKE_KINDS
}
#: What the lake's files hold: the rows plus the sync's columns.
LAKE_SCHEMAS: Mapping[LakeKind, pa.Schema] = {
    kind: pa.schema([*ROW_SCHEMAS[kind], *_arrow_fields(SYNC_FIELDS)]) for kind in LAKE_KINDS
}
LEAD_ROWS_SCHEMA = ROW_SCHEMAS["leads"]
EVENT_ROWS_SCHEMA = ROW_SCHEMAS["events"]
LEAD_LAKE_SCHEMA = LAKE_SCHEMAS["leads"]
EVENT_LAKE_SCHEMA = LAKE_SCHEMAS["events"]
STAGING = "_staging"
#: The manifest's prefix of every lake path, wherever the lake is.
MANIFEST_PREFIX = "lake/"


def conform(rows: pa.Table, kind: LakeKind) -> pa.Table:
    """The caller's rows in the lake input schema; refuses what the lake cannot key or date.

    Rows without a key or `updated_at` belong in the quarantine, and naive timestamps would be
    silently read as UTC: both are caller bugs, reported before anything is written.
    """
    schema = ROW_SCHEMAS[kind]
    missing = [name for name in schema.names if name not in rows.column_names]
    if missing:
        raise ValueError(f"{kind} rows lack columns {missing}; expected {schema.names}")
    for field in schema:
        given = rows.schema.field(field.name).type
        if field.type == TIMESTAMP and not (pa.types.is_timestamp(given) and given.tz):
            raise ValueError(f"{kind} column {field.name!r} must be a tz-aware timestamp: {given}")
    table = rows.select(schema.names).cast(schema)
    for name in (f.name for f in ENVELOPES[kind] if f.required):
        nulls = table.column(name).null_count
        if nulls:
            raise ValueError(f"{nulls} {kind} rows have no {name}; quarantine them instead")
    return table


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file of one day; `path` is its final place as the manifest names it
    (`lake/<kind>/date=<day>/<name>`)."""

    path: str
    kind: LakeKind
    day: date
    rows: int
    bytes: int


def manifest_rows(files: Sequence[LakeFile]) -> pa.Table:
    """The manifest columns the files fill (the caller adds its run and commit time)."""
    return pa.table(
        {
            "path": pa.array([f.path for f in files], pa.string()),
            "kind": pa.array([f.kind for f in files], pa.string()),
            "date": pa.array([f.day for f in files], pa.date32()),
            "rows": pa.array([f.rows for f in files], pa.int64()),
            "bytes": pa.array([f.bytes for f in files], pa.int64()),
        }
    )


class LakeConfigError(ValueError):
    """The lake's location or credentials cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `Lake.recover` found in the staging area: final paths (files) and `kind/day`
    folders (compactions)."""

    rolled_forward: tuple[str, ...]
    rolled_back: tuple[str, ...]


def day_dir(kind: LakeKind, day: date) -> str:
    """A day's folder, as the manifest names it."""
    return f"{MANIFEST_PREFIX}{kind}/date={day.isoformat()}"


class DayRewrite(ABC):
    """A compaction's new files for one day, invisible to readers until `finish`.

    The caller writes the merged files (`sink`, then `add`), calls `seal` before the manifest
    transaction that lists them in place of the files they merge, and `finish` after it (or
    `discard` when it fails). A process killed anywhere in between is repaired by `Lake.recover`.
    """

    def __init__(self, kind: LakeKind, day: date) -> None:
        self.kind = kind
        self.day = day
        self.files: list[LakeFile] = []

    @abstractmethod
    def sink(self, name: str) -> AbstractContextManager[BinaryIO]:
        """Where the merged file `name` is written; durable once the context closes."""

    @abstractmethod
    def size(self, name: str) -> int:
        """The bytes of a merged file written through `sink`."""

    def add(self, name: str, rows: int) -> LakeFile:
        file = LakeFile(
            f"{day_dir(self.kind, self.day)}/{name}", self.kind, self.day, rows, self.size(name)
        )
        self.files.append(file)
        return file

    @abstractmethod
    def seal(self, replaced: Sequence[str]) -> None:
        """Make the new files (and the intent to drop `replaced`) durable before the commit."""

    @abstractmethod
    def finish(self) -> None:
        """After the commit: make the new files visible and the replaced ones gone."""

    @abstractmethod
    def discard(self) -> None:
        """The commit failed: remove what was written."""


class Lake(ABC):
    """Parquet files under a root folder or prefix; knows nothing of the manifest's table (the
    caller owns the commit), only how to stage, publish, list and read files."""

    #: The lake as users name it (a folder, or an `s3://` URL): for messages.
    location: str

    # --- what the storage layer calls ---------------------------------------------------------

    @abstractmethod
    def check(self) -> None:
        """Fail with a message naming the setting when the lake cannot be used; creates
        nothing."""

    @abstractmethod
    def prepare(self) -> None:
        """Before a read-write open: `check`, then create what is missing."""

    @abstractmethod
    def url(self, path: str) -> str:
        """Where DuckDB and Arrow read the file the manifest names `path`."""

    @abstractmethod
    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` read this lake's URLs."""

    @abstractmethod
    def missing(self, paths: Collection[str]) -> set[str]:
        """Which of the files `paths` (manifest paths) are not in the lake."""

    def read(self, path: str) -> pa.Table:
        return pq.read_table(self.url(path))

    def walk(self) -> Iterator[str]:
        """Every final Parquet file of the lake (for the full audit; the sync never walks)."""
        for kind in LAKE_KINDS:
            yield from self._list(f"{kind}/date=*/*.parquet")

    def pattern(self, kind: LakeKind) -> str:
        """A read_parquet pattern matching every committed file of `kind`."""
        return self.url(f"{MANIFEST_PREFIX}{kind}/date=*/*.parquet")

    def glob(self, kind: LakeKind) -> str | None:
        """`pattern(kind)`, or None while there is no committed file of `kind`."""
        return (
            self.pattern(kind) if next(iter(self._list(f"{kind}/date=*/*.parquet")), None) else None
        )

    def stage(self, kind: LakeKind, table: pa.Table, run_id: str) -> list[LakeFile]:
        """Write `table` (lake schema) as one durable staged file per UTC day, ordered by
        version."""
        order = [(name, "ascending") for name in ("updated_at", *KEYS[kind])]
        table = table.cast(LAKE_SCHEMAS[kind]).sort_by(order)
        runs = pc.run_end_encode(pc.cast(table.column("updated_at").combine_chunks(), pa.date32()))
        files: list[LakeFile] = []
        start = 0
        try:
            for end, day in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                path = f"{day_dir(kind, day)}/{run_id}-{uuid.uuid4().hex}.parquet"
                size = self._write_staged(path, table.slice(start, end - start))
                files.append(LakeFile(path, kind, day, end - start, size))
                start = end
            self._seal_staged([f.path for f in files])
        except BaseException:
            self.discard(files)
            raise
        return files

    def publish(self, files: Iterable[LakeFile]) -> None:
        """Move committed staged files to their final places."""
        self._place([file.path for file in files])

    def discard(self, files: Iterable[LakeFile]) -> None:
        for file in files:
            self._unstage(file.path)

    @abstractmethod
    def sweep_retired(self) -> None:
        """Delete what compactions replaced once no reader can still be reading it."""

    def can_compact(self) -> bool:
        """Whether this lake can replace a day's files safely."""
        return True

    @abstractmethod
    def rewrite(self, kind: LakeKind, day: date, keep: Sequence[str]) -> DayRewrite:
        """A compaction of a day that keeps the files `keep` (manifest paths)."""

    def recover(self, committed: Callable[[Collection[str]], set[str]]) -> Recovery:
        """Finish or undo what a killed process left in the staging area.

        `committed(paths)` answers which of the given final paths the manifest lists.
        """
        forward, back = self._recover_rewrites(committed)
        staged = self.staged()
        listed = committed(staged) if staged else set()
        self._place([path for path in staged if path in listed])
        for path in staged:
            if path not in listed:
                self._unstage(path)
        forward += [path for path in staged if path in listed]
        back += [path for path in staged if path not in listed]
        return Recovery(rolled_forward=tuple(sorted(forward)), rolled_back=tuple(sorted(back)))

    def staged(self) -> list[str]:
        """The final paths of the files waiting in the staging area."""
        prefix = f"{STAGING}/files/"
        return [
            MANIFEST_PREFIX + path.removeprefix(MANIFEST_PREFIX + prefix)
            for path in self._list(f"{prefix}*/date=*/*.parquet")
        ]

    @abstractmethod
    def pending_rewrites(self) -> list[str]:
        """Compactions left unfinished (by a killed process), until `recover` deals with them."""

    # --- what each storage provides -----------------------------------------------------------

    @abstractmethod
    def _list(self, pattern: str) -> list[str]:
        """Manifest paths of the files matching `pattern` (relative to the lake root)."""

    @abstractmethod
    def _write_staged(self, path: str, table: pa.Table) -> int:
        """Write the staged file of final path `path`; its size in bytes."""

    @abstractmethod
    def _seal_staged(self, paths: Sequence[str]) -> None:
        """Make files just staged durable (before their commit)."""

    @abstractmethod
    def _place(self, paths: Sequence[str]) -> None:
        """Move staged files (by final path) into place; idempotent, durable on return."""

    @abstractmethod
    def _unstage(self, path: str) -> None:
        """Delete a staged file, if it is there."""

    def _recover_rewrites(
        self, committed: Callable[[Collection[str]], set[str]]
    ) -> tuple[list[str], list[str]]:
        """Finish or undo compactions a killed process left; (finished, undone) day folders."""
        return [], []


def staged_name(path: str) -> str:
    """A final path's name in the staging area, relative to the lake root."""
    return f"{STAGING}/files/{path.removeprefix(MANIFEST_PREFIX)}"
