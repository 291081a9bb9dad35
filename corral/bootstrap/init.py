"""``gnt-cluster init``: CA, the master's certificate, the first configuration, masterd."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from corral.bootstrap.config import InitParams, initial_config, initial_ipolicy
from corral.config.ssconf import compute_ssconf
from corral.config.store import ConfigStore
from corral.daemon_control import (
    MASTERD_MATCH,
    log_end,
    masterd_argv,
    spawn_daemon,
    start_refusal,
    systemctl,
    systemd_unit,
)
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.layout import NodeLayout
from corral.luxi.client import Client, LuxiClientError, wait_for_job
from corral.objects.config_data import ConfigData
from corral.objects.etcd_settings import EtcdSettingsError, check_auto_failover
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.join import confirm_joined, join_node

MASTERD_START_TIMEOUT = 30.0


def init_cluster(
    root: Path,
    cluster_name: str,
    *,
    feedback: Callable[[str], None] = print,
    **options: Any,
) -> None:
    """Initialise a cluster whose master is the node daemon running under ``root``.

    Raises:
        OpPrereqError: the node already belongs to a cluster, or a parameter is invalid.
        OpExecError: the node daemon, the join or the master daemon failed.
    """
    params = _auto_failover(InitParams(cluster_name=cluster_name, **options))
    layout = NodeLayout(root)
    _check(layout, params)
    token = layout.join_token.read_text().strip()
    feedback(f"Creating the cluster CA for {cluster_name}")
    ca_key, ca_cert = pki.create_ca(cluster_name)
    pki.save_key(layout.ca_key, ca_key)
    target = NodeTarget(params.master_node, params.primary_ip, params.noded_port)
    ca_pem = pki.cert_to_pem(ca_cert).decode()
    asyncio.run(_join_self(layout, target, token, params, ca_key, ca_pem))
    feedback(f"Node {params.master_node} joined with a certificate from the cluster CA")
    addresses = [a for a in (params.primary_ip, params.master_ip) if a]
    create_rapi_certificate(layout, ca_key, pki.load_cert_pem(ca_pem),
                            [cluster_name, params.master_node], addresses)
    data = initial_config(params, time.time())
    store = ConfigStore(layout.config_db)
    try:
        store.replace_all(data)
    finally:
        store.close()
    # the master daemon's start-up vote asks the nodes' ssconf: the first one must exist
    asyncio.run(_write_first_ssconf(layout, target, data))
    start_masterd(layout, feedback)
    _post_init(layout, feedback)


def _auto_failover(params: InitParams) -> InitParams:
    """``params`` with its etcd endpoints checked and normalised."""
    try:
        endpoints = check_auto_failover(params.auto_failover, params.etcd_endpoints,
                                        params.master_lease_ttl)
    except EtcdSettingsError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None
    return dataclasses.replace(params, etcd_endpoints=list(endpoints))


def _check(layout: NodeLayout, params: InitParams) -> None:
    initial_ipolicy(params.ipolicy)
    if layout.config_db.exists():
        raise OpPrereqError("Cluster is already initialised", ErrorCode.STATE)
    if tls.is_joined(layout):
        raise OpPrereqError("This node already belongs to a cluster", ErrorCode.STATE)
    if not layout.join_token.exists():
        raise OpPrereqError(
            f"No join token at {layout.join_token}: is corral-noded running on this node?",
            ErrorCode.ENVIRON,
        )
    for what, value in (("primary IP", params.primary_ip), ("master IP", params.master_ip)):
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError as err:
                raise OpPrereqError(f"Invalid {what} '{value}'", ErrorCode.INVAL) from err
    if params.master_ip and not params.master_netdev:
        raise OpPrereqError("A master IP needs --master-netdev", ErrorCode.INVAL)
    if not params.candidate_pool_size >= 1:
        raise OpPrereqError("The candidate pool size must be at least 1", ErrorCode.INVAL)


async def _join_self(
    layout: NodeLayout, target: NodeTarget, token: str, params: InitParams, ca_key: Any, ca_pem: str
) -> None:
    async with RpcClient(tls.join_client_ssl_context()) as client:
        await join_node(
            client, target, token, params.cluster_name, params.master_node, ca_pem, ca_key
        )
    async with RpcClient(tls.client_ssl_context(layout)) as confirmed:
        await confirm_joined(confirmed, target)


async def _write_first_ssconf(layout: NodeLayout, target: NodeTarget, data: ConfigData) -> None:
    async with RpcClient(tls.client_ssl_context(layout)) as client:
        result = await client.call_single("write_ssconf_files", target, compute_ssconf(data))
    result.raise_for_failure()


RAPI_VALIDITY = datetime.timedelta(days=5 * 365)


def _rapi_names(names: Iterable[str], addresses: Iterable[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names) if n]
    for address in dict.fromkeys(addresses):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            sans.append(x509.DNSName(address))
    return sans


def create_rapi_certificate(
    layout: NodeLayout,
    ca_key: pki.PrivateKey,
    ca_cert: x509.Certificate,
    names: list[str],
    addresses: list[str],
) -> None:
    """The remote API's server certificate and key, issued by the cluster CA.

    ``names`` (the cluster name first) become DNS names and ``addresses`` IP
    addresses of the certificate, so that clients may verify it by the cluster CA.
    """
    key = pki.generate_key()
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + RAPI_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_rapi_names(names, addresses)),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki.save_key(layout.rapi_key, key)
    pki.save_cert(layout.rapi_cert, cert)


def ensure_rapi_certificate(layout: NodeLayout, names: list[str], addresses: list[str]) -> bool:
    """Create the RAPI certificate unless it exists; False when the CA key is not here."""
    if layout.rapi_cert.exists() and layout.rapi_key.exists():
        return True
    if not (layout.ca_key.exists() and layout.ca_cert.exists()):
        return False
    create_rapi_certificate(layout, pki.load_key(layout.ca_key), pki.load_cert(layout.ca_cert),
                            names, addresses)
    return True


def start_masterd(layout: NodeLayout, feedback: Callable[[str], None] = print) -> None:
    """Start the master daemon of ``layout`` (through its systemd unit when installed) and
    wait until it answers on LUXI.

    Raises:
        OpExecError: it refused to start (its own message), or did not answer within
            MASTERD_START_TIMEOUT seconds.
        CommandError: it could not be started.
    """
    unit = systemd_unit(layout.root, "corral-masterd")
    pid_file, log_file = layout.pid_file("corral-masterd"), layout.log_file("corral-masterd")
    since: int | None = None
    if unit is not None:
        systemctl("start", unit)  # not a child of this command's session or unit
    else:
        since = log_end(log_file)
        spawn_daemon(masterd_argv(layout.root), pid_file, log_file)
    deadline = time.monotonic() + MASTERD_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with Client(str(layout.luxi_socket), timeout=5) as client:
                client.QueryConfigValues(["cluster_name"])
            feedback("Master daemon started")
            return
        except LuxiClientError:
            refusal = None if since is None else start_refusal(
                "corral-masterd", pid_file, MASTERD_MATCH, log_file, since)
            if refusal is not None:
                raise OpExecError(f"The master daemon refused to start: {refusal}") from None
            time.sleep(0.05)
    raise OpExecError(f"The master daemon did not start; see {layout.log_file('corral-masterd')}")


def _post_init(layout: NodeLayout, feedback: Callable[[str], None]) -> None:
    with Client(str(layout.luxi_socket)) as client:
        job_id = client.SubmitJob([{"OP_ID": "OP_CLUSTER_POST_INIT"}])
        status, _, results = wait_for_job(client, job_id, lambda e: feedback(str(e[3])))
    if status != "success":
        raise OpExecError(f"Cluster post-init job {job_id} ended with {status}: {results}")
