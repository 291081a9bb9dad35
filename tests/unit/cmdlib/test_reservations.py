"""Memory reservations of instances on their way to a node."""

from __future__ import annotations

from corral.cmdlib.reservations import MemoryReservations


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
