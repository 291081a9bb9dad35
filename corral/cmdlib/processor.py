"""Runs opcodes through their logical unit's life cycle, with locks and hooks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from corral.cmdlib.base import LU_REGISTRY, LogicalUnit
from corral.cmdlib.context import MasterContext
from corral.errors import HooksAbort, HooksFailure, OpCodeUnknown
from corral.hooks.env import build_env, hooks_subdir
from corral.hooks.runner import HookStatus, scan_dir
from corral.jobs.model import Job
from corral.objects.node import Node
from corral.opcodes.base import OpCode

log = logging.getLogger(__name__)


class Processor:
    """The job queue's OpRunner: one call per opcode."""

    def __init__(self, ctx: MasterContext) -> None:
        self.ctx = ctx

    async def run_op(
        self,
        job: Job,
        opcode: OpCode,
        feedback: Callable[[str], None],
        on_locked: Callable[[], Awaitable[None]],
    ) -> Any:
        lu_class = LU_REGISTRY.get(type(opcode))
        if lu_class is None:
            raise OpCodeUnknown(f"No logical unit executes {opcode.op_id}")
        lu = lu_class(self.ctx, opcode, feedback)
        lu.check_arguments()
        lu.expand_names()
        owner = f"job/{job.id}"
        lu.lock_owner = owner
        await self.ctx.locks.acquire(owner, lu.declare_locks(), priority=job.priority)
        try:
            await on_locked()
            result = await self._run_locked(lu)
        finally:
            self.ctx.locks.release(owner)
            self.ctx.reservations.release(owner)
            self.ctx.drbd.release(owner)
        return await self._submit_follow_up_jobs(result)

    async def _submit_follow_up_jobs(self, result: Any) -> Any:
        """Ganeti's ResultWithJobs: a result ``{"jobs": [[op, ...], ...]}`` submits those jobs."""
        queue = self.ctx.queue
        if not isinstance(result, dict) or "jobs" not in result or queue is None:
            return result
        submitted = await queue.submit_many(result["jobs"])
        return {**result, "jobs": [list(item) for item in submitted]}

    async def _run_locked(self, lu: LogicalUnit[Any]) -> Any:
        await lu.check_prereq()
        hooks = HookRunner(self.ctx, lu)
        await hooks.run_pre()
        if lu.op.dry_run:
            return lu.dry_run_result()
        try:
            result = await lu.exec()
        finally:
            if lu.config_changed:
                await hooks.run_config_update()
        await hooks.run_post()
        return result


class HookRunner:
    """Runs one logical unit's hooks on its nodes through the hooks_runner RPC."""

    def __init__(self, ctx: MasterContext, lu: LogicalUnit[Any]) -> None:
        self.ctx = ctx
        self.lu = lu
        self.pre_env: dict[str, Any] = {}

    def _env(self, hpath: str, phase: str, post_env: dict[str, Any] | None) -> dict[str, str]:
        cfg = self.ctx.config.data
        return build_env(
            hpath=hpath,
            phase=phase,
            op_id=self.lu.op.op_id,
            object_type=self.lu.HTYPE.value if self.lu.HTYPE else None,
            cluster_name=cfg.cluster.cluster_name,
            master_name=cfg.master_node.name,
            data_dir=str(self.ctx.layout.data_dir),
            lu_env_pre=self.pre_env,
            lu_env_post=post_env,
        )

    async def _run(
        self, hpath: str, phase: str, nodes: list[Node], env: dict[str, str]
    ) -> list[str]:
        """Run on ``nodes``; returns failure descriptions."""
        online = [n for n in nodes if not n.offline]
        if not online:
            return []
        results = await self.ctx.rpc.hooks_runner(online, hpath, phase, env)
        failures: list[str] = []
        for node_name, result in results.items():
            if not result.ok:
                self.lu.log_warning(
                    f"Communication failure running hooks on {node_name}: {result.fail_msg}"
                )
                continue
            failures.extend(
                f"{node_name}: {hook.script}: {hook.output.strip()}"
                for hook in result.payload or []
                if hook.status == HookStatus.FAIL
            )
        return failures

    async def run_pre(self) -> None:
        hpath = self.lu.HPATH
        if hpath is None:
            return
        self.pre_env = self.lu.hooks_env()
        nodes, _ = self.lu.hooks_nodes()
        failures = await self._run(hpath, "pre", nodes, self._env(hpath, "pre", None))
        if failures:
            raise HooksAbort("Hook failures:\n" + "\n".join(failures))

    async def run_post(self) -> None:
        hpath = self.lu.HPATH
        if hpath is None:
            return
        _, nodes = self.lu.hooks_nodes()
        try:
            env = self._env(hpath, "post", self.lu.hooks_env())
            for failure in await self._run(hpath, "post", nodes, env):
                self.lu.log_warning(f"post hook failed: {failure}")
        except HooksFailure as err:
            self.lu.log_warning(str(err))

    async def run_post_now(self, nodes: list[Node]) -> None:
        """Post hooks on ``nodes`` from inside ``exec``: Ganeti does this for a node that
        is about to leave the cluster, which the post phase could no longer reach."""
        hpath = self.lu.HPATH
        if hpath is None:
            return
        self.pre_env = self.lu.hooks_env()
        env = self._env(hpath, "post", self.pre_env)
        for failure in await self._run(hpath, "post", nodes, env):
            self.lu.log_warning(f"post hook failed: {failure}")

    def _master_has_scripts(self, hpath: str, phase: str) -> bool:
        """Whether the master node's own ``<hpath>-<phase>.d`` holds a script it would run.

        masterd runs on the master node, so this is the directory the hooks RPC to the
        master would read; without a runnable entry that call would run nothing.
        """
        directory = self.ctx.layout.hooks_dir / hooks_subdir(hpath, phase)
        return any(runnable for _, runnable in scan_dir(directory))

    async def run_config_update(self) -> None:
        """The ``config-update`` post hook, on the master node alone (skipped, without an
        RPC, when the master has no script for it)."""
        if not self._master_has_scripts("config-update", "post"):
            return
        cfg = self.ctx.config.data
        env = self._env("config-update", "post", None)
        for failure in await self._run("config-update", "post", [cfg.master_node], env):
            self.lu.log_warning(f"config-update hook failed: {failure}")
