"""The KVM/QEMU hypervisor driver, split by concern.

``cmdline`` builds the QEMU argument vector (pure), ``runtime`` is the record a
node daemon re-attaches with, ``qmp`` a typed QMP session, ``accel`` the KVM
probe with TCG fallback, ``network`` the host taps, ``console`` serial console
clients, ``driver`` the :class:`~corral.hypervisor.kvm.driver.KvmHypervisor`.
Nothing is imported here.
"""
