"""Inputs of a query (:class:`QueryContext`) and the description of a resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.objects import ConfigData
from corral.query.fields import FieldTable


@dataclass(frozen=True)
class QueryContext:
    """Everything a query reads; plain data gathered by the master beforehand.

    ``live_nodes`` maps node UUIDs to the node_info RPC payload: ``memory_total``,
    ``memory_free``, ``memory_dom0`` (MiB), ``cpu_total``, ``cpu_nodes``,
    ``cpu_sockets``, ``cpu_dom0``, ``bootid`` and ``storage`` (a list of
    ``{"type", "name", "storage_size", "storage_free"}``, sizes in MiB).
    ``offline_or_failed`` holds the nodes that could not be asked.
    ``instance_live`` maps instance UUIDs of instances found on some node to
    ``{"state": "running"|"shutdown", "memory": MiB, "vcpus": int}`` and,
    optionally, ``"node"``: the UUID of the node where it was found (when it is
    not the primary, the status is ``ERROR_wrongnode``).
    ``instance_consoles`` maps UUIDs of running instances to Ganeti's console
    description (``{"instance", "kind", "host", "user", "command", ...}``, only the keys
    that apply), gathered only when the ``console`` field is asked for.
    ``jobs`` are job records in Ganeti's job-file shape plus ``status`` and
    ``archived``; ``lock_info`` are ``{"name", "mode", "owners", "pending"}``.
    """

    config: ConfigData
    live_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    offline_or_failed: set[str] = field(default_factory=set)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    now: float = 0.0
    lock_info: list[dict[str, Any]] = field(default_factory=list)
    instance_live: dict[str, dict[str, Any]] = field(default_factory=dict)
    instance_consoles: dict[str, dict[str, Any]] = field(default_factory=dict)


Selector = Callable[[QueryContext, "list[Any] | None"], list[Any]]
"""``select(ctx, wanted)``: the items to consider, in result order.

``wanted`` is None for all items, or the names a pure name filter asked for.
Raises OpPrereqError (NOENT) for names that match nothing, where Ganeti does.
"""


@dataclass(frozen=True, slots=True)
class Resource:
    """One queryable resource (``what``): its fields and how to list its items."""

    name: str
    fields: FieldTable
    namefield: str
    prepare: Callable[[QueryContext], Any]
    """Builds the per-query data shared by all rows (passed to every getter)."""
    select: Selector
