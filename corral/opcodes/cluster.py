"""Cluster opcodes."""

from __future__ import annotations

from typing import Any, ClassVar

from corral.opcodes.base import OpCode
from corral.opcodes.params import HvParamsByHv, OutputFields, ParamDict


class OpClusterPostInit(OpCode, kw_only=True, frozen=True):
    """Runs right after init so that ``cluster-init`` post hooks fire."""


class OpClusterDestroy(OpCode, kw_only=True, frozen=True):
    """Tears down the configuration on the master (last step of destroy)."""


class OpClusterQuery(OpCode, kw_only=True, frozen=True):
    """Cluster-wide settings and defaults (``gnt-cluster info``)."""


class OpClusterVerify(OpCode, kw_only=True, frozen=True):
    """Full cluster verification."""

    debug_simulate_errors: bool = False
    error_codes: bool = False
    skip_checks: list[str] = []
    ignore_errors: list[str] = []
    verbose: bool = False
    group_name: str | None = None
    verify_clutter: bool = False


class OpClusterVerifyConfig(OpCode, kw_only=True, frozen=True):
    """Configuration consistency only."""

    debug_simulate_errors: bool = False
    error_codes: bool = False
    ignore_errors: list[str] = []
    verbose: bool = False


class OpClusterVerifyGroup(OpCode, kw_only=True, frozen=True):
    """Verify the nodes and instances of one node group."""

    OP_DSC_FIELD: ClassVar[str | None] = "group_name"
    group_name: str
    debug_simulate_errors: bool = False
    error_codes: bool = False
    skip_checks: list[str] = []
    ignore_errors: list[str] = []
    verbose: bool = False
    verify_clutter: bool = False


class OpClusterVerifyDisks(OpCode, kw_only=True, frozen=True):
    """Find instances whose disks need activation."""

    group_name: str | None = None
    is_strict: bool = True


class OpClusterConfigQuery(OpCode, kw_only=True, frozen=True):
    """Selected cluster configuration values."""

    output_fields: OutputFields


class OpClusterSetParams(OpCode, kw_only=True, frozen=True):
    """Modify cluster parameters (the subset Corral supports so far)."""

    force: bool = False
    candidate_pool_size: int | None = None
    max_running_jobs: int | None = None
    max_tracked_jobs: int | None = None
    enabled_hypervisors: list[str] | None = None
    hvparams: HvParamsByHv | None = None
    beparams: ParamDict | None = None
    nicparams: ParamDict | None = None
    ndparams: ParamDict | None = None
    diskparams: dict[str, ParamDict] | None = None
    osparams: dict[str, ParamDict] | None = None
    os_hvp: dict[str, HvParamsByHv] | None = None
    master_netdev: str | None = None
    master_netmask: int | None = None
    mac_prefix: str | None = None
    default_iallocator: str | None = None
    enabled_disk_templates: list[str] | None = None
    file_storage_dir: str | None = None
    shared_file_storage_dir: str | None = None
    vg_name: str | None = None
    maintain_node_health: bool | None = None
    prealloc_wipe_disks: bool | None = None
    use_external_mip_script: bool | None = None
    modify_etc_hosts: bool | None = None
    hidden_os: list[tuple[str, str]] | None = None
    blacklisted_os: list[tuple[str, str]] | None = None
    ipolicy: ParamDict | None = None
    hv_state: Any = None
    disk_state: Any = None
    osparams_private_cluster: Any = None
    uid_pool: Any = None
    add_uids: Any = None
    remove_uids: Any = None
    reserved_lvs: Any = None
    drbd_helper: str | None = None
    default_iallocator_params: ParamDict | None = None
    enabled_user_shutdown: bool | None = None
    auto_failover: bool | None = None
    """Corral's: the master lease in etcd decides who is master."""
    etcd_endpoints: list[str] | None = None
    master_lease_ttl: int | None = None
    # Ganeti 3.0's remaining parameters: accepted on the wire (Ganeti's own client sends
    # them with every modify), refused when they ask for a change Corral cannot make yet.
    gluster_storage_dir: str | None = None
    install_image: str | None = None
    instance_communication_network: str | None = None
    zeroing_image: str | None = None
    compression_tools: list[str] | None = None
    enabled_data_collectors: dict[str, bool] | None = None
    data_collector_interval: dict[str, float] | None = None


class OpClusterRedistConf(OpCode, kw_only=True, frozen=True):
    """Push configuration and ancillary files to all nodes."""


class OpClusterActivateMasterIp(OpCode, kw_only=True, frozen=True):
    """Bring up the master IP on the master node."""


class OpClusterDeactivateMasterIp(OpCode, kw_only=True, frozen=True):
    """Take down the master IP."""
