"""The sensor's pure parts: its cursor (encode, tolerant decode, advance, resume), change detection
and the interval setting."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from attent_assets.api import Lead, format_timestamp
from attent_assets.defs.changes import detect
from attent_assets.defs.cursor import (
    MAX_SEEN_IDS,
    MILLISECOND,
    LeadChangeCursor,
    resume,
)
from attent_assets.defs.sensors import INTERVAL_VAR, interval_from_env

LOOKBACK = timedelta(minutes=5)
W = datetime(2026, 5, 14, 15, 30, tzinfo=UTC)


def lead(lead_id: str | None, updated: datetime | None) -> Lead:
    raw: dict[str, object] = {"id": lead_id, "firstName": "Ada"}
    if updated is not None:
        raw["updatedAt"] = format_timestamp(updated)
    return Lead.from_json(raw)


def caught_up(*leads: Lead) -> LeadChangeCursor:
    """The cursor after a complete poll of `leads` from the beginning."""
    return LeadChangeCursor(watermark=W - timedelta(days=1)).advance(
        list(leads), lookback=LOOKBACK, read_to_end=True
    )


WINDOW = [lead("a", W - timedelta(minutes=2)), lead("b", W), lead("c", W)]


def test_advance_moves_to_the_newest_version_and_remembers_the_ids_at_it() -> None:
    cursor = caught_up(*WINDOW)
    assert cursor.watermark == W
    assert len(cursor.seen_ids) == 2
    assert not cursor.backlog
    assert cursor.window_digest is not None
    assert [cursor.is_new(x) for x in WINDOW] == [False, False, False]
    assert cursor.is_new(lead("d", W))
    assert cursor.is_new(lead("a", W + MILLISECOND))
    assert not cursor.is_new(lead("z", W - MILLISECOND))


def test_ids_at_an_unmoved_watermark_accumulate() -> None:
    cursor = caught_up(*WINDOW)
    again = cursor.advance([*WINDOW, lead("d", W)], lookback=LOOKBACK, read_to_end=True)
    assert again.watermark == W
    assert len(again.seen_ids) == 3
    assert not again.is_new(lead("d", W))


def test_records_the_sync_quarantines_are_never_changes() -> None:
    cursor = caught_up(*WINDOW)
    broken = [lead(None, W + timedelta(hours=1)), lead("", W + timedelta(hours=1)), lead("e", None)]
    assert not any(cursor.is_new(x) for x in broken)
    assert cursor.advance([*WINDOW, *broken], lookback=LOOKBACK, read_to_end=True) == cursor


def test_past_the_id_cap_the_cursor_moves_just_past_the_millisecond() -> None:
    crowd = [lead(f"lead-{n:04d}", W) for n in range(MAX_SEEN_IDS + 1)]
    cursor = caught_up(*crowd)
    assert cursor.watermark == W + MILLISECOND
    assert cursor.seen_ids == frozenset()
    assert not any(cursor.is_new(x) for x in crowd)
    assert cursor.is_new(lead("next", W + MILLISECOND))
    assert len(cursor.encode()) < 300


def test_a_capped_poll_continues_from_the_watermark_without_the_lookback() -> None:
    start = caught_up(*WINDOW)
    assert start.since(LOOKBACK) == W - LOOKBACK
    backlog = start.advance(
        [lead("d", W + timedelta(seconds=1))], lookback=LOOKBACK, read_to_end=False
    )
    assert backlog.backlog
    assert backlog.window_digest is None
    assert backlog.since(LOOKBACK) == W + timedelta(seconds=1)


def test_a_backlog_stuck_on_one_millisecond_moves_past_it_and_asks_for_a_run() -> None:
    """More leads share one millisecond than a tick reads: reading the same seen ones again
    would loop forever, so the cursor skips them and a run reads them all."""
    seen = [lead(f"lead-{n}", W) for n in range(5)]
    stuck = replace(caught_up(*seen), backlog=True)
    found = detect(stuck, seen, lookback=LOOKBACK, read_to_end=False)
    assert found.cursor.watermark == W + MILLISECOND
    assert found.days == (W.date(), W.date())
    assert "than one tick can read" in found.reason


def test_detect_new_versions_gives_their_days() -> None:
    cursor = caught_up(*WINDOW)
    later = [*WINDOW, lead("a", W + timedelta(days=2)), lead("f", W + timedelta(days=1))]
    found = detect(cursor, later, lookback=LOOKBACK, read_to_end=True)
    assert found.changed
    assert found.days == ((W + timedelta(days=1)).date(), (W + timedelta(days=2)).date())
    assert found.cursor == cursor.advance(later, lookback=LOOKBACK, read_to_end=True)
    assert "2 lead versions new" in found.reason


def test_detect_nothing_new_keeps_the_cursor_exactly() -> None:
    cursor = caught_up(*WINDOW)
    found = detect(cursor, WINDOW, lookback=LOOKBACK, read_to_end=True)
    assert not found.changed
    assert found.cursor == cursor
    assert found.reason == f"no lead changed since {format_timestamp(W)}"


def test_a_lead_visible_late_inside_the_lookback_window_is_a_change() -> None:
    cursor = caught_up(*WINDOW)
    late = [*WINDOW, lead("late", W - timedelta(minutes=1))]
    found = detect(cursor, late, lookback=LOOKBACK, read_to_end=True)
    assert found.changed
    assert found.days == (W.date(), W.date())
    assert "visible late" in found.reason
    assert found.cursor.watermark == W
    assert found.cursor.window_digest != cursor.window_digest
    # Without a digest of the window (its last poll did not read it all) nothing can be compared.
    blind = replace(cursor, window_digest=None)
    assert not detect(blind, late, lookback=LOOKBACK, read_to_end=True).changed


def test_encode_decode_round_trip() -> None:
    cursor = caught_up(*WINDOW)
    assert LeadChangeCursor.decode(cursor.encode()) == cursor
    assert LeadChangeCursor.decode(None) is None
    assert LeadChangeCursor.decode("") is None


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"version": 1}',
        '{"version": 1, "watermark": "yesterday", "seen_ids": [], "backlog": false, '
        '"window_digest": null}',
        '{"version": 1, "watermark": "2026-05-14T15:30:00", "seen_ids": [], "backlog": false, '
        '"window_digest": null}',
        '{"version": 1, "watermark": "2026-05-14T15:30:00+00:00", "seen_ids": "abc", '
        '"backlog": false, "window_digest": null}',
        json.dumps(
            {
                "version": 1,
                "watermark": "2026-05-14T15:30:00+00:00",
                "seen_ids": [str(n) for n in range(MAX_SEEN_IDS + 1)],
                "backlog": False,
                "window_digest": None,
            }
        ),
    ],
    ids=["garbage", "list", "fields-missing", "bad-time", "naive-time", "bad-ids", "too-many"],
)
def test_a_corrupt_cursor_decodes_to_none_with_a_warning(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert LeadChangeCursor.decode(text) is None
    assert "ignoring a corrupt sensor cursor" in caplog.text


def test_a_cursor_of_another_version_decodes_to_none_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = replace(caught_up(*WINDOW), version=0).encode()
    with caplog.at_level(logging.WARNING):
        assert LeadChangeCursor.decode(old) is None
    assert "version 0 sensor cursor" in caplog.text


def test_resume_starts_after_the_last_successful_watermark_and_skips_ahead_to_it() -> None:
    cursor = caught_up(*WINDOW)
    assert resume(None, None) is None
    assert resume(cursor, None) == cursor
    assert resume(None, W) == LeadChangeCursor(watermark=W + MILLISECOND)
    assert resume(cursor, W - timedelta(hours=1)) == cursor
    assert resume(cursor, W) == cursor
    ahead = W + timedelta(hours=1)
    assert resume(cursor, ahead) == LeadChangeCursor(watermark=ahead + MILLISECOND)


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTERVAL_VAR, raising=False)
    assert interval_from_env() == 60
    monkeypatch.setenv(INTERVAL_VAR, "15")
    assert interval_from_env() == 15
    for bad in ("0", "-5", "1.5", "soon"):
        monkeypatch.setenv(INTERVAL_VAR, bad)
        with pytest.raises(ValueError, match=INTERVAL_VAR):
            interval_from_env()
