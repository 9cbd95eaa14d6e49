"""Resources: the Attent API, the warehouse (a `DuckDBResource`) and run-wide sync settings, bound
under each organisation's resource keys (`attent`, `warehouse`, `sync` for the default prefix).
Settings come from the component, run config or, when unset, the environment at run start."""

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from attent_assets.api import AttentClient, AttentConfigError, ClientSettings, RetrySettings
from attent_assets.storage import WAREHOUSE_FILE, LakeConfigError, Store, open_lake
from attent_assets.storage.connection import connect
from attent_assets.sync import LAYOUT, Mode, SyncSettings

_MIB = 2**20


def _default(settings: type, name: str) -> Any:
    """The default of one field of a settings dataclass: every default is stated once, there."""
    return next(f.default for f in dataclasses.fields(settings) if f.name == name)


DEFAULT_BASE_URL: str = _default(ClientSettings, "base_url")


class RetryConfig(RetrySettings, dg.Config):
    """`RetrySettings` as the `attent` resource's `retry` config: its fields, defaults and
    descriptions, declared once in the API layer."""


class AttentResource(dg.ConfigurableResource):
    """The Attent API client for one run or tick: one pooled HTTP client, opened at setup and closed
    at teardown."""

    base_url: str | None = Field(
        default=None, description=f"API base URL. Unset: $ATTENT_BASE_URL, else {DEFAULT_BASE_URL}."
    )
    api_key: str | None = Field(
        default=None,
        description="Leave unset: the key is read from $ATTENT_API_KEY when the run starts, so it "
        "never enters run config, metadata or logs.",
    )
    page_size: int = Field(
        default=_default(ClientSettings, "page_size"), description="Records per request (1..1000)."
    )
    concurrency: int = Field(
        default=_default(ClientSettings, "concurrency"),
        description="Leads whose events are fetched at once.",
    )
    connect_timeout_seconds: float = _default(ClientSettings, "connect_timeout")
    read_timeout_seconds: float = _default(ClientSettings, "read_timeout")
    retry: RetryConfig = Field(
        default_factory=RetryConfig,
        description="Which failed requests are retried, how long each waits, when one gives up.",
    )
    max_requests_per_second: float | None = Field(
        default=None,
        description="A fixed cap on the requests per second a run or tick sends, leads and "
        "events together. Unset: the client paces itself to the API's limit, from its "
        "rate-limit headers or else from its 429s.",
    )
    types: list[str] | None = Field(
        default=None, description="Only these event types (the API's names). Unset: all types."
    )

    _client: AttentClient | None = PrivateAttr(default=None)

    def client_settings(self) -> ClientSettings:
        """Settings with environment fallbacks; a missing key is one clear error."""
        api_key = self.api_key or os.environ.get("ATTENT_API_KEY")
        if not api_key:
            raise AttentConfigError(
                "ATTENT_API_KEY is not set. Export your Attent API key as ATTENT_API_KEY, "
                "or run `make demo` to try the project against the bundled simulator."
            )
        return ClientSettings(
            base_url=self.base_url or os.environ.get("ATTENT_BASE_URL") or DEFAULT_BASE_URL,
            api_key=api_key,
            page_size=self.page_size,
            concurrency=self.concurrency,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retry=RetrySettings(**dict(self.retry)),
            max_requests_per_second=self.max_requests_per_second,
            types=tuple(self.types) if self.types else None,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = AttentClient(self.client_settings(), logger=context.log)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> AttentClient:
        if self._client is None:
            raise RuntimeError("AttentResource is used outside a run or tick")
        return self._client


class WarehouseResource(DuckDBResource):
    """The data directory (the Parquet lake) and the warehouse DuckDB database.

    A `dagster_duckdb.DuckDBResource`, so `database` is the setting DuckDB users know and a
    downstream asset can take this resource as a `DuckDBResource` and query `attent.*`. The stock
    resource opens read-write only, retries a held lock silently and leaves the connection open
    when the body raises (the file lock then stays held until garbage collection); the sync
    shares the file with people's notebooks, so `get_connection` here opens read-only on
    request, waits for a held lock while logging who holds it and gives up after
    `lock_timeout_seconds`, always closes, and sets the session to UTC (timestamps print, cast and
    truncate to days in UTC everywhere).
    """

    database: str = Field(
        default="",
        description="The warehouse DuckDB database: a file path (or `md:...` for MotherDuck). "
        "Empty: <data_dir>/warehouse.duckdb.",
    )
    data_dir: str | None = Field(
        default=None,
        description="warehouse.duckdb, views.duckdb and (unless lake_url says otherwise) the "
        "lake. Unset: $ATTENT_DATA_DIR, else ./data.",
    )
    lake_url: str | None = Field(
        default=None,
        description="The Parquet lake: a folder or s3://bucket/prefix (credentials from the AWS "
        "settings). Unset: $ATTENT_LAKE_URL, else <data_dir>/lake.",
    )
    lock_timeout_seconds: float = Field(
        default=300.0,
        description="How long to wait for another process (a notebook) to release "
        "the warehouse file.",
    )

    @property
    def path(self) -> Path:
        return Path(self.data_dir or os.environ.get("ATTENT_DATA_DIR") or "data")

    @property
    def lake_location(self) -> str | None:
        """`lake_url` or $ATTENT_LAKE_URL; None: the data directory's lake folder."""
        return self.lake_url or os.environ.get("ATTENT_LAKE_URL") or None

    @property
    def database_path(self) -> Path | str:
        """`database` as given, a file path when it names one."""
        if not self.database:
            return self.path / WAREHOUSE_FILE
        return self.database if ":" in self.database else Path(self.database)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Fail the run before anything is fetched when the data directory cannot be written
        (it is created if missing and a probe file is made and removed in it: permission bits
        alone would not tell, e.g. for root or on a read-only mount) or the lake cannot be
        used (a missing bucket, refused credentials)."""
        path = self.path
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as error:
            raise AttentConfigError(
                f"the data directory {str(path)!r} (the warehouse resource's data_dir, else "
                f"ATTENT_DATA_DIR) is not a writable directory: {error.strerror or error}"
            ) from None
        try:
            open_lake(self.lake_location, path).check()
        except LakeConfigError as error:
            raise AttentConfigError(str(error)) from None

    @contextmanager
    def get_connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, closed however the block ends."""
        con = connect(
            self.database_path,
            read_only=read_only,
            lock_timeout=self.lock_timeout_seconds,
            config=self.connection_config,
        )
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def open(self, run_id: str, *, read_only: bool = False) -> Iterator[Store]:
        """The sync's Store over the lake and this warehouse."""
        with Store.open(
            self.path,
            LAYOUT,
            run_id,
            lock_timeout=self.lock_timeout_seconds,
            read_only=read_only,
            database=self.database_path,
            config=self.connection_config,
            lake_url=self.lake_location,
        ) as store:
            yield store


class SyncResource(dg.ConfigurableResource):
    """Run-wide sync settings. `mode` is the same for every stage of a run: `replay` (the default,
    what a UI materialization or backfill of a partition range does), `incremental` (per-lead
    cursors; what the sensor launches) or `reconcile` (the daily safety net)."""

    mode: Literal["replay", "incremental", "reconcile"] = "replay"
    lookback_seconds: float = Field(
        default=_default(SyncSettings, "lookback").total_seconds(),
        description="Every cursor re-reads this trailing window (late-visible writes).",
    )
    commit_mib: int = Field(
        default=SyncSettings().commit_bytes // _MIB,
        description="Lake rows held before a commit (one Parquet file per day per commit); "
        "bounds a run's memory.",
    )
    freshness_minutes: float = Field(
        default=30.0, description="The lag check warns when data is older than this."
    )

    @property
    def run_mode(self) -> Mode:
        return Mode(self.mode)

    def settings(self) -> SyncSettings:
        return SyncSettings(
            lookback=timedelta(seconds=self.lookback_seconds), commit_bytes=self.commit_mib * _MIB
        )
