"""Reservations of running jobs: memory on its way to a node, DRBD minors and ports."""

from __future__ import annotations

from corral.cmdlib.common.instances.drbd import DrbdAllocator
from corral.cmdlib.reservations import DrbdReservations, MemoryReservations
from tests.support.config import instance_cluster


def test_reservations_count_for_others_only_and_are_released() -> None:
    book = MemoryReservations()
    book.reserve("node2", "job-1", 512)
    book.reserve("node2", "job-2", 256)
    book.reserve("node3", "job-2", 128)
    assert book.reserved("node2") == 768
    assert book.reserved("node2", besides="job-1") == 256
    book.reserve("node2", "job-1", 64)  # a new reservation replaces the old
    assert book.reserved("node2") == 320
    book.release("job-2")
    assert (book.reserved("node2"), book.reserved("node3")) == (64, 0)
    book.release("job-2")  # idempotent
    book.release("job-1")
    assert book.reserved("node2") == 0


def test_drbd_allocators_of_two_jobs_never_share_a_minor_or_port() -> None:
    data = instance_cluster(nodes=3).data
    book = DrbdReservations()
    first = DrbdAllocator(data, book, "job/1")
    second = DrbdAllocator(data, book, "job/2")
    assert first.minors(["node-node1", "node-node2"]) == [0, 0]
    assert second.minors(["node-node2", "node-node3"]) == [1, 0]
    assert (first.port(), second.port()) == (11000, 11001)
    book.release("job/1")
    book.release("job/1")  # idempotent
    assert book.minors("node-node1") == set()
    assert book.minors("node-node2") == {1}
    assert DrbdAllocator(data, book, "job/3").port() == 11000
