"""``gnt-cluster init`` and ``destroy``: local bootstrap, no master daemon involved.

The bootstrap code (``corral.bootstrap``) is imported only here, when one of
these rare commands runs, so that the other commands stay light.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from corral.cli.errors import CliError, UsageError
from corral.cli.ipolicy_opts import ipolicy_from_opts
from corral.cli.params import (
    BEPARAM_TYPES,
    NDPARAM_TYPES,
    NICPARAM_TYPES,
    ParamError,
    coerce_params,
    group_params,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

DEFAULT_VG = "xenvg"
LVM_TEMPLATES = frozenset({"plain", "drbd"})

DESTROY_REFUSED = ("Destroying a cluster is irreversible. If you really want destroy this"
                   " cluster, supply the --yes-do-it option.")


def corral_root() -> Path:
    """The node's root prefix: ``$CORRAL_ROOT`` or ``/``."""
    return Path(os.environ.get("CORRAL_ROOT", "/"))


def _resolve(name: str) -> str:
    try:
        return socket.gethostbyname(name)
    except OSError:
        raise CliError(f"Failure: can't resolve hostname '{name}'") from None


def _split(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


_TYPED_PARAMS = (("beparams", "backend", BEPARAM_TYPES), ("nicparams", "nic", NICPARAM_TYPES),
                 ("ndparams", "node", NDPARAM_TYPES))


def _params(opts: Any) -> dict[str, Any]:
    """Parameter dictionaries given with ``-H``, ``-B``, ``-N``, ``--node-parameters``."""
    given: dict[str, Any] = {}
    try:
        if opts.hvparams:
            given["hvparams"] = group_params("-H", opts.hvparams)
        for key, what, types in _TYPED_PARAMS:
            if getattr(opts, key) is not None:
                given[key] = coerce_params(what, getattr(opts, key), types)
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None
    return given


def _netmask(opts: Any, primary_ip: str) -> dict[str, Any]:
    """The master netmask: as given, else 128 for an IPv6 master IP (the default is 32)."""
    if opts.master_netmask is not None:
        return {"master_netmask": opts.master_netmask}
    return {"master_netmask": 128} if ":" in (opts.master_ip or primary_ip) else {}


def init_arguments(opts: Any) -> dict[str, Any]:
    """Keyword arguments of ``init_cluster``: what was given, plus the master's identity.

    Settings not given are left to ``init_cluster``'s defaults, except the master node
    (this host's FQDN), its primary IP (resolved from the name), an IPv6 netmask and
    the volume group (Ganeti's ``xenvg`` when an LVM template is enabled).
    """
    master_node = opts.master_node or socket.getfqdn()
    primary_ip = opts.primary_ip or _resolve(master_node)
    params = _params(opts)
    kwargs: dict[str, Any] = {"master_node": master_node, "primary_ip": primary_ip, **params,
                              **_netmask(opts, primary_ip)}
    if opts.enabled_hypervisors:
        kwargs["enabled_hypervisors"] = _split(opts.enabled_hypervisors)
    if opts.enabled_disk_templates:
        kwargs["enabled_disk_templates"] = _split(opts.enabled_disk_templates)
    if opts.vg_name is None and LVM_TEMPLATES & set(kwargs.get("enabled_disk_templates", [])):
        kwargs["vg_name"] = DEFAULT_VG
    optional = ("secondary_ip", "master_ip", "master_netdev", "file_storage_dir",
                "shared_file_storage_dir", "vg_name", "mac_prefix", "candidate_pool_size",
                "noded_port", "master_lease_ttl")
    kwargs.update((key, getattr(opts, key)) for key in optional if getattr(opts, key) is not None)
    policy = ipolicy_from_opts(opts)
    if policy is not None:
        kwargs["ipolicy"] = policy
    if opts.auto_failover:
        kwargs["auto_failover"] = True
    if opts.etcd_endpoints:
        kwargs["etcd_endpoints"] = _split(opts.etcd_endpoints)
    return kwargs


def init_cluster(ctx: Context, args: list[str]) -> int:
    """Create a new cluster with this machine as master (``corral.bootstrap.init``)."""
    kwargs = init_arguments(ctx.opts)
    from corral.bootstrap.init import init_cluster as bootstrap_init
    from corral.errors import CorralError, format_error

    try:
        bootstrap_init(corral_root(), args[0], feedback=ctx.out, **kwargs)
    except CorralError as err:
        raise CliError(format_error(err)) from None
    return 0


def destroy_cluster(ctx: Context, args: list[str]) -> int:
    """Tear down this master's cluster state (``corral.bootstrap.destroy``)."""
    if not ctx.opts.yes_do_it:
        raise CliError(DESTROY_REFUSED)
    from corral.bootstrap.destroy import destroy_cluster as bootstrap_destroy
    from corral.errors import CorralError, format_error

    try:
        bootstrap_destroy(corral_root())
    except CorralError as err:
        raise CliError(format_error(err)) from None
    return 0
