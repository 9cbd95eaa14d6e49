"""The lake's Parquet files by kind and day: what must stay bounded over a deployment's life.

Every sync writes new files and never rewrites one, so without compaction a day's folder grows by
one file per run that touched it. The open day (today, UTC) takes every run's writes; a closed
day only late versions and backfills.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LakeFiles:
    """Files per `(kind, day)` (`lake/<kind>/date=<day>/*.parquet`) and which day was open."""

    by_day: dict[tuple[str, str], int]
    open_day: str

    @property
    def total(self) -> int:
        return sum(self.by_day.values())

    @property
    def kinds(self) -> list[str]:
        return sorted({kind for kind, _ in self.by_day})

    def most_in_a_closed_day(self, kind: str) -> int:
        return max(
            (n for (k, day), n in self.by_day.items() if k == kind and day != self.open_day),
            default=0,
        )

    def in_the_open_day(self, kind: str) -> int:
        return self.by_day.get((kind, self.open_day), 0)


def lake_files(data_dir: Path) -> LakeFiles:
    """Count the committed files (temporary ones do not end in .parquet) of `data_dir/lake`."""
    by_day: dict[tuple[str, str], int] = {}
    for path in (data_dir / "lake").glob("*/date=*/*.parquet"):
        key = (path.parent.parent.name, path.parent.name.removeprefix("date="))
        by_day[key] = by_day.get(key, 0) + 1
    return LakeFiles(by_day, datetime.now(UTC).date().isoformat())
