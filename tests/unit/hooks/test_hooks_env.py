"""The GANETI_* hook environment."""

from __future__ import annotations

import pytest

from corral.hooks.env import build_env, hooks_subdir


def _env(phase: str, post: dict[str, object] | None = None, **over: object) -> dict[str, str]:
    args: dict[str, object] = {
        "hpath": "instance-start",
        "phase": phase,
        "op_id": "OP_INSTANCE_STARTUP",
        "object_type": "INSTANCE",
        "cluster_name": "cluster.example.com",
        "master_name": "node1.example.com",
        "data_dir": "/var/lib/corral",
        "lu_env_pre": {"INSTANCE_NAME": "inst1", "FORCE": False, "INSTANCE_NIC_COUNT": 0,
                       "OPTIONAL": None},
        "lu_env_post": post,
    }
    args.update(over)
    return build_env(**args)  # type: ignore[arg-type]


def test_pre_phase_has_common_and_prefixed_lu_variables() -> None:
    assert _env("pre") == {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "GANETI_HOOKS_VERSION": "2",
        "GANETI_OP_CODE": "OP_INSTANCE_STARTUP",
        "GANETI_DATA_DIR": "/var/lib/corral",
        "GANETI_HOOKS_PHASE": "pre",
        "GANETI_HOOKS_PATH": "instance-start",
        "GANETI_OBJECT_TYPE": "INSTANCE",
        "GANETI_CLUSTER": "cluster.example.com",
        "GANETI_MASTER": "node1.example.com",
        "GANETI_INSTANCE_NAME": "inst1",
        "GANETI_FORCE": "False",
        "GANETI_INSTANCE_NIC_COUNT": "0",
        "GANETI_OPTIONAL": "",
    }


def test_post_phase_adds_post_prefixed_variables_and_keeps_pre_set() -> None:
    env = _env("post", post={"INSTANCE_NAME": "inst1-renamed", "NEW": 3})
    assert env["GANETI_HOOKS_PHASE"] == "post"
    assert env["GANETI_INSTANCE_NAME"] == "inst1"
    assert env["GANETI_POST_INSTANCE_NAME"] == "inst1-renamed"
    assert env["GANETI_POST_NEW"] == "3"
    assert "GANETI_NEW" not in env


def test_pre_phase_ignores_post_environment() -> None:
    assert not any(key.startswith("GANETI_POST_") for key in _env("pre", post={"X": 1}))


def test_optional_common_variables_left_out_when_none() -> None:
    env = _env("pre", object_type=None, cluster_name=None, master_name=None)
    assert {"GANETI_OBJECT_TYPE", "GANETI_CLUSTER", "GANETI_MASTER"}.isdisjoint(env)


def test_lu_keys_cannot_override_common_variables() -> None:
    env = _env("pre", lu_env_pre={"HOOKS_PHASE": "post", "OP_CODE": "X"})
    assert env["GANETI_HOOKS_PHASE"] == "pre"
    assert env["GANETI_OP_CODE"] == "OP_INSTANCE_STARTUP"


def test_bad_phase_rejected() -> None:
    with pytest.raises(ValueError, match="middle"):
        _env("middle")


def test_hooks_subdir() -> None:
    assert hooks_subdir("node-add", "post") == "node-add-post.d"
