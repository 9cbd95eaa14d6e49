"""The raw Parquet lake: append-only files that become visible only once committed.

Layout (a contract users rely on): `<data_dir>/lake/<kind>/date=YYYY-MM-DD/<run_id>-<uuid>.parquet`,
hive-partitioned on the UTC day of `updated_at`. A file is first written and fsynced as
`<final>.tmp`; its row in the DuckDB manifest is the commit point; only then is it renamed to the
final name. `recover` finishes (manifest row present) or undoes (absent) what a killed process left.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LakeKind = Literal["leads", "events"]
LAKE_KINDS: tuple[LakeKind, ...] = ("leads", "events")

TIMESTAMP = pa.timestamp("us", tz="UTC")
LEAD_ROWS_SCHEMA = pa.schema(
    [("id", pa.string()), ("updated_at", TIMESTAMP), ("raw", pa.string())],
)
EVENT_ROWS_SCHEMA = pa.schema(
    [
        ("type", pa.string()),
        ("id", pa.string()),
        ("room_id", pa.string()),
        ("org_id", pa.string()),
        ("timestamp", TIMESTAMP),
        ("updated_at", TIMESTAMP),
        ("raw", pa.string()),
    ],
)
_SYNC_FIELDS = [pa.field("synced_at", TIMESTAMP), pa.field("run_id", pa.string())]
LEAD_LAKE_SCHEMA = pa.schema([*LEAD_ROWS_SCHEMA, *_SYNC_FIELDS])
EVENT_LAKE_SCHEMA = pa.schema([*EVENT_ROWS_SCHEMA, *_SYNC_FIELDS])

ROW_SCHEMAS: Mapping[LakeKind, pa.Schema] = {
    "leads": LEAD_ROWS_SCHEMA,
    "events": EVENT_ROWS_SCHEMA,
}
LAKE_SCHEMAS: Mapping[LakeKind, pa.Schema] = {
    "leads": LEAD_LAKE_SCHEMA,
    "events": EVENT_LAKE_SCHEMA,
}
KEY_COLUMNS: Mapping[LakeKind, tuple[str, ...]] = {"leads": ("id",), "events": ("type", "id")}
TMP_SUFFIX = ".tmp"

log = logging.getLogger(__name__)


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
    for name in (*KEY_COLUMNS[kind], "updated_at"):
        nulls = table.column(name).null_count
        if nulls:
            raise ValueError(f"{nulls} {kind} rows have no {name}; quarantine them instead")
    return table


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file of one day; `path` is POSIX and relative to the data directory."""

    path: str
    kind: LakeKind
    day: date
    rows: int


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `Lake.recover` found: paths relative to the data directory."""

    rolled_forward: tuple[str, ...]
    rolled_back: tuple[str, ...]
    missing: tuple[str, ...]
    unlisted: tuple[str, ...]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Lake:
    """Files under `<data_dir>/lake`; knows nothing of DuckDB (the caller owns the manifest)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def kind_dir(self, kind: LakeKind) -> Path:
        return self.data_dir / "lake" / kind

    def path(self, relative: str) -> Path:
        return self.data_dir / relative

    def create_dirs(self) -> None:
        for kind in LAKE_KINDS:
            self.kind_dir(kind).mkdir(parents=True, exist_ok=True)

    def stage(self, kind: LakeKind, table: pa.Table, run_id: str) -> list[LakeFile]:
        """Write `table` (lake schema) as one fsynced tmp file per UTC day, ordered by version.

        The directories are fsynced too: a committed manifest row must never point at a tmp
        file whose directory entry a power loss could still erase.
        """
        order = [(name, "ascending") for name in ("updated_at", *KEY_COLUMNS[kind])]
        table = table.cast(LAKE_SCHEMAS[kind]).sort_by(order)
        runs = pc.run_end_encode(pc.cast(table.column("updated_at").combine_chunks(), pa.date32()))
        files: list[LakeFile] = []
        start = 0
        try:
            for end, day in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                name = f"{run_id}-{uuid.uuid4().hex}.parquet"
                file = LakeFile(
                    f"lake/{kind}/date={day.isoformat()}/{name}", kind, day, end - start
                )
                files.append(file)
                tmp = self._tmp(file.path)
                tmp.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.slice(start, file.rows), tmp, compression="zstd")
                _fsync(tmp)
                start = end
            self._fsync_dirs([self.kind_dir(kind), *(self._tmp(f.path).parent for f in files)])
        except BaseException:
            self.discard(files)
            raise
        return files

    def publish(self, files: Iterable[LakeFile]) -> None:
        """Give committed tmp files their final names (atomic rename) and make that durable."""
        files = list(files)
        for file in files:
            self._tmp(file.path).replace(self.path(file.path))
        self._fsync_dirs(self.path(file.path).parent for file in files)

    def discard(self, files: Iterable[LakeFile]) -> None:
        for file in files:
            self._tmp(file.path).unlink(missing_ok=True)

    def recover(self, committed: Collection[str]) -> Recovery:
        """Roll tmp files forward when `committed` lists them, delete the others.

        Also reports committed paths with no file at all (lost: the caller logs them as errors)
        and final files the manifest does not list.
        """
        committed = set(committed)
        finals: set[str] = set()
        forward: list[str] = []
        back: list[str] = []
        touched: set[Path] = set()
        for relative in self._walk():
            if not relative.endswith(TMP_SUFFIX):
                finals.add(relative)
                continue
            final = relative.removesuffix(TMP_SUFFIX)
            if final in committed:
                self.path(relative).replace(self.path(final))
                forward.append(final)
                finals.add(final)
            else:
                self.path(relative).unlink()
                back.append(final)
            touched.add(self.path(relative).parent)
        self._fsync_dirs(touched)
        return Recovery(
            rolled_forward=tuple(sorted(forward)),
            rolled_back=tuple(sorted(back)),
            missing=tuple(sorted(p for p in committed if p not in finals)),
            unlisted=tuple(sorted(finals.difference(committed))),
        )

    def glob(self, kind: LakeKind) -> str | None:
        """A read_parquet pattern for the committed files of `kind`, None while there are none."""
        if next(self.kind_dir(kind).glob("date=*/*.parquet"), None) is None:
            return None
        return str(self.kind_dir(kind) / "date=*" / "*.parquet")

    def _walk(self) -> Iterator[str]:
        for kind in LAKE_KINDS:
            root = self.kind_dir(kind)
            if not root.is_dir():
                continue
            for day_dir in root.iterdir():
                if day_dir.is_dir():
                    for entry in day_dir.iterdir():
                        if entry.name.endswith((".parquet", ".parquet" + TMP_SUFFIX)):
                            yield entry.relative_to(self.data_dir).as_posix()

    def _tmp(self, relative: str) -> Path:
        return self.path(relative + TMP_SUFFIX)

    @staticmethod
    def _fsync_dirs(directories: Iterable[Path]) -> None:
        for directory in set(directories):
            _fsync(directory)
