"""The master's ssconf values: one entry per line, never an entry that spans lines."""

from __future__ import annotations

import pytest

from corral.config.ssconf import compute_ssconf
from corral.errors import ConfigurationError
from tests.support.config import standard_cluster


def test_lists_are_one_name_per_line() -> None:
    b = standard_cluster(nodes=2)
    b.group("rack1")
    values = compute_ssconf(b.data)
    assert values["node_list"].splitlines() == ["node1", "node2"]
    assert sorted(line.split()[1] for line in values["nodegroups"].splitlines()) == [
        "default", "rack1"]


def test_a_name_with_a_newline_is_refused_not_written() -> None:
    b = standard_cluster(nodes=1)
    b.group("rack1\nrack2")
    with pytest.raises(ConfigurationError, match=r"entry '.* rack1\\nrack2' spans lines"):
        compute_ssconf(b.data)
