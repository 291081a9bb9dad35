"""The instance ``console`` field's value: Ganeti's InstanceConsole shape, as Ganeti's own
client builds ``objects.InstanceConsole`` from it (exactly its eight keys, no ``None``)."""

from __future__ import annotations

from corral.cmdlib.query_runner import CONSOLE_KEYS, ganeti_console
from corral.objects.node import Node
from corral.rpc.payloads import ConsolePayload

NODE = Node(uuid="n-2", name="node2", primary_ip="192.0.2.12")


def test_serial_socket_becomes_ssh_on_the_node() -> None:
    console = ConsolePayload(instance="vm1", kind="socket", host="192.0.2.12",
                             command=["socat", "stdio,raw", "unix-connect:/run/s"],
                             path="/run/s")
    assert ganeti_console(console, NODE) == {
        "instance": "vm1", "kind": "ssh", "host": "node2", "user": "root",
        "command": ["socat", "stdio,raw", "unix-connect:/run/s"]}


def test_message_carries_only_the_message() -> None:
    console = ConsolePayload(instance="vm1", kind="msg", host="x", message="no console")
    assert ganeti_console(console, NODE) == {"instance": "vm1", "kind": "msg",
                                             "message": "no console"}


def test_vnc_on_a_wildcard_address_names_the_node() -> None:
    wildcard = ConsolePayload(instance="vm1", kind="vnc", host="0.0.0.0", port=5901, display=1)
    assert ganeti_console(wildcard, NODE) == {
        "instance": "vm1", "kind": "vnc", "host": "192.0.2.12", "port": 5901, "display": 1}
    bound = ConsolePayload(instance="vm1", kind="vnc", host="198.51.100.7", port=5901,
                           display=1)
    assert ganeti_console(bound, NODE)["host"] == "198.51.100.7"


def test_only_ganeti_keys() -> None:
    console = ConsolePayload(instance="vm1", kind="ssh", command=["chroot", "/x", "/bin/sh"],
                             path="/ignored")
    assert set(ganeti_console(console, NODE)) <= set(CONSOLE_KEYS)
