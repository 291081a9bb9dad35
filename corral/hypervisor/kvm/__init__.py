"""The KVM/QEMU hypervisor driver, split by concern.

``cmdline`` builds the QEMU argument vector (pure), ``runtime`` is the record a
node daemon re-attaches with, ``qmp`` a typed QMP session, ``accel`` the KVM
probe with TCG fallback, ``network`` the host taps, ``console`` serial console
clients, ``driver`` the :class:`~corral.hypervisor.kvm.driver.KvmHypervisor`.
Migration: ``migration_records`` (what the two sides exchange and keep),
``migration`` (source side), ``outgoing`` (the source's background task and its
pure rules), ``incoming`` (target side).
Nothing is imported here.
"""
