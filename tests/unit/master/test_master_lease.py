"""The master lease against a real 3-member etcd cluster on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from corral.master.candidacy import RANK_STEP, Candidacy
from corral.master.etcd_gateway import EtcdError, EtcdGateway, EtcdUnavailable
from corral.master.lease import LossReason, MasterLease, MasterRecord, master_key
from corral.testing.etcd_cluster import (
    ELECTION_TIMEOUT_MS,
    EtcdCluster,
    free_ports,
    stop_members,
)

TTL = 5
CLUSTER = "test.example.com"
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[3]
BOUND = TTL + 3.0
"""Take-over bound: the lease TTL, etcd's expiry check and the watch, with slack for load."""


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path / "etcd") as cluster:
        yield cluster
    assert not any(member.running for member in cluster.members)


def _lease(cluster: EtcdCluster, node: str) -> MasterLease:
    gateway = EtcdGateway(cluster.endpoints, request_timeout=1.0)
    return MasterLease(gateway, CLUSTER, node, ttl=TTL)


def _run(etcd: EtcdCluster, body: Callable[[MasterLease, MasterLease], Awaitable[T]]) -> T:
    """Run ``body(node1's lease, node2's lease)``; their connections are closed after it."""

    async def scenario() -> T:
        first, second = _lease(etcd, "node1"), _lease(etcd, "node2")
        try:
            return await body(first, second)
        finally:
            await first.gateway.close()
            await second.gateway.close()

    return asyncio.run(scenario())


def test_one_campaigner_wins_and_the_other_waits(etcd: EtcdCluster) -> None:
    async def scenario(first: MasterLease, second: MasterLease) -> None:
        won = await first.campaign(epoch=4, config_serial=17)
        lost = await second.campaign(epoch=4, config_serial=16)
        assert won.won
        assert first.valid()
        assert not lost.won
        assert lost.holder.record == MasterRecord("node1", 4, 17)
        assert not second.valid()
        assert await second.observe() == lost.holder
        waiter = asyncio.create_task(second.campaign_until_won(lambda: (5, 16)))
        await asyncio.sleep(TTL)  # first is not keeping its lease alive: it expires
        holder = await asyncio.wait_for(waiter, BOUND)
        assert holder.record == MasterRecord("node2", 5, 16)

    _run(etcd, scenario)


def test_resign_hands_over_at_once(etcd: EtcdCluster) -> None:
    async def scenario(first: MasterLease, second: MasterLease) -> float:
        assert (await first.campaign(1, 1)).won
        holding = asyncio.create_task(first.hold())
        waiter = asyncio.create_task(second.campaign_until_won(lambda: (2, 1)))
        await asyncio.sleep(0.5)
        assert not waiter.done()
        start = time.monotonic()
        await first.resign()
        holder = await asyncio.wait_for(waiter, TTL)
        elapsed = time.monotonic() - start
        assert holder.record.node == "node2"
        assert (await holding).reason is LossReason.RESIGNED
        assert not first.valid()
        return elapsed

    print(f"\nhand-over after resign: {_run(etcd, scenario):.3f} s")


def test_killed_holder_is_replaced_within_the_ttl(etcd: EtcdCluster) -> None:
    argv = [sys.executable, "-m", "tests.support.lease_campaigner", "node1", str(TTL),
            *etcd.endpoints]
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().startswith("WON node1")
            took = asyncio.run(_take_over_after_kill(etcd, holder.pid))
        finally:
            holder.kill()
    print(f"\ntake-over after SIGKILL of the holder: {took:.3f} s (TTL {TTL} s)")
    assert took <= BOUND


async def _take_over_after_kill(etcd: EtcdCluster, pid: int) -> float:
    waiter = _lease(etcd, "node2")
    try:
        return await _wait_for_kill(waiter, pid)
    finally:
        await waiter.gateway.close()


async def _wait_for_kill(waiter: MasterLease, pid: int) -> float:
    assert not (await waiter.campaign(2, 1)).won
    task = asyncio.create_task(waiter.campaign_until_won(lambda: (2, 1)))
    await asyncio.sleep(TTL)  # several keep-alives: the holder is alive and holding
    assert not task.done()
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    won = await asyncio.wait_for(task, 2 * BOUND)
    took = time.monotonic() - killed
    assert won.record.node == "node2"
    return took


def test_losing_the_leader_member_of_three_changes_nothing(etcd: EtcdCluster) -> None:
    async def scenario(holder: MasterLease, other: MasterLease) -> None:
        assert (await holder.campaign(1, 1)).won
        holding = asyncio.create_task(holder.hold())
        leader = etcd.leader_index()
        assert leader is not None
        etcd.kill_member(leader)  # the worst member to lose: an election follows
        await asyncio.sleep(2 * TTL)
        assert not holding.done(), holding.result()
        assert holder.valid()
        seen = await other.observe()
        assert seen is not None
        assert seen.record.node == "node1"
        assert not (await other.campaign(2, 1)).won
        await holder.resign()
        assert (await holding).reason is LossReason.RESIGNED

    _run(etcd, scenario)


def test_losing_two_members_makes_the_holder_step_down(etcd: EtcdCluster) -> None:
    async def scenario(holder: MasterLease, other: MasterLease) -> float:
        assert (await holder.campaign(1, 1)).won
        holding = asyncio.create_task(holder.hold())
        await asyncio.sleep(1)
        etcd.kill_member(1)
        etcd.kill_member(2)
        killed = time.monotonic()
        lost = await asyncio.wait_for(holding, 2 * TTL)
        assert lost.reason is LossReason.UNREACHABLE
        assert not holder.valid()
        # the surviving member, if it was the raft leader, renews the lease until it notices
        # the lost quorum (raft's check-quorum: within two election timeouts); no renewal
        # after that, so the holder steps down by then + TTL - margin
        assert lost.at <= killed + 2 * ELECTION_TIMEOUT_MS / 1000 + TTL
        with pytest.raises(EtcdUnavailable):
            await other.campaign(2, 1)
        return lost.at - killed

    print(f"\nholder stepped down {_run(etcd, scenario):.3f} s after quorum loss")


def test_unreachable_endpoints_are_named() -> None:
    ports = free_ports(2)
    endpoints = [f"http://127.0.0.1:{port}" for port in ports]

    async def scenario() -> None:
        gateway = EtcdGateway(endpoints, request_timeout=0.5)
        try:
            await gateway.grant(5)
        finally:
            await gateway.close()

    with pytest.raises(EtcdUnavailable) as caught:
        asyncio.run(scenario())
    for endpoint in endpoints:
        assert endpoint in str(caught.value)


def test_bad_inputs_are_refused_with_their_names() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        EtcdGateway(["ftp://x"])
    with pytest.raises(ValueError, match="no etcd endpoint"):
        EtcdGateway([])
    with pytest.raises(ValueError, match="a/b"):
        master_key("a/b")
    assert master_key("c.example.com") == "/corral/c.example.com/master"
    with pytest.raises(EtcdError, match="/corral/c/master"):
        MasterRecord.decode(b'{"node": "n"}', "/corral/c/master")
    record = MasterRecord("node1", 3, 9)
    assert MasterRecord.decode(record.encode(), "k") == record


def test_hold_without_a_lease_is_refused() -> None:
    lease = MasterLease(EtcdGateway(["http://127.0.0.1:1"]), CLUSTER, "node1")
    with pytest.raises(EtcdError, match="node1 holds no master lease"):
        asyncio.run(lease.hold())
    with pytest.raises(ValueError, match="at least 2 s"):
        MasterLease(EtcdGateway(["http://127.0.0.1:1"]), CLUSTER, "node1", ttl=1)


def test_another_process_stops_the_members_by_their_recorded_pids(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path / "etcd").start()
    try:
        pids = [member.pid for member in cluster.members]
        assert all(pid is not None for pid in pids)
        assert stop_members(tmp_path / "etcd") == 3
        assert not any(member.running for member in cluster.members)
        assert stop_members(tmp_path / "etcd") == 0
    finally:
        cluster.stop()


def test_the_candidate_with_the_newest_configuration_takes_over(etcd: EtcdCluster) -> None:
    async def scenario(holder: MasterLease, behind: MasterLease) -> str:
        ahead = _lease(etcd, "node3")
        behind_ad = Candidacy(behind.gateway, CLUSTER, "node2", ttl=TTL)
        ahead_ad = Candidacy(ahead.gateway, CLUSTER, "node3", ttl=TTL)
        try:
            await behind_ad.advertise(8)
            await ahead_ad.advertise(9)
            assert [c.node for c in await behind_ad.candidates()] == ["node3", "node2"]
            assert await behind_ad.rank(8) == 1
            assert await ahead_ad.rank(9) == 0
            assert (await holder.campaign(1, 9)).won
            # node2 watches first, so it would see the vacancy first without ranking
            slow = asyncio.create_task(behind.campaign_until_won(lambda: (2, 8),
                                                                 behind_ad.takeover_delay))
            await asyncio.sleep(0.3)
            fast = asyncio.create_task(ahead.campaign_until_won(lambda: (2, 9),
                                                                ahead_ad.takeover_delay))
            await asyncio.sleep(0.5)
            await holder.resign()
            won = await asyncio.wait_for(fast, TTL)
            await asyncio.sleep(2 * RANK_STEP)
            assert not slow.done()  # node2 campaigned after its delay, lost, and waits again
            slow.cancel()
            await behind_ad.withdraw()
            assert [c.node for c in await ahead_ad.candidates()] == ["node3"]
            return won.record.node
        finally:
            await ahead.gateway.close()

    assert _run(etcd, scenario) == "node3"
