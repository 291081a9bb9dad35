"""The ``lxc`` hypervisor (Ganeti's): real containers through Debian's LXC tools.

Modules: ``driver`` (the :class:`~corral.hypervisor.lxc.driver.LxcHypervisor`),
``config`` (the container configuration, pure), ``cgroups`` (limits and figures),
``rootfs`` (the disk mounted as the container's root), ``tools`` (tool output parsers).
"""
