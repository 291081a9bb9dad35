"""Daemon services are typed fields: no string-keyed lookup of services remains."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from corral.backend.context import NodeContext, NodeServices
from corral.backend.restricted import RestrictedSettings
from corral.cmdlib.common.nodes.join import NodeJoiner
from corral.cmdlib.context import MasterContext
from corral.config.store import ConfigStore
from corral.jobs.queue import JobQueue

LOCALS = {
    "ConfigStore": ConfigStore,
    "RestrictedSettings": RestrictedSettings,
    "JobQueue": JobQueue,
    "NodeJoiner": NodeJoiner,
}
"""Names the contexts import only for type checking."""


@pytest.mark.parametrize("cls", [NodeContext, NodeServices, MasterContext])
def test_no_untyped_service_dicts(cls: type) -> None:
    hints = typing.get_type_hints(cls, localns=LOCALS)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        assert hint is not typing.Any, f"{cls.__name__}.{field.name} is Any"
        if typing.get_origin(hint) is dict:
            _, value = typing.get_args(hint)
            assert value is not typing.Any, f"{cls.__name__}.{field.name} is a dict of Any"
