"""The remote API's only way to the master: the LUXI method table, called in process.

RAPI never touches the configuration or the queue directly. It calls the same
``dispatch(method, args)`` that serves LUXI clients (``SubmitJob``, ``Query``,
``QueryJobs``, ``WaitForJobChange``...), so a job submitted through RAPI is the
same job ``gnt-*`` would submit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from corral.errors import LuxiError, OpPrereqError
from corral.job_wire import JOB_FINALIZED, JOB_NOTCHANGED
from corral.rapi.httperror import HttpError
from corral.rapi.records import RecordStream

Dispatch = Callable[[str, list[Any]], Awaitable[Any]]
"""``dispatch(method, args)``: a LUXI method of the master, awaited in process."""
StreamRows = Callable[[str, list[str]], AsyncIterator[list[list[Any]]]]
"""``stream(what, fields)``: every item's plain values of ``fields``, in blocks (the
master's legacy query, handed over block by block as it is built)."""

WAIT_STEP = 10.0
"""Seconds one WaitForJobChange call may block (Ganeti's RAPI uses 10)."""


LEGACY_QUERIES = {"instance": "QueryInstances", "node": "QueryNodes", "group": "QueryGroups"}


def uri_list(names: list[Any], uri: str, key: str) -> list[dict[str, Any]]:
    """Ganeti's index answer: ``[{key: name, "uri": uri % name}]`` sorted by name."""
    return [{key: name, "uri": uri % name} for name in sorted(names)]


def name_filter(namefield: str, names: Sequence[Any]) -> list[Any]:
    """Ganeti's query filter selecting items by name (or id)."""
    return ["|", *(["=", namefield, name] for name in names)]


def plain_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Values of a query2 answer, None where a cell is not normal (unknown field, no data)."""
    return [[value for _status, value in row] for row in result["data"]]


@dataclass(frozen=True, slots=True)
class RapiContext:
    """What resources use to reach the master."""

    dispatch: Dispatch
    stream: StreamRows | None = None
    """The master's streamed legacy queries (None: bulk answers are built whole)."""

    async def call(self, method: str, *args: Any) -> Any:
        """One LUXI method. A bare TypeError/ValueError/KeyError/IndexError from the master
        means the arguments (from the request) were unusable: LuxiError, as LUXI answers."""
        try:
            return await self.dispatch(method, list(args))
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise LuxiError(f"Invalid arguments for {method}: {err}") from err

    async def submit(self, ops: list[dict[str, Any]]) -> int:
        """Submit one job; its id (Ganeti 3.0 returns job ids as JSON numbers)."""
        return int(await self.call("SubmitJob", ops))

    async def query(
        self, what: str, fields: list[str], names: Sequence[Any] | None = None
    ) -> list[list[Any]]:
        """Rows of plain values for ``fields``; unknown fields give None.

        With ``names``, a name that matches nothing raises OpPrereqError (NOENT).
        """
        namefield = "id" if what == "job" else "name"
        qfilter = None if names is None else name_filter(namefield, names)
        return plain_rows(await self.call("Query", what, fields, qfilter))

    async def rows(self, what: str, fields: list[str]) -> list[list[Any]]:
        """Every item's plain values of ``fields`` (RAPI's bulk answers).

        The legacy LUXI queries build plain values directly, without query2's
        ``[status, value]`` cells: much less work at thousands of items.
        """
        legacy = LEGACY_QUERIES.get(what)
        if legacy is not None:
            try:
                return list(await self.call(legacy, [], fields, False))
            except OpPrereqError:
                pass  # an unknown field: query2 answers it with None, as Ganeti does
        return plain_rows(await self.call("Query", what, fields, None))

    async def records(self, what: str, fields: list[str]) -> RecordStream:
        """Every item as a record of ``fields`` (a JSON object); with the master's
        streamed queries, the first block is ready and the rest follow as they are built
        (an error of the query is raised here, before anything is sent)."""
        if self.stream is None or what not in LEGACY_QUERIES:
            return RecordStream(fields, await self.rows(what, fields))
        blocks = self.stream(what, fields)
        try:
            first = await anext(blocks)
        except StopAsyncIteration:
            return RecordStream(fields, [])
        except OpPrereqError:  # an unknown field: query2 answers it with None, as Ganeti does
            return RecordStream(fields, plain_rows(await self.call("Query", what, fields, None)))
        return RecordStream(fields, first, blocks)

    async def index(self, what: str, uri: str, key: str) -> list[dict[str, Any]]:
        """Ganeti's answer to a collection GET without ``bulk``: names and URIs."""
        return uri_list([row[0] for row in await self.query(what, ["name"])], uri, key)

    async def listing(
        self, what: str, fields: list[str], bulk: bool, uri: str, key: str
    ) -> RecordStream | list[dict[str, Any]]:
        """A collection resource's GET: full records with ``bulk``, else the index."""
        if bulk:
            return await self.records(what, fields)
        return await self.index(what, uri, key)

    async def query_one(self, what: str, name: str, fields: list[str]) -> dict[str, Any]:
        """One item as a dict; 404 when it does not exist."""
        rows = await self.query(what, fields, [name])
        if not rows:
            raise HttpError(404)
        return dict(zip(fields, rows[0], strict=True))

    async def wait_job(self, job_id: int, timeout: float) -> tuple[str, list[Any]]:
        """Follow a job until it ends; its final status and per-opcode results.

        Raises:
            HttpError: 504 when it has not ended within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        info: Any = None
        serial: int | None = None
        while True:
            step = min(WAIT_STEP, deadline - loop.time())
            if step <= 0:
                raise HttpError(504, f"Job {job_id} did not finish within {timeout:.0f} s")
            change = await self.call("WaitForJobChange", job_id, ["status"], info, serial, step)
            if change == JOB_NOTCHANGED:
                continue
            info, logs = change
            serial = max([serial or 0, *(int(entry[0]) for entry in logs or [])])
            if info[0] in JOB_FINALIZED:
                break
        row = (await self.call("QueryJobs", [job_id], ["status", "opresult"]))[0]
        return str(row[0]), list(row[1])
