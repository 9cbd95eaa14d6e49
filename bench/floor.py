"""The fetch floor: the least work that reads what a full sync reads, with nothing stored.

Plain httpx, written as tersely as it can be while doing the same requests as the sync: every lead
page, then every lead's events pages, on `concurrency` threads sharing one `httpx.Client` (the
transport the project's client uses), the same page size, bodies parsed by orjson and dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson

from attent_assets.api import lead_events_path
from bench.simulator_process import API_KEY

EPOCH = "1970-01-01T00:00:00.000Z"


def fetch_floor(url: str, *, concurrency: int, page_size: int) -> int:
    """Read everything; return the number of events read."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, headers={"x-api-key": API_KEY}, limits=limits) as http:

        def pages(path: str, query: dict[str, Any], key: str) -> Iterator[list[Any]]:
            while True:
                body = orjson.loads(http.get(path, params=query).raise_for_status().content)
                yield body[key]
                if not body["nextToken"]:
                    return
                query = {**query, "nextToken": body["nextToken"]}

        leads = {"updatedSince": EPOCH, "limit": page_size}
        ids = [lead["id"] for page in pages("/leads", leads, "leads") for lead in page]

        def events(lead_id: str) -> int:
            query = {"since": EPOCH, "limit": page_size}
            return sum(len(page) for page in pages(lead_events_path(lead_id), query, "events"))

        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(events, ids))
