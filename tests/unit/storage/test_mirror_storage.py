"""The mirror template's node pieces: export URIs, the local half, QEMU's x509 directory,
the export's command line and record, and the primary's reading of its mirror jobs."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

import msgspec
import pytest

from corral.errors import BlockDeviceError
from corral.hypervisor.base import MirrorSync
from corral.hypervisor.kvm.mirror import JobView, sync_of
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.process import SubprocessRunner
from corral.rpc import pki
from corral.storage.base import DiskCreateSpec, DiskRef
from corral.storage.mirror import (
    ExportState,
    MirrorStorage,
    export_status,
    export_uri,
    parse_export_uri,
    recorded_exports,
    stop_export,
    write_creds_dir,
)
from corral.storage.mirror.export import ExportRecord, export_argv, mirror_run_dir
from tests.support.connections import joined_layout

URI = "nbd+tls://192.0.2.7:11000/3f1c"


def test_export_uri_round_trip() -> None:
    assert parse_export_uri(export_uri("192.0.2.7", 11000, "3f1c")) == ("192.0.2.7", 11000,
                                                                        "3f1c")
    assert export_uri("2001:db8::1", 5, "x") == "nbd+tls://[2001:db8::1]:5/x"
    assert parse_export_uri("nbd+tls://[2001:db8::1]:5/x") == ("2001:db8::1", 5, "x")


@pytest.mark.parametrize("bad", ["nbd://192.0.2.7:11000/x", "nbd+tls://h/x",
                                 "nbd+tls://h:0/x", "nbd+tls://h:70000/x",
                                 "nbd+tls://h:1/../x"])
def test_bad_export_uris_are_refused(bad: str) -> None:
    with pytest.raises(BlockDeviceError, match="mirror export URI"):
        parse_export_uri(bad)


def _storage(tmp_path: Path) -> MirrorStorage:
    (tmp_path / "srv" / "disks").mkdir(parents=True)
    return MirrorStorage(NodeLayout(tmp_path), "/srv/disks", SubprocessRunner())


def test_local_half_carries_the_secondary_export(tmp_path: Path) -> None:
    driver = _storage(tmp_path)
    logical_id = ("loop", "/srv/disks/inst1/d0.mirror", URI)
    spec = DiskCreateSpec(uuid="d0", instance="inst1", index=0, size_mib=4,
                          template=DiskTemplate.MIRROR, logical_id=logical_id)
    created = asyncio.run(driver.create(spec))
    assert created.logical_id == logical_id
    assert created.uri == URI
    assert os.path.getsize(created.path) == 4 * 1024 * 1024
    ref = DiskRef(uuid="d0", template=DiskTemplate.MIRROR, logical_id=logical_id)
    found = asyncio.run(driver.assemble(ref))
    assert (found.path, found.uri) == (created.path, URI)


@pytest.mark.parametrize("logical_id", [(), ("loop", "/srv/disks/i/d0"),
                                        ("loop", "/srv/disks/i/d0", "nbd://h:1/x")])
def test_local_half_needs_an_export_uri(tmp_path: Path, logical_id: tuple[str, ...]) -> None:
    spec = DiskCreateSpec(uuid="d0", instance="i", index=0, size_mib=4,
                          template=DiskTemplate.MIRROR, logical_id=logical_id)
    with pytest.raises(BlockDeviceError, match="mirror"):
        asyncio.run(_storage(tmp_path).create(spec))


def test_creds_dir_has_qemu_names_and_private_keys(tmp_path: Path) -> None:
    ca_key, ca_cert = pki.create_ca("c.example")
    layout = joined_layout(tmp_path / "n", "node2", ca_key, ca_cert)
    creds = write_creds_dir(layout, tmp_path / "x509")
    names = sorted(p.name for p in creds.iterdir())
    assert names == ["ca-cert.pem", "client-cert.pem", "client-key.pem", "server-cert.pem",
                     "server-key.pem"]
    assert stat.S_IMODE((creds / "server-key.pem").stat().st_mode) == 0o600
    assert (creds / "ca-cert.pem").read_bytes() == layout.ca_cert.read_bytes()


def test_creds_dir_needs_a_joined_node(tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceError, match=r"ca\.pem is missing"):
        write_creds_dir(NodeLayout(tmp_path), tmp_path / "x509")


def test_export_command_line_requires_client_certificates(tmp_path: Path) -> None:
    wanted = ExportRecord(name="d0", path="/srv/a,b.img", address="192.0.2.7", port=11000,
                          client="node1", pid=0, argv=())
    argv = export_argv(wanted, tmp_path / "pid", tmp_path / "x509")
    line = " ".join(argv)
    assert "endpoint=server,verify-peer=on" in line
    assert "filename=/srv/a,,b.img" in line
    assert "addr.host=192.0.2.7,addr.port=11000,tls-creds=tls0,tls-authz=authz0" in line
    assert "authz-simple,id=authz0,identity=CN=node1" in line
    assert "name=d0,writable=on,writethrough=on" in line
    assert argv[:2] == ["qemu-storage-daemon", "--daemonize"]


def test_unknown_export_is_stopped(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path)
    assert export_status(layout, "d0") == (ExportState.STOPPED, None)
    assert stop_export(layout, "d0") is False
    with pytest.raises(BlockDeviceError, match="Invalid mirror export name"):
        export_status(layout, "../d0")


def test_exports_left_by_a_crash_are_found_and_cleaned(tmp_path: Path) -> None:
    """What ``corral vcluster down`` relies on: every recorded export is listed, and a
    record whose daemon is gone is removed without signalling anything."""
    layout = NodeLayout(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    record = ExportRecord(name="d0", path="/srv/disks/d0", address="127.0.0.12", port=11000,
                          client="node1", pid=gone.pid, argv=("qemu-storage-daemon",))
    run = mirror_run_dir(layout)
    run.mkdir(parents=True)
    (run / "d0.export").write_bytes(msgspec.json.encode(record))
    (run / "notes.txt").write_text("not an export")
    assert recorded_exports(layout) == ["d0"]
    assert stop_export(layout, "d0") is False
    assert recorded_exports(layout) == []


def _job(status: str, *, ready: bool = True, offset: int = 8, length: int = 8,
         io: str = "ok") -> JobView:
    return JobView.from_reply({"device": "mirror-disk0", "status": status, "ready": ready,
                               "offset": offset, "len": length, "io-status": io})


@pytest.mark.parametrize(("job", "state"), [
    (_job("ready"), MirrorSync.IN_SYNC),
    (_job("ready", offset=4), MirrorSync.RESYNCING),
    (_job("running", ready=False, offset=2), MirrorSync.RESYNCING),
    (_job("standby", io="failed"), MirrorSync.DEGRADED),
    (_job("paused", ready=False), MirrorSync.DEGRADED),
    (_job("ready", io="failed"), MirrorSync.DEGRADED),
    (_job("concluded"), MirrorSync.DEGRADED),
    (None, MirrorSync.DEGRADED),
])
def test_mirror_job_states(job: JobView | None, state: MirrorSync) -> None:
    assert sync_of(0, job).state == state
