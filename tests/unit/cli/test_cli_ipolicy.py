"""``--ipolicy-*`` and ``--specs-*`` options become Ganeti's ipolicy dicts."""

from __future__ import annotations

import argparse

import pytest

from corral.cli import ipolicy_opts
from corral.cli.errors import UsageError


def parse(*argv: str, group: bool = False) -> dict[str, object] | None:
    parser = argparse.ArgumentParser()
    for opt in (ipolicy_opts.GROUP_OPTS if group else ipolicy_opts.INIT_OPTS):
        opt.add_to(parser)
    return ipolicy_opts.ipolicy_from_opts(parser.parse_args(list(argv)), group=group)


FULL = "cpu-count=1,disk-count=1,disk-size=1G,memory-size=128,nic-count=1,spindle-use=1"


def test_nothing_given() -> None:
    assert parse() is None


def test_bounds_std_templates_and_ratios() -> None:
    policy = parse("--ipolicy-bounds-specs", f"min:{FULL}/max:{FULL.replace('128', '2g')}"
                   f"//min:{FULL}/max:{FULL}",
                   "--ipolicy-std-specs", "memory-size=256,cpu-count=2",
                   "--ipolicy-disk-templates", "plain,file",
                   "--ipolicy-vcpu-ratio", "2.5", "--ipolicy-spindle-ratio", "16")
    assert policy is not None
    minmax = policy["minmax"]
    assert isinstance(minmax, list)
    assert len(minmax) == 2
    assert minmax[0]["min"]["disk-size"] == 1024
    assert minmax[0]["max"]["memory-size"] == 2048
    assert policy["std"] == {"memory-size": 256, "cpu-count": 2}
    assert policy["disk-templates"] == ["plain", "file"]
    assert (policy["vcpu-ratio"], policy["spindle-ratio"]) == (2.5, 16.0)


def test_bounds_need_every_parameter() -> None:
    with pytest.raises(UsageError, match="Missing parameters in ipolicy spec min: disk-count"):
        parse("--ipolicy-bounds-specs", f"min:cpu-count=1/max:{FULL}")


def test_group_reset_to_default() -> None:
    assert parse("--ipolicy-bounds-specs", "default", "--ipolicy-vcpu-ratio", "default",
                 group=True) == {"minmax": "default", "vcpu-ratio": "default"}


def test_split_specs_at_init() -> None:
    policy = parse("--specs-mem-size", "min=64,max=1g,std=128", "--specs-disk-count", "min=0")
    assert policy == {"minmax": [{"min": {"memory-size": 64, "disk-count": 0},
                                  "max": {"memory-size": 1024}}],
                      "std": {"memory-size": 128}}
    with pytest.raises(UsageError, match="cannot be specified together"):
        parse("--specs-mem-size", "min=64", "--ipolicy-std-specs", "memory-size=128")
