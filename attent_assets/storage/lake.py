"""The raw Parquet lake: files that become visible only once committed, and swaps of whole day
folders that make compaction invisible to readers.

Layout (a contract users rely on): `<data_dir>/lake/<kind>/date=YYYY-MM-DD/<name>.parquet`,
hive-partitioned on the UTC day of `updated_at`. Everything not yet committed lives under
`lake/_staging/`, which no reader's `lake/<kind>/date=*/*.parquet` pattern matches:

- a new file is written and fsynced as `lake/_staging/files/<kind>/date=<day>/<name>`; its row in
  the DuckDB manifest is the commit point; only then is it renamed to its final place;
- a compaction builds the complete new folder of a day as `lake/_staging/swaps/<kind>/date=<day>/`
  (its merged files, plus hard links to the files it keeps); the manifest transaction that replaces
  the merged files' rows by the new ones is the commit point; then the two folders are exchanged in
  one atomic `renameat2(RENAME_EXCHANGE)`, so a reader listing the day sees the old files or the new
  ones, never both and never neither; the old folder is deleted a few minutes later.

`recover` finishes what a killed process committed and undoes the rest, looking only at
`lake/_staging/` (which holds nothing once every commit is finished), never at the whole lake.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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
#: How long a folder replaced by a compaction is kept for readers still listing it.
RETIRED_SECONDS = 300.0

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
    for name in (f.name for f in ENVELOPES[kind] if f.required):
        nulls = table.column(name).null_count
        if nulls:
            raise ValueError(f"{nulls} {kind} rows have no {name}; quarantine them instead")
    return table


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file of one day; `path` is its final place, POSIX, relative to the data
    directory."""

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


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `Lake.recover` found in the staging area: final paths (files) and `kind/day`
    folders (swaps)."""

    rolled_forward: tuple[str, ...]
    rolled_back: tuple[str, ...]


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def day_dir(kind: LakeKind, day: date) -> str:
    """A day's folder, relative to the data directory."""
    return f"lake/{kind}/date={day.isoformat()}"


#: Linux's renameat2 flag that swaps two paths atomically.
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one atomic step (Linux renameat2 with RENAME_EXCHANGE); OSError
    where the C library or the file system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(a))


class Lake:
    """Files under `<data_dir>/lake`; knows nothing of DuckDB (the caller owns the manifest)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._swaps_supported: bool | None = None

    def kind_dir(self, kind: LakeKind) -> Path:
        return self.data_dir / "lake" / kind

    def path(self, relative: str) -> Path:
        return self.data_dir / relative

    def create_dirs(self) -> None:
        for kind in LAKE_KINDS:
            self.kind_dir(kind).mkdir(parents=True, exist_ok=True)

    def stage(self, kind: LakeKind, table: pa.Table, run_id: str) -> list[LakeFile]:
        """Write `table` (lake schema) as one fsynced staged file per UTC day, ordered by version.

        The directories are fsynced too: a committed manifest row must never point at a staged
        file whose directory entry a power loss could still erase.
        """
        order = [(name, "ascending") for name in ("updated_at", *KEYS[kind])]
        table = table.cast(LAKE_SCHEMAS[kind]).sort_by(order)
        runs = pc.run_end_encode(pc.cast(table.column("updated_at").combine_chunks(), pa.date32()))
        files: list[LakeFile] = []
        start = 0
        try:
            for end, day in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                path = f"{day_dir(kind, day)}/{run_id}-{uuid.uuid4().hex}.parquet"
                staged = self._staged(path)
                staged.parent.mkdir(parents=True, exist_ok=True)
                try:
                    pq.write_table(table.slice(start, end - start), staged, compression="zstd")
                    fsync(staged)
                except BaseException:
                    staged.unlink(missing_ok=True)
                    raise
                files.append(LakeFile(path, kind, day, end - start, staged.stat().st_size))
                start = end
            self._fsync_dirs(d for f in files for d in self._new_parents(self._staged(f.path)))
        except BaseException:
            self.discard(files)
            raise
        return files

    def publish(self, files: Iterable[LakeFile]) -> None:
        """Move committed staged files to their final places (atomic renames), durably."""
        self._place([file.path for file in files])

    def discard(self, files: Iterable[LakeFile]) -> None:
        for file in files:
            self._staged(file.path).unlink(missing_ok=True)

    def swaps_supported(self) -> bool:
        """Whether this file system can exchange two folders atomically (probed once)."""
        if self._swaps_supported is None:
            probe = self._staging_root("probe")
            shutil.rmtree(probe, ignore_errors=True)
            (probe / "a").mkdir(parents=True)
            (probe / "b").mkdir()
            try:
                _exchange(probe / "a", probe / "b")
                self._swaps_supported = True
            except OSError as error:
                log.warning(
                    "lake compaction is off: %s cannot swap folders atomically (%s)",
                    self.data_dir,
                    error,
                )
                self._swaps_supported = False
            shutil.rmtree(probe)
        return self._swaps_supported

    def stage_swap(self, kind: LakeKind, day: date, keep: Iterable[str]) -> Path:
        """An empty staging folder for the new contents of a day, holding hard links to the
        files (final paths) to `keep`; the caller writes the merged files into it."""
        folder = self._swap_dir(kind, day)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in keep:
            os.link(self.path(path), folder / Path(path).name)
        return folder

    def finish_swap(self, kind: LakeKind, day: date) -> None:
        """Exchange a committed swap folder with the day's folder, then retire the old one.

        The old folder is deleted only `RETIRED_SECONDS` later (`sweep_retired`): a reader that
        opened it just before the exchange still lists every old file, not a shrinking subset."""
        folder = self._swap_dir(kind, day)
        _exchange(folder, self.path(day_dir(kind, day)))
        self._fsync_dirs([self.kind_dir(kind), folder.parent])
        retired = self._staging_root("retired") / uuid.uuid4().hex
        retired.parent.mkdir(parents=True, exist_ok=True)
        folder.replace(retired)
        os.utime(retired)  # the retirement's age, not the old files'

    def seal_swap(self, kind: LakeKind, day: date) -> None:
        """Make a staged swap folder durable before its commit: a committed manifest must never
        name merged files whose folder a power loss could still erase."""
        self._fsync_dirs(self._new_parents(self._swap_dir(kind, day) / "_"))

    def sweep_retired(self, older_than: float = RETIRED_SECONDS) -> None:
        """Delete folders retired by swaps more than `older_than` seconds ago."""
        now = time.time()
        for folder in self._staging_root("retired").glob("*"):
            if now - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)

    def discard_swap(self, kind: LakeKind, day: date) -> None:
        shutil.rmtree(self._swap_dir(kind, day), ignore_errors=True)

    def recover(self, committed: Callable[[Collection[str]], set[str]]) -> Recovery:
        """Finish or undo what a killed process left in the staging area.

        `committed(paths)` answers which of the given final paths the manifest lists. Swaps go
        first: a file staged for a day must land in the folder that stays.
        """
        forward: list[str] = []
        back: list[str] = []
        for kind, day, folder in self._pending_swaps():
            live = {p.name for p in self.path(day_dir(kind, day)).iterdir()}
            new = [f"{day_dir(kind, day)}/{p.name}" for p in folder.iterdir() if p.name not in live]
            if new and committed(new):
                self.finish_swap(kind, day)
                forward.append(day_dir(kind, day))
            else:
                shutil.rmtree(folder)
                back.append(day_dir(kind, day))
        staged = list(self._pending_files())
        listed = committed(staged) if staged else set()
        forward += [path for path in staged if path in listed]
        self._place([path for path in staged if path in listed])
        for path in staged:
            if path not in listed:
                self._staged(path).unlink()
                back.append(path)
        return Recovery(rolled_forward=tuple(sorted(forward)), rolled_back=tuple(sorted(back)))

    def walk(self) -> Iterator[str]:
        """Every final Parquet file of the lake (for the full audit; the sync never walks)."""
        for kind in LAKE_KINDS:
            for path in self.kind_dir(kind).glob("date=*/*.parquet"):
                yield path.relative_to(self.data_dir).as_posix()

    def glob(self, kind: LakeKind) -> str | None:
        """A read_parquet pattern for the committed files of `kind`, None while there are none."""
        if next(self.kind_dir(kind).glob("date=*/*.parquet"), None) is None:
            return None
        return str(self.kind_dir(kind) / "date=*" / "*.parquet")

    def _new_parents(self, path: Path) -> list[Path]:
        """The folders above `path` up to the lake's, which staging may just have created."""
        lake = self.data_dir / "lake"
        return [p for p in path.parents if p == lake or lake in p.parents]

    def _place(self, paths: list[str]) -> None:
        for path in paths:
            final = self.path(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._staged(path).replace(final)
        self._fsync_dirs(p for path in paths for p in self.path(path).parents[:2])

    def _staging_root(self, area: str) -> Path:
        return self.data_dir / "lake" / STAGING / area

    def _staged(self, relative: str) -> Path:
        return self._staging_root("files") / relative.removeprefix("lake/")

    def _swap_dir(self, kind: LakeKind, day: date) -> Path:
        return self._staging_root("swaps") / kind / f"date={day.isoformat()}"

    def _pending_files(self) -> Iterator[str]:
        root = self._staging_root("files")
        for path in root.glob("*/date=*/*.parquet"):
            yield "lake/" + path.relative_to(root).as_posix()

    def _pending_swaps(self) -> Iterator[tuple[LakeKind, date, Path]]:
        for kind in LAKE_KINDS:
            for folder in (self._staging_root("swaps") / kind).glob("date=*"):
                yield kind, date.fromisoformat(folder.name.removeprefix("date=")), folder

    @staticmethod
    def _fsync_dirs(directories: Iterable[Path]) -> None:
        for directory in set(directories):
            fsync(directory)
