"""Ganeti's fake hypervisor: instances are JSON files, nothing runs. For scale tests.

One file per running instance in ``layout.run_dir / "fake-hv"``, holding name,
id, memory, vCPUs and state. The files are tiny and written without fsync (the
run directory does not survive a reboot, nor do real instances), so the I/O is
done inline: a thread hop would cost more than the write and the master wants
≥ 50 instance starts per second. Creation is atomic and exclusive (write a
temporary file, then ``link`` it into place, which fails if the name exists).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    HvNodeInfo,
    HvState,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
    MigrationState,
    MigrationStatus,
    MigrationTarget,
)
from corral.hypervisor.params import FAKE, HvKind
from corral.layout import NodeLayout
from corral.process import CommandRunner

_SUFFIX = ".json"


class FakeHypervisor(Hypervisor):
    """State files only; every operation is a few system calls."""

    KIND: ClassVar[HvKind] = HvKind.FAKE
    PARAMETERS = FAKE
    CAN_MIGRATE: ClassVar[bool] = True
    CAN_BALLOON: ClassVar[bool] = True

    def __init__(self, layout: NodeLayout, runner: CommandRunner, clock: Clock) -> None:
        super().__init__(layout, runner, clock)
        self._memory_seen: dict[str, tuple[tuple[int, int, int], int]] = {}
        """State file name -> ((inode, size, mtime), memory MiB) as last read."""

    @property
    def state_dir(self) -> Path:
        return self.layout.run_dir / "fake-hv"

    def _file(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise HypervisorError(f"invalid instance name {name!r}")
        return self.state_dir / f"{name}{_SUFFIX}"

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._file(name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise HypervisorError(f"fake hypervisor: bad state of {name}: {err}") from err
        return data

    def _write(self, name: str, record: dict[str, Any], *, exclusive: bool) -> None:
        """Write atomically; with ``exclusive`` fail if the instance already has a file."""
        target = self._file(name)
        temp = target.with_name(f".{name}.{os.getpid()}.{id(record)}.tmp")
        try:
            temp.write_bytes(json.dumps(record).encode())
        except FileNotFoundError:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(json.dumps(record).encode())
        try:
            if exclusive:
                os.link(temp, target)
            else:
                os.replace(temp, target)
        except FileExistsError:
            raise HypervisorError(f"instance {name} is already running") from None
        finally:
            temp.unlink(missing_ok=True)

    def _require(self, name: str) -> dict[str, Any]:
        record = self._read(name)
        if record is None:
            raise HypervisorError(f"instance {name} is not running")
        return record

    # --- life cycle ------------------------------------------------------------------

    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        self._mark_up(instance, HvState.PAUSED if paused else HvState.RUNNING)

    def _mark_up(self, instance: InstanceSpec, state: HvState) -> None:
        record = {"name": instance.name, "id": zlib.crc32(instance.uuid.encode()) & 0x7FFFFFFF,
                  "memory": instance.memory_mib, "vcpus": instance.vcpus, "state": str(state)}
        self._write(instance.name, record, exclusive=True)

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        try:
            self._file(name).unlink()
        except FileNotFoundError:
            if not force:
                raise HypervisorError(f"instance {name} is not running") from None

    async def reboot(self, name: str) -> None:
        self._require(name)

    async def balloon(self, name: str, memory_mib: int) -> None:
        if memory_mib <= 0:
            raise HypervisorError(f"invalid memory size {memory_mib} MiB")
        record = self._require(name)
        record["memory"] = memory_mib
        self._write(name, record, exclusive=False)

    async def cleanup(self, name: str) -> None:
        """Nothing outlives a fake instance but its state file, which stop removes."""

    async def powercycle(self) -> None:
        """A fake node pretends to power-cycle."""

    # --- inventory -------------------------------------------------------------------

    async def list_instances(self) -> list[str]:
        try:
            names = os.listdir(self.state_dir)
        except FileNotFoundError:
            return []
        return sorted(n[: -len(_SUFFIX)] for n in names
                      if n.endswith(_SUFFIX) and not n.startswith("."))

    async def instance_info(self, name: str) -> InstanceInfo | None:
        record = self._read(name)
        return None if record is None else _info(record)

    async def all_instances_info(self) -> dict[str, InstanceInfo]:
        found = {}
        for name in await self.list_instances():
            record = self._read(name)
            if record is not None:
                found[name] = _info(record)
        return found

    # --- node ------------------------------------------------------------------------

    async def node_info(self) -> HvNodeInfo:
        """Host figures, with the fake instances' memory taken off the free memory."""
        host = await super().node_info()
        used = self._memory_in_use()
        return HvNodeInfo(memory_total=host.memory_total,
                          memory_free=max(host.memory_free - used, 0),
                          memory_dom0=host.memory_dom0, cpu_total=host.cpu_total,
                          cpu_nodes=host.cpu_nodes, cpu_sockets=host.cpu_sockets)

    def _memory_in_use(self) -> int:
        """MiB of every fake instance here. A state file is read again only when it
        changed (its inode, size or mtime), so asking stays cheap with many instances."""
        try:
            entries = os.scandir(self.state_dir)
        except FileNotFoundError:
            return 0
        known: dict[str, tuple[tuple[int, int, int], int]] = {}
        with entries:
            for entry in entries:
                if not entry.name.endswith(_SUFFIX) or entry.name.startswith("."):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # stopped meanwhile
                key = (st.st_ino, st.st_size, st.st_mtime_ns)
                cached = self._memory_seen.get(entry.name)
                if cached is None or cached[0] != key:
                    record = self._read(entry.name[: -len(_SUFFIX)])
                    if record is None:
                        continue
                    cached = (key, int(record["memory"]))
                known[entry.name] = cached
        self._memory_seen = known
        return sum(memory for _key, memory in known.values())

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return [f"cannot create the fake hypervisor directory {self.state_dir}: {err}"]
        if not os.access(self.state_dir, os.W_OK):
            return [f"the fake hypervisor directory {self.state_dir} is not writable"]
        return []

    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        return ConsoleInfo(instance=instance.name, kind=ConsoleKind.MESSAGE,
                           message="Console not available for fake hypervisor")

    # --- migration: the target marks the instance up, the source marks it down ----------

    async def migration_info(self, instance: InstanceSpec) -> str:
        return ""

    async def accept_instance(self, instance: InstanceSpec, info: str, address: str,
                              *, copy_disks: bool = False) -> MigrationTarget:
        self._mark_up(instance, HvState.PAUSED)
        return MigrationTarget(address=address, port=0)

    async def finalize_migration_dst(self, instance: InstanceSpec, info: str,
                                     success: bool) -> None:
        if not success:
            await self.stop(instance.name, force=True, timeout=0)
            return
        record = self._require(instance.name)
        record["state"] = str(HvState.RUNNING)
        self._write(instance.name, record, exclusive=False)

    async def migrate_instance(self, cluster_name: str, instance: InstanceSpec,
                               target: MigrationTarget, live: bool) -> None:
        self._require(instance.name)

    async def finalize_migration_src(self, instance: InstanceSpec, success: bool,
                                     live: bool) -> None:
        if success:
            await self.stop(instance.name, force=True, timeout=0)

    async def migration_status(self, instance: InstanceSpec) -> MigrationStatus:
        return MigrationStatus(state=MigrationState.COMPLETED,
                               transferred_ram_mib=instance.memory_mib,
                               total_ram_mib=instance.memory_mib)


def _info(record: dict[str, Any]) -> InstanceInfo:
    return InstanceInfo(name=record["name"], id=int(record["id"]),
                        memory_mib=int(record["memory"]), vcpus=int(record["vcpus"]),
                        state=HvState(record["state"]), cpu_time_s=0.0)
