"""The lake on object storage (`s3://bucket/prefix`: S3, or an S3-compatible store such as MinIO
or R2), through s3fs; credentials and endpoint come from the standard AWS settings
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`), which this module
never reads, logs or repeats.

Object stores have no rename, but one PUT (or one server-side COPY) makes a whole object visible
at once, and a listing shows an object whole or not at all. So the commit protocol keeps its
shape:

- a staged file is one PUT to `_staging/files/<kind>/date=<day>/<name>` (a multipart upload is
  visible only once completed); its manifest row is the commit point; publishing it is a
  server-side COPY to its final key, then a DELETE of the staged object. Both steps are
  idempotent, so recovery may repeat them: a process killed between them leaves the staged
  object, and the next open copies it again (the same bytes) and deletes it.
- a compaction writes its merged files to the staging area like any new file, then a marker
  object `_staging/rewrites/<uuid>.json` naming the merged files and the files they replace,
  then commits the manifest; after the commit it deletes the replaced files, then publishes the
  merged ones, then deletes the marker. Recovery finishes a marker whose merged files the
  manifest lists (delete, publish, in that order) and discards the others with their staged
  files.

What differs from a local lake: there is no atomic swap of a day's folder. Deleting before
publishing keeps the guarantee that a listing never holds a version twice; the price is that a
reader listing a day's folder between the deletes and the copies (a fraction of a second, once
per day compacted; or, if the run is killed there, until the next run's recovery) misses the
rows being moved. They are committed and durable all along, in the staged merged objects the
manifest already names, and the warehouse, which reads nothing of them again, is unaffected.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import s3fs

from attent_assets.storage.lake import (
    MANIFEST_PREFIX,
    STAGING,
    DayRewrite,
    Lake,
    LakeConfigError,
    day_dir,
    staged_name,
)
from attent_assets.storage.layout import LakeKind

SCHEME = "s3"
_SETTING = "ATTENT_LAKE_URL (the warehouse resource's lake_url)"
_CREDENTIALS = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
#: Where a compaction's intent waits until it is finished or discarded.
_REWRITES = f"{STAGING}/rewrites"


class _WrittenOnce(s3fs.S3FileSystem):  # type: ignore[misc]
    """s3fs for DuckDB's reads. DuckDB asks for a file's size before every scan of it (a HEAD
    request each time; a typed merge scans each file several times); a lake object never changes
    once written (a key is used once, and recovery's repeated copy writes the same bytes), so
    its details are asked for once."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._details: dict[str, Any] = {}

    async def _info(self, path: str, *args: Any, **options: Any) -> Any:
        key = self._strip_protocol(path)
        if key not in self._details:
            self._details[key] = await super()._info(path, *args, **options)
        return self._details[key]


class ObjectLake(Lake):
    """The lake under `s3://bucket/prefix`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != SCHEME or not parts.netloc or parts.query or parts.fragment:
            raise LakeConfigError(f"{_SETTING} must look like s3://bucket/prefix, not {url!r}")
        self.bucket = parts.netloc
        self._root = f"{self.bucket}/{parts.path.strip('/')}".rstrip("/")
        self.location = f"{SCHEME}://{self._root}"
        # Listings must never come from a cache: recovery and the audit decide from them.
        self.fs = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)
        self._reads = _WrittenOnce(use_listings_cache=False, skip_instance_cache=True)

    def prepare(self) -> None:
        """Nothing to create: a prefix exists once an object is under it."""
        self.check()

    def check(self) -> None:
        """One listing request: the bucket exists and the credentials may read it."""
        prefix = self._object(self._key(STAGING + "/"))
        self._checked(
            lambda: self.fs.call_s3("list_objects_v2", Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        )

    def _checked(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except FileNotFoundError:
            raise LakeConfigError(
                f"the lake's bucket {self.bucket!r} does not exist: create it, or fix {_SETTING}"
            ) from None
        except PermissionError as error:
            raise LakeConfigError(
                f"the object store refused access to {self.location} ({error}): check "
                f"{_CREDENTIALS}, and the bucket's policy"
            ) from None
        except OSError as error:
            raise LakeConfigError(
                f"the object store of {self.location} cannot be reached ({error}): check "
                "AWS_ENDPOINT_URL and AWS_REGION"
            ) from None

    def url(self, path: str) -> str:
        return f"{SCHEME}://{self._key(path.removeprefix(MANIFEST_PREFIX))}"

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.register_filesystem(self._reads)

    def missing(self, paths: Collection[str]) -> set[str]:
        """One listing per day folder instead of a request per file."""
        present: set[str] = set()
        for folder in {path.rsplit("/", 1)[0] for path in paths}:
            present.update(self._list(f"{folder.removeprefix(MANIFEST_PREFIX)}/*.parquet"))
        return set(paths) - present

    def read(self, path: str) -> pa.Table:
        return pq.read_table(self._final(path), filesystem=self.fs)

    def _key(self, relative: str) -> str:
        return f"{self._root}/{relative}"

    def _final(self, path: str) -> str:
        return self._key(path.removeprefix(MANIFEST_PREFIX))

    def _staged(self, path: str) -> str:
        return self._key(staged_name(path))

    def _list(self, pattern: str) -> list[str]:
        """One flat listing of the pattern's fixed prefix, filtered by the pattern (`*` within
        one path segment). Not s3fs's glob: it lists folder by folder, and fails when a folder
        it found is emptied before it is listed, which a compaction does for a moment."""
        fixed = pattern.split("*", 1)[0]
        matches = re.compile(re.escape(pattern).replace(r"\*", "[^/]*")).fullmatch
        relative = [key[len(self._root) + 1 :] for key in self._keys(self._key(fixed))]
        return [MANIFEST_PREFIX + key for key in relative if matches(key)]

    def _keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix` (bucket included in both), a page of 1,000 per request."""
        options = {"Bucket": self.bucket, "Prefix": self._object(prefix)}
        while True:
            page = self.fs.call_s3("list_objects_v2", **options)
            for item in page.get("Contents", []):
                yield f"{self.bucket}/{item['Key']}"
            if not page.get("IsTruncated"):
                return
            options["ContinuationToken"] = page["NextContinuationToken"]

    def _write_staged(self, path: str, table: pa.Table) -> int:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        body = sink.getvalue().to_pybytes()
        self.fs.pipe_file(self._staged(path), body)
        return len(body)

    def _place(self, paths: Sequence[str]) -> None:
        for path in paths:
            self._copy(self._staged(path), self._final(path))
            self._delete(self._staged(path))

    def _copy(self, source: str, target: str) -> None:
        """A server-side copy: the target appears whole, with the source's bytes. One request
        (s3fs's `copy` asks for the size first); lake files are far below S3's 5 GB limit of a
        single copy."""
        self.fs.call_s3(
            "copy_object",
            Bucket=self.bucket,
            Key=self._object(target),
            CopySource={"Bucket": self.bucket, "Key": self._object(source)},
        )

    def _unstage(self, path: str) -> None:
        self._delete(self._staged(path))

    def _delete(self, key: str) -> None:
        """One request (s3fs's `rm` lists first), and deleting a missing key is no error."""
        self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self._object(key))

    def _object(self, key: str) -> str:
        """An object's key inside the bucket."""
        return key.removeprefix(f"{self.bucket}/")

    def _seal_staged(self, paths: Sequence[str]) -> None:
        """Nothing to do: a PUT is durable once it returns."""

    def sweep_retired(self) -> None:
        """Nothing to do: a compaction deletes the objects it replaces as it finishes."""

    # --- compaction: publish the merged files, then delete the replaced ones --------------------

    def rewrite(self, kind: LakeKind, day: date, keep: Sequence[str]) -> DayRewrite:
        return _ObjectRewrite(self, kind, day)

    def _recover_rewrites(
        self, committed: Callable[[Collection[str]], set[str]]
    ) -> tuple[list[str], list[str]]:
        forward: list[str] = []
        back: list[str] = []
        for marker in self.pending_rewrites():
            intent = json.loads(self.fs.cat_file(marker))
            files: list[str] = intent["files"]
            folder = day_dir(intent["kind"], date.fromisoformat(intent["day"]))
            if files and committed(files):
                self.finish_rewrite(files, intent["replaced"])
                forward.append(folder)
            else:
                for path in files:
                    self._unstage(path)
                back.append(folder)
            self._delete(marker)
        return forward, back

    def pending_rewrites(self) -> list[str]:
        return [
            self._key(path.removeprefix(MANIFEST_PREFIX))
            for path in self._list(f"{_REWRITES}/*.json")
        ]

    def finish_rewrite(self, files: Sequence[str], replaced: Sequence[str]) -> None:
        """Delete what a committed compaction replaces, then publish its files (those still
        staged): a lister may miss those rows for a moment, never see one twice."""
        for path in replaced:
            self._delete(self._final(path))
        self._place([path for path in files if self.fs.exists(self._staged(path))])


class _ObjectRewrite(DayRewrite):
    """A compaction's merged files staged as objects, with a marker of what they replace."""

    def __init__(self, lake: ObjectLake, kind: LakeKind, day: date) -> None:
        super().__init__(kind, day)
        self._lake = lake
        self._marker = lake._key(f"{_REWRITES}/{uuid.uuid4().hex}.json")
        self._replaced: list[str] = []

    def _path(self, name: str) -> str:
        return f"{day_dir(self.kind, self.day)}/{name}"

    @contextmanager
    def sink(self, name: str) -> Iterator[BinaryIO]:
        with self._lake.fs.open(self._lake._staged(self._path(name)), "wb") as file:
            yield file

    def size(self, name: str) -> int:
        return int(self._lake.fs.size(self._lake._staged(self._path(name))))

    def seal(self, replaced: Sequence[str]) -> None:
        self._replaced = list(replaced)
        intent = {
            "kind": self.kind,
            "day": self.day.isoformat(),
            "files": [f.path for f in self.files],
            "replaced": self._replaced,
        }
        self._lake.fs.pipe_file(self._marker, json.dumps(intent).encode())

    def finish(self) -> None:
        self._lake.finish_rewrite([f.path for f in self.files], self._replaced)
        self._lake._delete(self._marker)

    def discard(self) -> None:
        for file in self.files:
            self._lake._unstage(file.path)
        self._lake._delete(self._marker)
