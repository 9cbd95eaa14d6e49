"""The lead-change sensor's cursor: how far the leads listing has been noticed, as a small versioned
record kept in Dagster's sensor cursor.

Dagster copies the cursor onto every stored tick, so it holds no lead data and stays bounded
whatever the number of leads: a watermark, short hashes of at most `MAX_SEEN_IDS` ids, a flag and
one digest (under 2 kB). The leads themselves, and the per-lead cursors that decide
what a run fetches, live with the data in the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from attent_assets.api import Lead
from attent_assets.sync import EPOCH

CURSOR_VERSION = 1
#: Ids remembered at the watermark millisecond. Past this many, the cursor moves just past that
#: millisecond instead (see `LeadChangeCursor.advance`).
MAX_SEEN_IDS = 100
#: `updatedAt` has millisecond precision: the next millisecond is the first instant after one.
MILLISECOND = timedelta(milliseconds=1)

_log = logging.getLogger(__name__)

#: A lead version as the cursor sees it: `(id, updatedAt)`.
Version = tuple[str, datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadChangeCursor:
    """Every lead with `updatedAt` before `watermark`, and those at it whose id hash is in
    `seen_ids`, has been noticed: a run was requested after it became visible, or a successful
    run synced it.

    `backlog` says the last poll stopped at its budget before the end of the listing: the next one
    continues from the watermark itself, as the trailing window was just read. `window_digest`
    fingerprints the leads of the trailing window `[watermark - lookback, watermark]` as the last
    complete poll saw them (None when it did not read all of it): a lead that becomes visible late
    inside the window changes it without moving the watermark.
    """

    watermark: datetime
    seen_ids: frozenset[str] = field(default_factory=frozenset)
    backlog: bool = False
    window_digest: str | None = None
    version: int = CURSOR_VERSION

    @classmethod
    def after(cls, synced_through: datetime) -> LeadChangeCursor:
        """The cursor of a warehouse holding every lead updated at or before `synced_through`
        (the leads watermark a successful run recorded): the next millisecond, no ids."""
        return cls(watermark=synced_through + MILLISECOND)

    def since(self, lookback: timedelta) -> datetime:
        """Where the next poll starts: the watermark minus the lookback, or the watermark itself
        while a backlog is read. Re-reading the window is cheap (usually one page) and is how a
        late-visible lead is noticed."""
        start = self.watermark if self.backlog else self.watermark - lookback
        return max(start, EPOCH)

    def is_new(self, lead: Lead) -> bool:
        """Whether a poll notices this lead version for the first time. Records the sync
        quarantines (no id or no `updatedAt`) are never changes."""
        return any(self._is_new(version) for version in _versions([lead]))

    def advance(
        self, leads: Sequence[Lead], *, lookback: timedelta, read_to_end: bool
    ) -> LeadChangeCursor:
        """The cursor after a poll that started at `since(lookback)` and read `leads` in listing
        order, to the end of the listing or not.

        The watermark moves to the newest `updatedAt` read and `seen_ids` are the ids read at it
        (plus the earlier ones when it did not move). Two cases move it just past that millisecond
        and forget the ids, so the cursor stays bounded and always progresses:
        - more than `MAX_SEEN_IDS` ids share it: some of them are new, so this tick requests a
          run, and a run reads every lead at that millisecond;
        - a backlog poll read only leads already seen (more leads share the watermark millisecond
          than one tick can read): the sensor requests a run for the ones it could not read.
        """
        versions = _versions(leads)
        new = any(self._is_new(version) for version in versions)
        watermark = max([self.watermark, *(updated for _, updated in versions)])
        seen = {_id_hash(lead_id) for lead_id, updated in versions if updated == watermark}
        if watermark == self.watermark:
            seen |= self.seen_ids
        stuck = self.backlog and not new and not read_to_end
        if len(seen) > MAX_SEEN_IDS or stuck:
            watermark, seen = watermark + MILLISECOND, set()
        covered = read_to_end and self.since(lookback) <= watermark - lookback
        return LeadChangeCursor(
            watermark=watermark,
            seen_ids=frozenset(seen),
            backlog=not read_to_end,
            window_digest=_window_digest(versions, watermark - lookback, watermark)
            if covered
            else None,
        )

    def _is_new(self, version: Version) -> bool:
        lead_id, updated = version
        if updated != self.watermark:
            return updated > self.watermark
        return _id_hash(lead_id) not in self.seen_ids

    def encode(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "watermark": self.watermark.isoformat(),
                "seen_ids": sorted(self.seen_ids),
                "backlog": self.backlog,
                "window_digest": self.window_digest,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str | None, log: logging.Logger | None = None) -> LeadChangeCursor | None:
        """The cursor stored by `encode`, or None when there is none. A corrupt cursor or one of
        another version is logged as a warning and also gives None, so the sensor restarts from
        its safe point (the last successful run's watermark) instead of failing every tick."""
        if not text:
            return None
        try:
            data = json.loads(text)
            version = data["version"]
            if version != CURSOR_VERSION:
                (log or _log).warning(
                    "ignoring a version %r sensor cursor (this code writes version %d); "
                    "restarting from the last successful run",
                    version,
                    CURSOR_VERSION,
                )
                return None
            cursor = cls(
                watermark=_aware(datetime.fromisoformat(data["watermark"])),
                seen_ids=frozenset(_strings(data["seen_ids"])),
                backlog=_boolean(data["backlog"]),
                window_digest=_optional_string(data["window_digest"]),
            )
        except (ValueError, TypeError, KeyError) as error:
            (log or _log).warning(
                "ignoring a corrupt sensor cursor (%s: %s); restarting from the last successful "
                "run",
                type(error).__name__,
                error,
            )
            return None
        return cursor


def resume(
    cursor: LeadChangeCursor | None, synced_through: datetime | None
) -> LeadChangeCursor | None:
    """The cursor to poll from, given the leads watermark of the last successful run.

    Without a cursor (first start, a reset, a corrupt one) the sensor begins after that watermark,
    not from zero. A run that synced past the cursor's watermark (the run it requested for a long
    backlog, a backfill) moves it forward, so the sensor does not request runs for changes already
    synced.
    None: nothing was ever synced successfully.
    """
    if synced_through is None or (cursor is not None and synced_through <= cursor.watermark):
        return cursor
    return LeadChangeCursor.after(synced_through)


def _versions(leads: Iterable[Lead]) -> list[Version]:
    """`(id, updatedAt)` of the leads the sync can store: records it quarantines (no id or no
    `updatedAt`) are never changes."""
    return [(lead.id, lead.updated_at) for lead in leads if lead.id and lead.updated_at]


def _id_hash(lead_id: str) -> str:
    """12 hex digits: bounded whatever an id looks like, and no lead data in the tick history."""
    return hashlib.blake2b(lead_id.encode(), digest_size=6).hexdigest()


def _window_digest(versions: Iterable[Version], start: datetime, end: datetime) -> str:
    inside = sorted((lead_id, updated) for lead_id, updated in versions if start <= updated <= end)
    digest = hashlib.blake2b(digest_size=8)
    for lead_id, updated in inside:
        digest.update(f"{lead_id}\x00{updated.isoformat()}\x01".encode())
    return digest.hexdigest()


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("the watermark has no timezone")
    return value


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("seen_ids is not a list of strings")
    if len(value) > MAX_SEEN_IDS:
        raise ValueError(f"seen_ids holds more than {MAX_SEEN_IDS} ids")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("backlog is not a boolean")
    return value


def _optional_string(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("window_digest is not a string")
    return value
