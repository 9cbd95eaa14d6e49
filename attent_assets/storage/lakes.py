"""Which lake a setting names: a local folder or an object-store prefix."""

from __future__ import annotations

from pathlib import Path

from attent_assets.storage.lake import Lake, LakeConfigError
from attent_assets.storage.local_lake import LocalLake

#: The lake's folder inside the data directory when no location is set (today's layout).
DEFAULT_FOLDER = "lake"


def open_lake(url: str | None, data_dir: Path) -> Lake:
    """`url` (`s3://bucket/prefix`, or a folder) or, when empty, `<data_dir>/lake`."""
    if url and "://" in url:
        # Imported here: s3fs (and its HTTP stack) loads only where a lake is on object storage.
        try:
            from attent_assets.storage.object_lake import ObjectLake
        except ImportError as error:
            raise LakeConfigError(
                f"a lake on object storage needs s3fs ({error}): pip install 'attent_assets[s3]'"
            ) from None
        return ObjectLake(url)
    return LocalLake(Path(url or data_dir / DEFAULT_FOLDER).resolve())
