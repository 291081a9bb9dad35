"""The Xen hypervisors (``xen-pvm``, ``xen-hvm``) driven through ``xl``."""
