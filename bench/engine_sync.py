"""The project's client and sync engine, called directly (no Dagster): a crawl that stores
nothing, and a sync into a data directory."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from attent_assets.api import AttentClient, ClientSettings
from attent_assets.storage import Store
from attent_assets.sync import EPOCH, LAYOUT, Mode, SyncEngine, SyncReport, SyncSettings, Window
from bench.simulator_process import API_KEY


def client_settings(url: str, *, concurrency: int, page_size: int) -> ClientSettings:
    return ClientSettings(
        base_url=url, api_key=API_KEY, concurrency=concurrency, page_size=page_size
    )


def client_crawl(settings: ClientSettings) -> int:
    """Every lead, then every lead's events, through `AttentClient`; returns the events read."""
    with AttentClient(settings) as client:
        ids = [
            lead.id
            for page in client.iter_leads(updated_since=EPOCH)
            for lead in page.leads
            if lead.id is not None
        ]
        return sum(len(page.events) for page in client.iter_events_many((i, EPOCH) for i in ids))


def engine_sync(
    settings: ClientSettings, data_dir: Path, mode: Mode, sync: SyncSettings | None = None
) -> tuple[SyncReport, dict[str, float]]:
    """One run of the engine (a full replay from the beginning, or an incremental sync), step by
    step as `SyncEngine.sync` runs them; returns its report and each step's wall seconds."""
    window = Window(start=None) if mode is Mode.REPLAY else None
    seconds: dict[str, float] = {}
    with (
        AttentClient(settings) as client,
        Store.open(data_dir, LAYOUT, uuid.uuid4().hex) as store,
    ):
        engine = SyncEngine(client, store, sync)
        started = time.perf_counter()
        leads = engine.sync_leads(mode, window)
        seconds["leads"] = time.perf_counter() - started
        events = engine.sync_events(mode, window)
        seconds["events"] = time.perf_counter() - started - seconds["leads"]
        typed = engine.merge_typed(mode, window)
        seconds["typed merge"] = time.perf_counter() - started - sum(seconds.values())
        compaction = engine.compact()
        seconds["compaction"] = time.perf_counter() - started - sum(seconds.values())
    return SyncReport(leads=leads, events=events, typed=typed, compaction=compaction), seconds
