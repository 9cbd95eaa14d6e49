"""The lake in a local folder (`<data_dir>/lake` by default): fsync, atomic renames, folder swaps.

- A staged file is written and fsynced, and so are the folders above it: a committed manifest row
  must never point at a staged file whose directory entry a power loss could still erase. Its
  move into place is one atomic rename.
- A compaction builds the complete new folder of a day as `_staging/swaps/<kind>/date=<day>/`
  (its merged files, plus hard links to the files it keeps); the manifest transaction that
  replaces the merged files' rows by the new ones is the commit point; then the two folders are
  exchanged in one atomic `renameat2(RENAME_EXCHANGE)`, so a reader listing the day sees the old
  files or the new ones, never both and never neither; the old folder is deleted a few minutes
  later. Where the file system cannot exchange folders, the lake is not compacted.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from attent_assets.storage.lake import (
    MANIFEST_PREFIX,
    STAGING,
    DayRewrite,
    Lake,
    day_dir,
    staged_name,
)
from attent_assets.storage.layout import LAKE_KINDS, LakeKind

#: How long a folder replaced by a compaction is kept for readers still listing it.
RETIRED_SECONDS = 300.0

log = logging.getLogger(__name__)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


class LocalLake(Lake):
    """The lake in the folder `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self._swaps_supported: bool | None = None

    def check(self) -> None:
        """Nothing to ask in advance: the folders are created by the first read-write open."""

    def prepare(self) -> None:
        for kind in LAKE_KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def url(self, path: str) -> str:
        return str(self._file(path))

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """DuckDB reads local paths itself."""

    def missing(self, paths: Collection[str]) -> set[str]:
        return {path for path in paths if not self._file(path).is_file()}

    def _file(self, path: str) -> Path:
        return self.root / path.removeprefix(MANIFEST_PREFIX)

    def _list(self, pattern: str) -> list[str]:
        return [
            MANIFEST_PREFIX + p.relative_to(self.root).as_posix() for p in self.root.glob(pattern)
        ]

    def _staged(self, path: str) -> Path:
        return self.root / staged_name(path)

    def _write_staged(self, path: str, table: pa.Table) -> int:
        staged = self._staged(path)
        staged.parent.mkdir(parents=True, exist_ok=True)
        try:
            pq.write_table(table, staged, compression="zstd")
            fsync(staged)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged.stat().st_size

    def _seal_staged(self, paths: Sequence[str]) -> None:
        self._fsync_dirs(d for path in paths for d in self._new_parents(self._staged(path)))

    def _place(self, paths: Sequence[str]) -> None:
        for path in paths:
            final = self._file(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._staged(path).replace(final)
        self._fsync_dirs(p for path in paths for p in self._file(path).parents[:2])

    def _unstage(self, path: str) -> None:
        self._staged(path).unlink(missing_ok=True)

    # --- compaction by folder swaps ------------------------------------------------------------

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
                    self.root,
                    error,
                )
                self._swaps_supported = False
            shutil.rmtree(probe)
        return self._swaps_supported

    def can_compact(self) -> bool:
        return self.swaps_supported()

    def rewrite(self, kind: LakeKind, day: date, keep: Sequence[str]) -> DayRewrite:
        return _FolderSwap(self, kind, day, keep)

    def finish_swap(self, kind: LakeKind, day: date) -> None:
        """Exchange a committed swap folder with the day's folder, then retire the old one.

        The old folder is deleted only `RETIRED_SECONDS` later (`sweep_retired`): a reader that
        opened it just before the exchange still lists every old file, not a shrinking subset."""
        folder = self.swap_dir(kind, day)
        _exchange(folder, self._file(day_dir(kind, day)))
        self._fsync_dirs([self.root / kind, folder.parent])
        retired = self._staging_root("retired") / uuid.uuid4().hex
        retired.parent.mkdir(parents=True, exist_ok=True)
        folder.replace(retired)
        os.utime(retired)  # the retirement's age, not the old files'

    def sweep_retired(self, older_than: float = RETIRED_SECONDS) -> None:
        """Delete folders retired by swaps more than `older_than` seconds ago."""
        now = time.time()
        for folder in self._staging_root("retired").glob("*"):
            if now - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)

    def swap_dir(self, kind: LakeKind, day: date) -> Path:
        return self._staging_root("swaps") / kind / f"date={day.isoformat()}"

    def _recover_rewrites(
        self, committed: Callable[[Collection[str]], set[str]]
    ) -> tuple[list[str], list[str]]:
        """Swaps go first: a file staged for a day must land in the folder that stays."""
        forward: list[str] = []
        back: list[str] = []
        for kind, day, folder in self._pending_swaps():
            live = {p.name for p in self._file(day_dir(kind, day)).iterdir()}
            new = [f"{day_dir(kind, day)}/{p.name}" for p in folder.iterdir() if p.name not in live]
            if new and committed(new):
                self.finish_swap(kind, day)
                forward.append(day_dir(kind, day))
            else:
                shutil.rmtree(folder)
                back.append(day_dir(kind, day))
        return forward, back

    def pending_rewrites(self) -> list[str]:
        return [day_dir(kind, day) for kind, day, _ in self._pending_swaps()]

    def _pending_swaps(self) -> Iterator[tuple[LakeKind, date, Path]]:
        for kind in LAKE_KINDS:
            for folder in (self._staging_root("swaps") / kind).glob("date=*"):
                yield kind, date.fromisoformat(folder.name.removeprefix("date=")), folder

    def _staging_root(self, area: str) -> Path:
        return self.root / STAGING / area

    def _new_parents(self, path: Path) -> list[Path]:
        """The folders above `path` up to the lake's, which staging may just have created."""
        return [p for p in path.parents if p == self.root or self.root in p.parents]

    @staticmethod
    def _fsync_dirs(directories: Iterable[Path]) -> None:
        for directory in set(directories):
            fsync(directory)


class _FolderSwap(DayRewrite):
    """A day's complete new folder, staged beside the live one and exchanged with it."""

    def __init__(self, lake: LocalLake, kind: LakeKind, day: date, keep: Sequence[str]) -> None:
        super().__init__(kind, day)
        self._lake = lake
        self.folder = lake.swap_dir(kind, day)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        for path in keep:
            os.link(lake.url(path), self.folder / Path(path).name)

    @contextmanager
    def sink(self, name: str) -> Iterator[BinaryIO]:
        with (self.folder / name).open("wb") as file:
            yield file
        fsync(self.folder / name)

    def size(self, name: str) -> int:
        return (self.folder / name).stat().st_size

    def seal(self, replaced: Sequence[str]) -> None:
        """A committed manifest must never name merged files whose folder a power loss could
        still erase; the replaced files go with the old folder."""
        self._lake._fsync_dirs(self._lake._new_parents(self.folder / "_"))

    def finish(self) -> None:
        self._lake.finish_swap(self.kind, self.day)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
