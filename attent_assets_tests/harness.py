"""Test harness: run the sync engine against a simulator; compare the warehouse with its truth."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from attent_assets.api import AttentClient, ClientSettings, RetrySettings, parse_timestamp
from attent_assets.simulator import SimulatorServer, World
from attent_assets.storage import Lake, Store, open_lake
from attent_assets.sync import LAYOUT, Mode, SyncEngine, SyncReport, SyncSettings, Window
from attent_assets.sync.schema import OTHER_EVENTS, TABLE_OF_TYPE

SIMULATOR_KEY = "test-key"


_RETRY_FIELDS = set(RetrySettings.model_fields)


def client_settings(**options: Any) -> ClientSettings:
    """`ClientSettings` from flat keyword arguments: those naming a `RetrySettings` field go into
    `retry`, so a test states the few knobs it turns in one place."""
    retry = {name: options.pop(name) for name in _RETRY_FIELDS & options.keys()}
    return ClientSettings(**options, retry=RetrySettings(**retry))


def fast_client_settings(url: str, **overrides: Any) -> ClientSettings:
    """Small pages (so pagination is exercised) and millisecond backoffs (so retries are quick)."""
    values: dict[str, Any] = {
        "base_url": url,
        "api_key": SIMULATOR_KEY,
        "page_size": 7,
        "concurrency": 4,
        "backoff_initial": 0.001,
        "backoff_max": 0.01,
        "max_seconds": 20,
        "read_timeout": 5,
    }
    values.update(overrides)
    return client_settings(**values)


def table_for(event_type: str) -> str:
    return TABLE_OF_TYPE.get(event_type, OTHER_EVENTS)


@dataclass
class Harness:
    server: SimulatorServer
    data_dir: Path
    settings: SyncSettings = field(
        default_factory=lambda: SyncSettings(batch_rows=40, batch_leads=5, commit_bytes=0)
    )
    client_overrides: dict[str, Any] = field(default_factory=dict)
    #: Where the lake is (None: the data directory's folder), as ATTENT_LAKE_URL would say.
    lake_url: str | None = None

    @property
    def world(self) -> World:
        return self.server.world

    def client(self) -> AttentClient:
        return AttentClient(fast_client_settings(self.server.url, **self.client_overrides))

    def run(self, mode: Mode = Mode.INCREMENTAL, window: Window | None = None) -> SyncReport:
        with self.client() as client, self.open() as store:
            return SyncEngine(client, store, self.settings).sync(mode, window)

    def backfill(self) -> SyncReport:
        return self.run(Mode.REPLAY, Window(start=None))

    def open(self) -> Any:
        return Store.open(
            self.data_dir, LAYOUT, f"run-{uuid.uuid4().hex[:12]}", lake_url=self.lake_url
        )

    @cached_property
    def lake(self) -> Lake:
        """One Lake for the harness's reads: on object storage it remembers the objects' sizes
        (lake files never change), as a run's own reads do."""
        return open_lake(self.lake_url, self.data_dir)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.data_dir / "warehouse.duckdb"), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def lake_rows(self, kind: str) -> list[tuple[Any, ...]]:
        """The versions in the lake's committed files of `kind`, as a reader listing it sees."""
        lake = self.lake
        files = sorted(lake.url(p) for p in lake.walk() if p.startswith(f"lake/{kind}/"))
        if not files:
            return []
        con = duckdb.connect()
        try:
            lake.register(con)
            con.execute("SET TimeZone = 'UTC'")
            cols = "type, id, updated_at" if kind == "events" else "'lead', id, updated_at"
            return con.execute(f"SELECT {cols} FROM read_parquet(?)", [files]).fetchall()
        finally:
            con.close()

    def assert_lake_matches_manifest(self) -> None:
        """Nothing pending in the staging area, and the manifest names exactly the lake's files
        (what compaction replaced may wait in `_staging/retired` a few minutes for readers)."""
        lake = self.lake
        assert not lake.staged()
        assert not lake.pending_rewrites()
        manifest = {path for (path,) in self.query("SELECT path FROM attent_state.lake_files")}
        assert manifest == set(lake.walk())

    # --- comparisons with the simulator's truth -------------------------------------------------

    def warehouse_leads(self) -> dict[str, tuple[datetime, Any]]:
        rows = self.query("SELECT id, updated_at, raw FROM attent.leads")
        return {r[0]: (r[1], json.loads(r[2])) for r in rows}

    def warehouse_events(self) -> dict[tuple[str, str], tuple[str, datetime, Any]]:
        found: dict[tuple[str, str], tuple[str, datetime, Any]] = {}
        for table in [*TABLE_OF_TYPE.values(), OTHER_EVENTS]:
            for type_, id_, updated, data in self.query(
                f"SELECT type, id, updated_at, data FROM attent.{table}"
            ):
                assert (type_, id_) not in found, f"{type_}/{id_} stored twice"
                found[(type_, id_)] = (table, updated, json.loads(data) if data else None)
        return found

    def assert_converged(self) -> None:
        """The warehouse and the lake equal the simulator's current truth, with no duplicates."""
        truth_leads = {
            r["id"]: (parse_timestamp(r["updatedAt"]), r) for r in self.world.truth_leads()
        }
        assert self.warehouse_leads() == truth_leads
        truth_events = {
            (r["type"], r["id"]): (table_for(r["type"]), parse_timestamp(r["updatedAt"]), r["data"])
            for r in self.world.truth_events()
        }
        assert self.warehouse_events() == truth_events
        for kind, truth in (("leads", truth_leads), ("events", truth_events)):
            versions = self.lake_rows(kind)
            duplicates = [v for v, n in Counter(versions).items() if n > 1]
            assert not duplicates, f"lake/{kind} holds versions twice: {duplicates[:3]}"
            latest: dict[Any, datetime] = {}
            for type_, id_, updated in versions:
                key = id_ if kind == "leads" else (type_, id_)
                latest[key] = max(updated, latest.get(key, updated))
            assert latest == {k: v[0] if kind == "leads" else v[1] for k, v in truth.items()}
