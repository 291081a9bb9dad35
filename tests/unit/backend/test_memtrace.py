"""The SIGUSR1 tracemalloc report of the daemons: a baseline first, then the growth."""

from __future__ import annotations

import logging
import tracemalloc

import pytest

from corral.daemons.memtrace import _Reporter


def test_baseline_then_growth(caplog: pytest.LogCaptureFixture) -> None:
    tracemalloc.start(2)
    try:
        report = _Reporter()
        with caplog.at_level(logging.WARNING, logger="corral.memtrace"):
            report()
            kept = [bytearray(1000) for _ in range(200)]
            report()
    finally:
        tracemalloc.stop()
    first, second = (record.getMessage() for record in caplog.records)
    assert first.startswith("tracemalloc: baseline taken")
    assert "top growth since the baseline" in second
    assert "test_memtrace.py" in second
    assert len(kept) == 200
