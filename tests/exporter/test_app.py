"""The running agent: what its start-up sets for the scrapes that follow."""

from __future__ import annotations

import gc

from exporter.app import GC_THRESHOLD, Agent
from exporter.config import RuntimeConfig


def test_scrapes_after_start_set_off_no_cyclic_collection() -> None:
    """After start (caches filled, heap frozen, young threshold above a scrape's peak), fifty
    scrapes of this host run no garbage collection: their samples die by reference counting."""
    before = gc.get_threshold()
    agent = Agent(RuntimeConfig(listen_address="127.0.0.1", port=0))
    try:
        agent.start()
        assert gc.get_threshold()[0] == GC_THRESHOLD
        agent.exposition.render(openmetrics=True)
        gc.collect()  # start from an empty young generation
        runs = [s["collections"] for s in gc.get_stats()]
        for _ in range(50):
            body = agent.exposition.render(openmetrics=True)
        assert body.count(b"\n") > 300  # a real host's exposition, not a stub
        assert [s["collections"] for s in gc.get_stats()] == runs
    finally:
        agent.stop()
        gc.set_threshold(*before)
        gc.unfreeze()
