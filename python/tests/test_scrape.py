"""BEP 33 scrapes, BEP 51 samples and the network size estimate from Python, on
the shared loopback network (every node is 127.0.0.1: a scrape counts IPs)."""

from __future__ import annotations

import asyncio

from conftest import LOOPBACK_TIMEOUT, seed_address
from dipsea import AsyncNode, Id, Node, Samples, Scrape


def test_scrape_counts_seed_and_peer_ips(network: list[Node]) -> None:
    info_hash = Id.sha1(b"python scrape")
    assert network[2].scrape(info_hash).seeds == 0.0
    assert network[2].announce(info_hash, port=7100, seed=True) >= 1
    assert network[3].announce(info_hash, port=7101) >= 1
    scrape = network[9].scrape(info_hash)
    assert isinstance(scrape, Scrape)
    # One seed IP and one peer IP (127.0.0.1 both): each estimate is 1 within the
    # filter's error (two bits of 2048 set).
    assert round(scrape.seeds) == 1 and round(scrape.peers) == 1, scrape
    assert 1 <= scrape.responders <= 8


def test_sample_infohashes_returns_what_was_announced(network: list[Node]) -> None:
    info_hash = Id.sha1(b"python sample")
    assert network[4].announce(info_hash, port=7200) >= 1
    samples = network[10].sample_infohashes(info_hash)
    assert isinstance(samples, Samples)
    assert info_hash in samples.info_hashes
    assert samples.responders >= 1 and samples.num >= 1 and samples.interval > 0
    assert len(samples) == len(samples.info_hashes)


def test_stats_have_the_network_size_and_sample_refusals(network: list[Node]) -> None:
    network[6].find_node(Id.random())
    stats = network[6].stats()
    assert isinstance(stats["network_size"], int) and stats["network_size"] >= 1
    assert stats["sample_refused"] == 0
    assert "sample_infohashes" in stats["queries_in"]


def test_async_scrape_and_sample(network: list[Node]) -> None:
    async def main() -> None:
        async with AsyncNode(
            bind="127.0.0.1:0", bootstrap=[seed_address(network)], query_timeout=LOOPBACK_TIMEOUT
        ) as node:
            await node.bootstrap()
            info_hash = Id.sha1(b"async scrape")
            assert await node.announce(info_hash, port=7300, seed=True) >= 1
            scrape = await node.scrape(info_hash)
            assert round(scrape.seeds) == 1 and scrape.peers == 0.0
            samples = await node.sample_infohashes(info_hash)
            assert info_hash in samples.info_hashes

    asyncio.run(main())
