"""Conformance kit for the hypervisor contract (trio's ``check_*_stream`` idea).

Every driver must pass these checks. Two ways to use the kit:

- call the ``check_*`` coroutines (or :func:`check_hypervisor` for all of them)
  with a driver and a ``make_spec(name) -> InstanceSpec`` factory; or
- subclass :class:`HypervisorContract` in a ``test_hypervisor_<kind>.py`` module and
  provide two fixtures, ``driver`` (a :class:`Hypervisor`) and ``make_spec``; set
  ``kit_options`` to tune timeouts. Each test runs one ``asyncio.run`` and leaves no
  instance behind (it force-stops and cleans up what it started).

A driver that does not balloon must declare ``CAN_BALLOON = False`` and raise
``HypervisorError`` mentioning ballooning; one that does not migrate must raise
``HypervisorError`` mentioning migration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    HvState,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
    MigrationTarget,
)
from corral.hypervisor.paramspec import ParamSpec

SpecFactory = Callable[[str], InstanceSpec]


@dataclass(frozen=True)
class KitOptions:
    """Timeouts (seconds) for drivers whose actions take effect asynchronously."""

    stop_timeout: float = 10.0
    settle_timeout: float = 10.0
    poll_interval: float = 0.05


DEFAULT_OPTIONS = KitOptions()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float,
                     interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


async def _listed(driver: Hypervisor, name: str) -> bool:
    return name in await driver.list_instances()


async def _teardown(driver: Hypervisor, *names: str) -> None:
    for name in names:
        await driver.stop(name, force=True, timeout=5.0)
        await driver.cleanup(name)


async def _started(driver: Hypervisor, spec: InstanceSpec, opts: KitOptions) -> InstanceInfo:
    await driver.start(spec)

    async def running() -> bool:
        info = await driver.instance_info(spec.name)
        return info is not None and info.state == HvState.RUNNING

    assert await wait_until(running, opts.settle_timeout, opts.poll_interval), (
        f"{spec.name} did not reach RUNNING")
    info = await driver.instance_info(spec.name)
    assert info is not None
    return info


# --- checks ------------------------------------------------------------------------------

async def check_start_running(driver: Hypervisor, spec: InstanceSpec,
                              opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """Start → listed, info RUNNING with the spec's vCPUs and sane figures."""
    assert await driver.instance_info(spec.name) is None
    try:
        info = await _started(driver, spec, opts)
        assert spec.name in await driver.list_instances()
        assert info.name == spec.name
        assert info.vcpus == spec.vcpus
        assert 0 <= info.memory_mib <= spec.memory_mib
        assert info.cpu_time_s >= 0
    finally:
        await _teardown(driver, spec.name)


async def check_double_start_refused(driver: Hypervisor, spec: InstanceSpec,
                                     opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """A second start of a running instance fails and leaves the first one running."""
    try:
        await _started(driver, spec, opts)
        with pytest.raises(HypervisorError):
            await driver.start(spec)
        info = await driver.instance_info(spec.name)
        assert info is not None
        assert info.state == HvState.RUNNING
    finally:
        await _teardown(driver, spec.name)


async def check_soft_stop(driver: Hypervisor, spec: InstanceSpec,
                          opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """A soft stop ends the instance within its timeout; cleanup then succeeds."""
    try:
        await _started(driver, spec, opts)
        await driver.stop(spec.name, force=False, timeout=opts.stop_timeout)

        async def gone() -> bool:
            return not await _listed(driver, spec.name)

        assert await wait_until(gone, opts.stop_timeout, opts.poll_interval)
        assert await driver.instance_info(spec.name) is None
        await driver.cleanup(spec.name)
    finally:
        await _teardown(driver, spec.name)


async def check_force_stop_idempotent(driver: Hypervisor, spec: InstanceSpec,
                                      opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """A forced stop works on a running instance and again on the stopped one."""
    try:
        await driver.stop(spec.name, force=True, timeout=1.0)
        await _started(driver, spec, opts)
        await driver.stop(spec.name, force=True, timeout=opts.stop_timeout)
        assert not await _listed(driver, spec.name)
        assert await driver.instance_info(spec.name) is None
        await driver.stop(spec.name, force=True, timeout=1.0)
    finally:
        await _teardown(driver, spec.name)


async def check_reboot(driver: Hypervisor, spec: InstanceSpec,
                       opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """Reboot keeps the instance running; rebooting a stopped one fails."""
    try:
        await _started(driver, spec, opts)
        await driver.reboot(spec.name)

        async def running() -> bool:
            info = await driver.instance_info(spec.name)
            return info is not None and info.state == HvState.RUNNING

        assert await wait_until(running, opts.settle_timeout, opts.poll_interval)
        await _teardown(driver, spec.name)
        with pytest.raises(HypervisorError):
            await driver.reboot(spec.name)
    finally:
        await _teardown(driver, spec.name)


async def check_balloon(driver: Hypervisor, spec: InstanceSpec,
                        opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """Ballooning works (memory reported follows) or is refused as declared."""
    try:
        first = await _started(driver, spec, opts)
        target = max(spec.memory_mib // 2, 1)
        if not driver.CAN_BALLOON:
            with pytest.raises(HypervisorError, match="balloon"):
                await driver.balloon(spec.name, target)
            return
        await driver.balloon(spec.name, target)
        if first.memory_mib == 0:  # the driver does not report memory use
            return

        async def shrunk() -> bool:
            info = await driver.instance_info(spec.name)
            return info is not None and info.memory_mib == target

        assert await wait_until(shrunk, opts.settle_timeout, opts.poll_interval)
    finally:
        await _teardown(driver, spec.name)


async def check_node_info(driver: Hypervisor) -> None:
    """Node figures are plausible."""
    info = await driver.node_info()
    assert info.memory_total > 0
    assert 0 <= info.memory_free <= info.memory_total
    assert info.memory_dom0 >= 0
    assert info.cpu_total >= 1
    assert info.cpu_nodes >= 1
    assert info.cpu_sockets >= 1


async def check_verify(driver: Hypervisor, spec: InstanceSpec) -> None:
    """verify returns a list of problem strings (with and without hvparams)."""
    for problems in (await driver.verify(), await driver.verify(spec.hvparams)):
        assert isinstance(problems, list)
        assert all(isinstance(p, str) for p in problems)


def _bad_value(param: ParamSpec) -> Any | None:
    """A value that fails coercion or the syntax check of ``param``, if one is found."""
    if param.value_type is bool:
        return "maybe"
    if param.value_type is int:
        return "not-a-number"
    check = param.syntax_check
    for candidate in ("relative/path", "no-such-choice-x", "99999999", "-", "a b:c"):
        if check is not None and not check.test(candidate):
            return candidate
    return None


def check_parameter_syntax(driver_class: type[Hypervisor], spec: InstanceSpec) -> None:
    """Defaults pass; an unknown name and a bad value are rejected, naming the parameter."""
    driver_class.check_parameter_syntax(dict(spec.hvparams))
    with pytest.raises(ParameterError, match="no_such_parameter"):
        driver_class.check_parameter_syntax({**spec.hvparams, "no_such_parameter": "1"})
    bad = [(p.name, v) for p in driver_class.PARAMETERS.values()
           if (v := _bad_value(p)) is not None]
    assert bad, "the kit found no parameter it could give a bad value"
    for name, value in bad:
        with pytest.raises(ParameterError, match=name):
            driver_class.check_parameter_syntax({**spec.hvparams, name: value})


async def check_all_info_consistent(driver: Hypervisor, make_spec: SpecFactory,
                                    opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """all_instances_info agrees with list_instances and instance_info."""
    specs = [make_spec("kit-all-1"), make_spec("kit-all-2")]
    try:
        for spec in specs:
            await _started(driver, spec, opts)
        names = set(await driver.list_instances())
        everything = await driver.all_instances_info()
        assert set(everything) == names
        assert {s.name for s in specs} <= names
        for name, info in everything.items():
            single = await driver.instance_info(name)
            assert single is not None
            assert (single.name, single.vcpus, single.state) == (
                info.name, info.vcpus, info.state)
    finally:
        await _teardown(driver, *(s.name for s in specs))


def check_console(driver: Hypervisor, spec: InstanceSpec) -> None:
    """The console description names the instance and has a known kind."""
    console = driver.console(spec)
    assert isinstance(console, ConsoleInfo)
    assert console.instance == spec.name
    assert console.kind in set(ConsoleKind)
    if console.kind == ConsoleKind.MESSAGE:
        assert console.message
    elif console.kind in (ConsoleKind.SSH, ConsoleKind.SOCKET):
        assert console.command


async def check_migration_declared(driver: Hypervisor, spec: InstanceSpec) -> None:
    """A driver that cannot migrate says so on every migration step."""
    if driver.CAN_MIGRATE:
        return
    steps: list[Coroutine[Any, Any, Any]] = [
        driver.check_migratable(spec),
        driver.migration_info(spec),
        driver.accept_instance(spec, "", "node2"),
        driver.finalize_migration_dst(spec, "", True),
        driver.migrate_instance("cluster", spec, MigrationTarget(address="node2", port=1), True),
        driver.finalize_migration_src(spec, True, True),
        driver.migration_status(spec),
    ]
    for step in steps:
        with pytest.raises(HypervisorError, match="migration"):
            await step


async def check_hypervisor(driver: Hypervisor, make_spec: SpecFactory,
                           opts: KitOptions = DEFAULT_OPTIONS) -> None:
    """Every check of the kit, one after the other."""
    await check_start_running(driver, make_spec("kit-start"), opts)
    await check_double_start_refused(driver, make_spec("kit-double"), opts)
    await check_soft_stop(driver, make_spec("kit-soft"), opts)
    await check_force_stop_idempotent(driver, make_spec("kit-force"), opts)
    await check_reboot(driver, make_spec("kit-reboot"), opts)
    await check_balloon(driver, make_spec("kit-balloon"), opts)
    await check_node_info(driver)
    await check_verify(driver, make_spec("kit-verify"))
    check_parameter_syntax(type(driver), make_spec("kit-params"))
    await check_all_info_consistent(driver, make_spec, opts)
    check_console(driver, make_spec("kit-console"))
    await check_migration_declared(driver, make_spec("kit-migrate"))


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run one check (the kit's tests are sync functions)."""
    asyncio.run(coro)


class HypervisorContract:
    """Base class of a driver's conformance tests; needs fixtures ``driver`` and ``make_spec``.

    Not collected by itself (no ``Test`` prefix); a ``TestXxx`` subclass is.
    """

    kit_options: KitOptions = DEFAULT_OPTIONS

    def test_start_running(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_start_running(driver, make_spec("kit-start"), self.kit_options))

    def test_double_start_refused(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_double_start_refused(driver, make_spec("kit-double"), self.kit_options))

    def test_soft_stop(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_soft_stop(driver, make_spec("kit-soft"), self.kit_options))

    def test_force_stop_idempotent(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_force_stop_idempotent(driver, make_spec("kit-force"), self.kit_options))

    def test_reboot(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_reboot(driver, make_spec("kit-reboot"), self.kit_options))

    def test_balloon(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_balloon(driver, make_spec("kit-balloon"), self.kit_options))

    def test_node_info(self, driver: Hypervisor) -> None:
        run(check_node_info(driver))

    def test_verify(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_verify(driver, make_spec("kit-verify")))

    def test_parameter_syntax(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        check_parameter_syntax(type(driver), make_spec("kit-params"))

    def test_all_info_consistent(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_all_info_consistent(driver, make_spec, self.kit_options))

    def test_console(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        check_console(driver, make_spec("kit-console"))

    def test_migration_declared(self, driver: Hypervisor, make_spec: SpecFactory) -> None:
        run(check_migration_declared(driver, make_spec("kit-migrate")))
