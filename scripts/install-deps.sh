#!/usr/bin/env bash
# Installs the Debian packages Corral needs, only those that are missing.
# Idempotent: a second run does nothing when everything is present.
set -euo pipefail
packages=(
  iproute2 util-linux procps         # ip (master IP, taps, bridges), mount, losetup, ps
  qemu-system-x86 qemu-utils         # the KVM/QEMU hypervisor, qemu-img for qcow2 disks
  busybox-static cpio e2fsprogs      # guest kit and the busybox OS definition
  socat iputils-ping                 # serial consoles, network checks
  ganeti-os-noop ganeti-instance-debootstrap   # Debian's OS definitions, run unchanged
  python3-ganeti-rapi                # Ganeti's RAPI client (for /usr/bin/python3), tests
  ganeti-3.0                         # Ganeti's own gnt-* commands, run against Corral (tests);
                                     # no Ganeti daemon is started (brings lvm2, openssh-server)
  ganeti-htools-3.0                  # Ganeti's hail allocator, run unchanged as -I hail (tests)
  systemd                            # systemctl; systemd-analyze verifies packaging/ (tests)
  etcd-server                        # the master lease of automatic failover (etcd 3.4; tests)
  lxc fdisk                          # the lxc hypervisor: real containers (lxc-start, …); sfdisk
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
