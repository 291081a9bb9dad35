"""A factory of LU harnesses over temporary directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.config import ConfigBuilder
from tests.support.lu_harness import LuHarness, MakeHarness


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[MakeHarness]:
    made: list[LuHarness] = []

    def make(builder: ConfigBuilder, **kw: Any) -> LuHarness:
        harness = LuHarness(tmp_path / f"h{len(made)}", builder.data, **kw)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
