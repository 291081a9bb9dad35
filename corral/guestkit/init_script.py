"""The ``/init`` of Corral's busybox initramfs, as text.

The script mounts the kernel file systems, loads the virtio modules, can start
``acpid`` so an ACPI power button powers the guest off, configures ``lo`` and
``eth0`` (``corral.ip=A.B.C.D/NN`` on the kernel command line), and either
switches to an ext4 root named by ``root=`` that holds ``/sbin/init`` or
prints :data:`READY_MARKER` on the console and serves a shell there.
"""

from __future__ import annotations

READY_MARKER = "CORRAL-GUEST-READY"
MODULE_DIR = "/lib/modules/corral"
MODULE_LIST = "/etc/corral/modules"
POWER_BUTTON_ACTION = "/etc/acpi/PWRF/00000080"

_HEAD = f"""#!/bin/sh
# Corral guest init (busybox).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /var/log /run /tmp
while read -r mod; do
    insmod "{MODULE_DIR}/$mod.ko" 2>/dev/null
done <{MODULE_LIST}
"""

_ACPID = """n=0
while [ ! -e /dev/input/event0 ] && [ "$n" -lt 20 ]; do sleep 0.05; n=$((n + 1)); done
acpid -l /var/log/acpid.log
"""

_NETWORK = """ip=; root=; rootmode=ro
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        corral.ip=*) ip="${arg#corral.ip=}" ;;
        root=*) root="${arg#root=}" ;;
        rw) rootmode=rw ;;
        ro) rootmode=ro ;;
    esac
done
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    if [ -n "$ip" ]; then ip addr add "$ip" dev eth0; fi
fi
"""

_SWITCH_ROOT = """if [ -n "$root" ] && ls /sys/block | grep -q -v -e '^loop' -e '^ram'; then
    n=0
    while [ ! -b "$root" ] && [ "$n" -lt 20 ]; do sleep 0.05; n=$((n + 1)); done
    if [ -b "$root" ] && mount -t ext4 -o "$rootmode" "$root" /newroot 2>/dev/null; then
        if [ -x /newroot/sbin/init ]; then
            for fs in dev proc sys; do
                mount --move "/$fs" "/newroot/$fs" 2>/dev/null || umount -l "/$fs"
            done
            exec switch_root /newroot /sbin/init
        fi
        umount /newroot
    fi
fi
"""

_TAIL = f"""echo {READY_MARKER}
while true; do setsid cttyhack sh; sleep 0.2; done
"""


def default_init_script(*, acpid: bool = True) -> str:
    """The standard ``/init``; ``acpid=False`` gives a guest that ignores the power button."""
    parts = [_HEAD, _ACPID if acpid else "", _NETWORK, _SWITCH_ROOT, _TAIL]
    return "".join(parts)
