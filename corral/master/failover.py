"""``gnt-cluster master-failover``: make this master candidate the master, as Ganeti does.

Run on the candidate that should become master. Ganeti reads the old master, the node list
and the candidates from the local ssconf; Corral reads them from the local configuration
replica, which the master keeps current before it acknowledges each change (ssconf follows
later, in the background), and which becomes the new master's configuration. Steps:

1. refuse on the master itself and on a node that is not a candidate;
2. with voting: a majority of the nodes must answer, and the master they name must be the
   one this node's ssconf names (else this node's view is stale);
   without voting: refuse when another reachable node reports a newer configuration serial
   (a stale candidate would silently lose configuration changes, ganeti#1242);
3. a new master term: an epoch above every known one is announced to every reachable node
   (from then on they refuse the old master's calls, :mod:`corral.backend.fencing`); the
   cluster's master node and epoch are set in the local replica (serial bumped);
4. the old master's IP is deactivated and its master daemon stopped (warnings when it cannot be
   reached); ssconf naming the new master is pushed to every reachable node;
5. the master daemon is started here (``--no-voting --yes-do-it`` when asked); it takes the job
   queue over from the replica, activates the master IP (``master-ip-turnup`` hooks) and
   replicates the configuration to the candidates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from corral.cmdlib.cluster import master_params
from corral.config.replication import wire_changes
from corral.config.ssconf import compute_ssconf
from corral.config.store import ConfigStore, full_changes
from corral.daemon_control import wait_listening
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.layout import NodeLayout
from corral.master.etcd_gateway import EtcdGateway, EtcdUnavailable
from corral.master.handover import Handover, hand_over
from corral.master.term import Term, announce_term
from corral.master.voting import gather_votes, majority_healthy, own_node_name, tally
from corral.objects.config_data import ConfigData, Kind
from corral.objects.node import Node
from corral.rpc.nodes import NodeRpc

log = logging.getLogger(__name__)

MASTERD = "corral-masterd"
AUTO_FAILOVER_REFUSAL = (
    "This cluster uses automatic master failover: the holder of the master lease in etcd is"
    " master, and this caller cannot move the lease")
MASTER_WAIT = 30.0


@dataclass(frozen=True)
class FailoverOptions:
    no_voting: bool = False
    ignore_offline_nodes: bool = False
    ip_wait: float = MASTER_WAIT
    """Seconds to wait for the master IP to go down, then to come up again."""


@dataclass
class FailoverOutcome:
    code: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)


def load_replica(layout: NodeLayout) -> ConfigData:
    if not layout.config_db.exists():
        raise OpPrereqError("This node holds no configuration replica; only a master candidate"
                            " can become master", ErrorCode.STATE)
    store = ConfigStore(layout.config_db)
    try:
        data = store.load()
    finally:
        store.close()
    if data is None:
        raise OpPrereqError(f"The configuration replica {layout.config_db} is empty",
                            ErrorCode.STATE)
    return data


def voters(data: ConfigData, ignore_offline: bool) -> list[Node]:
    """The nodes asked for votes: all of them, or the online ones."""
    return [n for n in data.nodes.values() if not (ignore_offline and n.offline)]


def check_roles(me: str, old_master: str, candidates: list[str]) -> None:
    """Ganeti's refusals: already master, or not a master candidate."""
    if old_master == me:
        raise OpPrereqError("This command must be run on the node where you want the new"
                            f" master to be. {old_master} is already the master",
                            ErrorCode.INVAL)
    if me not in candidates:
        others = "\n".join(n for n in candidates if n != old_master)
        raise OpPrereqError("This node is not among the nodes marked as master candidates."
                            " Only these nodes can become masters. Current list of master"
                            f" candidates is:\n{others}", ErrorCode.STATE)


def check_voted_master(me: str, old_master: str, answers: dict[str, str | None]) -> None:
    """The master most nodes name must be the one this node believes in."""
    leader = tally(me, answers).leader
    if leader is not None and leader != old_master:
        raise OpPrereqError(f"I have a wrong configuration, I believe the master is "
                            f"{old_master} but the other nodes voted {leader}. Please resync"
                            " the configuration of this node.", ErrorCode.STATE)


def check_serials(me: str, own_serial: int, serials: dict[str, int]) -> None:
    """Refuse a stale candidate: another node reports a newer configuration."""
    newer = {name: s for name, s in serials.items() if name != me and s > own_serial}
    if newer:
        listed = ", ".join(f"{name} (serial {s})" for name, s in sorted(newer.items()))
        raise OpPrereqError(f"This node's configuration (serial {own_serial}) is older than"
                            f" the one of {listed}; becoming master would lose configuration"
                            " changes. Fail over to an up-to-date candidate instead",
                            ErrorCode.STATE)


async def remote_serials(rpc: NodeRpc, nodes: list[Node]) -> dict[str, int]:
    results = await rpc.config_serial(nodes, rpc_timeout=10.0)
    return {name: r.payload for name, r in results.items() if r.ok and r.payload is not None}


def set_master(layout: NodeLayout, data: ConfigData, me: str, epoch: int) -> ConfigData:
    """Name this node master of term ``epoch`` in the local replica, with a new serial."""
    node = next((n for n in data.nodes.values() if n.name == me), None)
    if node is None:
        raise OpPrereqError(f"Could not find new master node '{me}' in cluster configuration.",
                            ErrorCode.NOENT)
    cluster = msgspec.structs.replace(data.cluster, master_node=node.uuid, master_epoch=epoch)
    serial, now = data.serial_no + 1, time.time()
    store = ConfigStore(layout.config_db)
    try:
        store.apply(serial, [(Kind.CLUSTER, cluster.uuid, cluster)],
                    {"mtime": now, "version": data.version})
        updated = store.load()
    finally:
        store.close()
    assert updated is not None
    return updated


async def begin_term(rpc: NodeRpc, data: ConfigData) -> Term:
    """A new epoch announced to every reachable node: the old master is fenced from now."""
    try:
        return await announce_term(rpc, data.online_nodes(), data.cluster.master_epoch)
    except OpExecError as err:
        raise OpPrereqError(str(err), ErrorCode.STATE) from err


async def stop_old_master(
    rpc: NodeRpc, old: ConfigData, old_master: Node, outcome: FailoverOutcome
) -> None:
    if old.cluster.master_ip:
        result = await rpc.node_deactivate_master_ip(
            old_master, master_params(old), old.cluster.use_external_mip_script,
            rpc_timeout=15.0)
        if not result.ok:
            outcome.warn(f"Could not disable the master IP: {result.fail_msg}")
    stopped = await rpc.node_ensure_daemon([old_master], MASTERD, False, rpc_timeout=30.0)
    answer = stopped[old_master.name]
    if not answer.ok:
        outcome.warn(f"Could not disable the master role on the old master {old_master.name},"
                     f" please disable manually: {answer.fail_msg}")


async def push_config(rpc: NodeRpc, data: ConfigData, me: str, outcome: FailoverOutcome) -> None:
    """A full copy of the new configuration to the other reachable candidates (the old
    master's replica then names the new master too)."""
    others = [n for n in data.nodes.values()
              if n.master_candidate and not n.offline and n.name != me]
    if not others:
        return
    changes = wire_changes(full_changes(data))
    meta = {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}
    results = await rpc.config_replicate(others, data.serial_no, -1, changes, meta,
                                         rpc_timeout=30.0)
    for name, result in sorted(results.items()):
        if not result.ok:
            outcome.warn(f"Could not copy the configuration to candidate {name}:"
                         f" {result.fail_msg}")


async def push_ssconf(rpc: NodeRpc, data: ConfigData, outcome: FailoverOutcome) -> None:
    online = [n for n in data.nodes.values() if not n.offline]
    results = await rpc.write_ssconf_files(online, compute_ssconf(data), rpc_timeout=15.0)
    for name, result in sorted(results.items()):
        if not result.ok:
            outcome.warn(f"Could not write ssconf on node {name}: {result.fail_msg}")


def answers_on(address: str, port: int) -> bool:
    """Whether ``address:port`` accepts a TCP connection now."""
    return wait_listening(address, port, 0.5)


async def wait_master_ip(
    data: ConfigData, expected: bool, seconds: float, probe: Callable[[str, int], bool]
) -> bool:
    """Wait until the master IP answers on the node daemon port (or stops answering)."""
    address = data.cluster.master_ip
    deadline = time.monotonic() + seconds
    while await asyncio.to_thread(probe, address, data.cluster.noded_port) != expected:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(1.0)
    return True


async def master_failover(
    layout: NodeLayout,
    rpc: NodeRpc,
    options: FailoverOptions,
    start_master: Callable[[bool], None],
    feedback: Callable[[str], None] = print,
    probe: Callable[[str, int], bool] = answers_on,
    handover: Handover | None = None,
) -> FailoverOutcome:
    """Make this node the master (see the module docstring); ``start_master(no_voting)``
    starts the local master daemon and waits until it answers. In automatic failover
    mode the master lease moves instead (:mod:`corral.master.handover`, with
    ``handover``'s local steps; refused without them).

    Raises:
        OpPrereqError: a refusal; nothing was changed.
    """
    data = load_replica(layout)
    if data.cluster.auto_failover:
        if handover is None:
            raise OpPrereqError(AUTO_FAILOVER_REFUSAL, ErrorCode.STATE)
        return await _hand_over(layout, rpc, data, handover, feedback)
    me = own_node_name(layout, data)
    old_master = data.master_node.name
    candidates = [n.name for n in data.nodes.values() if n.master_candidate]
    check_roles(me, old_master, candidates)
    nodes = voters(data, options.ignore_offline_nodes)
    if not options.no_voting:
        answers = await gather_votes(rpc, nodes)
        healthy, silent = majority_healthy(answers)
        if not healthy:
            raise OpPrereqError(
                "Master-failover with voting is only possible if the majority of nodes are"
                " still healthy; use the --no-voting option after ensuring by other means that"
                " you won't end up in a dual-master scenario. Unhealthy nodes: "
                f"{', '.join(silent)}", ErrorCode.STATE)
        check_voted_master(me, old_master, answers)
    check_serials(me, data.serial_no, await remote_serials(rpc, nodes))
    outcome = await _take_over(layout, rpc, data, me, options, start_master, feedback, probe)
    if data.cluster.master_ip:
        await _check_master_ip(data, options.ip_wait, probe, outcome)
    return outcome


async def _hand_over(layout: NodeLayout, rpc: NodeRpc, data: ConfigData, steps: Handover,
                     feedback: Callable[[str], None]) -> FailoverOutcome:
    me = own_node_name(layout, data)
    check_roles(me, "", [n.name for n in data.nodes.values() if n.master_candidate])
    gateway = EtcdGateway(list(data.cluster.etcd_endpoints))
    outcome = FailoverOutcome()
    try:
        warnings = await hand_over(rpc, data, me, gateway, steps, feedback)
    except EtcdUnavailable as err:
        raise OpPrereqError(f"Cannot reach etcd for the master lease: {err}",
                            ErrorCode.ENVIRON) from err
    finally:
        await gateway.close()
    for warning in warnings:
        outcome.warn(warning)
    outcome.code = 1 if warnings else 0
    return outcome


async def _check_master_ip(
    data: ConfigData, seconds: float, probe: Callable[[str, int], bool],
    outcome: FailoverOutcome,
) -> None:
    if not await wait_master_ip(data, True, seconds, probe):
        outcome.warn(f"The master IP did not come up within {seconds:g} seconds; the cluster"
                     " should still be working and reachable via the new master's own"
                     " address, but not via the master IP address")
        outcome.code = 1


async def _take_over(
    layout: NodeLayout,
    rpc: NodeRpc,
    data: ConfigData,
    me: str,
    options: FailoverOptions,
    start_master: Callable[[bool], None],
    feedback: Callable[[str], None],
    probe: Callable[[str, int], bool],
) -> FailoverOutcome:
    outcome = FailoverOutcome()
    old_node = data.master_node
    log.info("Setting master to %s, old master: %s", me, old_node.name)
    term = await begin_term(rpc, data)
    feedback(f"Master term {term.epoch} started; nodes fenced from older terms:"
             f" {', '.join(term.announced) or 'none'}")
    new = set_master(layout, data, me, term.epoch)
    feedback(f"Stopping the master daemon on node {old_node.name}")
    await stop_old_master(rpc, data, old_node, outcome)
    if data.cluster.master_ip and not await wait_master_ip(data, False, options.ip_wait, probe):
        outcome.warn(f"The master IP is still reachable after {options.ip_wait:g} seconds,"
                     " continuing but activating the master IP on the current node will"
                     " probably fail")
        outcome.code = 1
    await push_config(rpc, new, me, outcome)
    await push_ssconf(rpc, new, outcome)
    layout.queue_drain_file.unlink(missing_ok=True)
    feedback(f"Starting the master daemon on the new master {me}")
    try:
        await asyncio.to_thread(start_master, options.no_voting)
    except Exception as err:
        log.error("Could not start the master role on the new master %s: %s", me, err)
        outcome.warn(f"Could not start the master role on the new master {me}, please"
                     f" check: {err}")
        outcome.code = 1
    return outcome
