"""The ``cluster`` resource (OP_QUERY only): one row with ``gnt-cluster info`` values."""

from __future__ import annotations

from typing import Any

from corral.objects import Cluster, ConfigData
from corral.objects.ipolicy import upgrade_cluster_ipolicy
from corral.query.context import QueryContext, Resource
from corral.query.fields import (
    NODATA,
    FieldDef,
    FieldFlag,
    FieldKind,
    attr,
    common_fields,
    field_table,
)

K = FieldKind


def _master_name(cfg: ConfigData, cluster: Cluster) -> Any:
    node = cfg.nodes.get(cluster.master_node)
    return NODATA if node is None else node.name


def _copy(name: str) -> Any:
    """Getter returning a list or dict attribute as a fresh plain list/dict."""

    def get(_cfg: ConfigData, cluster: Cluster) -> Any:
        value = getattr(cluster, name)
        return dict(value) if isinstance(value, dict) else list(value)

    return get


CLUSTER_FIELDS = field_table(
    [
        FieldDef("cluster_name", "Name", K.TEXT, "Cluster name", attr("cluster_name"),
                 flags=FieldFlag.HOSTNAME),
        FieldDef("master_node", "Master", K.TEXT, "Master node name", _master_name,
                 flags=FieldFlag.HOSTNAME),
        FieldDef("master_ip", "MasterIP", K.TEXT, "Master IP address", attr("master_ip")),
        FieldDef("master_netdev", "MasterNetdev", K.TEXT, "Master network device",
                 attr("master_netdev")),
        FieldDef("master_netmask", "MasterNetmask", K.NUMBER,
                 "Netmask length of the master IP address", attr("master_netmask")),
        FieldDef("candidate_pool_size", "CandidatePoolSize", K.NUMBER,
                 "Desired number of master candidates", attr("candidate_pool_size")),
        FieldDef("max_running_jobs", "MaxRunningJobs", K.NUMBER,
                 "Maximal number of jobs running at the same time", attr("max_running_jobs")),
        FieldDef("max_tracked_jobs", "MaxTrackedJobs", K.NUMBER,
                 "Maximal number of jobs tracked in the job queue", attr("max_tracked_jobs")),
        FieldDef("enabled_hypervisors", "EnabledHypervisors", K.OTHER,
                 "Enabled hypervisors, the default first", _copy("enabled_hypervisors")),
        FieldDef("default_hypervisor", "DefaultHypervisor", K.TEXT, "Default hypervisor",
                 lambda _c, cl: cl.default_hypervisor),
        FieldDef("enabled_disk_templates", "EnabledDiskTemplates", K.OTHER,
                 "Enabled disk templates", _copy("enabled_disk_templates")),
        FieldDef("file_storage_dir", "FileStorageDir", K.TEXT,
                 "Directory for file-based instance disks", attr("file_storage_dir")),
        FieldDef("shared_file_storage_dir", "SharedFileStorageDir", K.TEXT,
                 "Directory for shared-file instance disks", attr("shared_file_storage_dir")),
        FieldDef("volume_group_name", "VgName", K.TEXT, "LVM volume group name",
                 attr("volume_group_name")),
        FieldDef("mac_prefix", "MacPrefix", K.TEXT, "Prefix of generated MAC addresses",
                 attr("mac_prefix")),
        FieldDef("default_iallocator", "DefaultIAllocator", K.TEXT,
                 "Default instance allocator", attr("default_iallocator")),
        FieldDef("hvparams", "HvParams", K.OTHER, "Hypervisor parameters by hypervisor",
                 _copy("hvparams")),
        FieldDef("beparams", "BeParams", K.OTHER, "Backend parameter defaults",
                 _copy("beparams")),
        FieldDef("nicparams", "NicParams", K.OTHER, "Network interface parameter defaults",
                 _copy("nicparams")),
        FieldDef("ndparams", "NdParams", K.OTHER, "Node parameter defaults",
                 _copy("ndparams")),
        FieldDef("diskparams", "DiskParams", K.OTHER, "Disk parameters by disk template",
                 _copy("diskparams")),
        FieldDef("ipolicy", "IPolicy", K.OTHER, "Instance policy",
                 lambda _cfg, cl: upgrade_cluster_ipolicy(cl.ipolicy)),
        FieldDef("config_version", "ConfigVersion", K.NUMBER, "Configuration format version",
                 lambda cfg, _cl: cfg.version),
        *common_fields("Cluster"),
    ],
    aliases=[("name", "cluster_name")],
)


def select_cluster(ctx: QueryContext, _wanted: list[Any] | None) -> list[Cluster]:
    return [ctx.config.cluster]


RESOURCE = Resource("cluster", CLUSTER_FIELDS, "name", lambda ctx: ctx.config, select_cluster)
