#!/usr/bin/env bash
# make demo: a 3-node Corral cluster on this machine with chroot, KVM/QEMU, drbd, LXC and Xen
# (simulated) instances running and a master failover, left up with next steps.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/corral-demo}
BIN="$PWD/.venv/bin"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ -f "$DIR/vcluster.json" ]; then
  say "A demo cluster is already running in $DIR"
  "$BIN/corral" vcluster status --dir "$DIR"
else
  say "Starting a 3-node virtual cluster in $DIR (node daemons on 127.0.0.11-13, TLS with a cluster CA)"
  "$BIN/corral" vcluster up --nodes 3 --dir "$DIR"
fi
eval "$("$BIN/corral" vcluster env --dir "$DIR")"

say "The nodes"
run gnt-node list
run gnt-cluster verify

existing=$(gnt-instance list --no-headers -o name)
if ! grep -qx web1 <<<"$existing"; then
  say "A chroot instance on node2 (busybox root file system on a file disk)"
  run gnt-instance add -t file --disk 0:size=64M -o busybox+default -H chroot -n node2 web1
fi
if ! grep -qx vm1 <<<"$existing"; then
  say "A KVM/QEMU instance on node3 whose disk is mirrored to node2 (Corral's network RAID1: every guest write is on both nodes before the guest sees it done)"
  run gnt-instance add -t mirror --disk 0:size=128M -o busybox+default -H kvm \
      -B maxmem=256,minmem=256 -n node3:node2 vm1
fi

say "The instances"
run gnt-instance list -o name,hypervisor,os,pnode,status,oper_ram

say "Their consoles"
printf '$ gnt-instance console web1   (a shell inside the chroot; here fed one command)\n'
printf 'echo "hello from the chroot of web1: $(cat /etc/hostname)"; exit\n' | gnt-instance console web1 || true
serial_log="$DIR/node3/var/log/corral/kvm/vm1.serial.log"
for _ in $(seq 1 60); do grep -q CORRAL-GUEST-READY "$serial_log" 2>/dev/null && break; sleep 1; done
printf '$ %s   (the guest'"'"'s serial console)\n' "$(gnt-instance console --show-cmd vm1)"
ask_guest() {  # ask_guest NODE: a command on vm1's serial console on NODE, and its answer
"$BIN/python" - "$DIR/$1/run/corral/kvm/vm1.serial" <<'PY'
import socket, sys, time
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
sock.sendall(b"\necho guest says hello from $(hostname), up $(cut -d' ' -f1 /proc/uptime) s\n")
deadline, seen = time.monotonic() + 10, b""
sock.settimeout(0.5)
def answer(lines):  # the guest's answer, once its line is complete (not the echoed command)
    return next((l for l in lines if "says hello from vm1," in l and "echo" not in l), None)
while time.monotonic() < deadline and answer(seen.decode(errors="replace").split("\n")[:-1]) is None:
    try:
        seen += sock.recv(4096)
    except TimeoutError:
        pass
print((answer(seen.decode(errors="replace").split("\n")[:-1]) or "(no answer yet: the guest may still be booting)").strip())
PY
}
ask_guest "$(gnt-instance list --no-headers -o pnode vm1)"

if [ "$(gnt-instance list --no-headers -o pnode vm1)" = node3 ]; then
  say "Live migration of vm1 to node2, its mirror: node2 already holds the disk, so only the memory moves and the two nodes swap roles"
  run gnt-instance migrate -f vm1
  run gnt-instance info vm1 | grep -E "primary|secondar|on (primary|secondary):"
  printf '$ (the guest again, now on node2: same uptime clock, no reboot)\n'
  ask_guest node2
fi
if [ "$(gnt-instance list --no-headers -o pnode web1)" = node2 ]; then
  say "Moving the chroot instance web1 to node3: stopped, its disk copied node to node over TLS, started there"
  run gnt-instance move -f -n node3 web1
fi
if ! grep -qx db1 <<<"$existing"; then
  say "A drbd instance db1 on node1, mirrored to node2 (DRBD 8.4 as Ganeti drives it; this machine has no DRBD module, so the nodes run the DRBD simulator)"
  run gnt-instance add -t drbd --disk 0:size=64M -o noop -H fake --no-nics -n node1:node2 db1
  run gnt-node list-drbd node1
fi
if [ "$(gnt-instance list --no-headers -o pnode db1)" = node1 ]; then
  say "Failover of db1 to its secondary: stopped on node1, DRBD roles swapped, started on node2"
  run gnt-instance failover -f db1
  run gnt-node list-drbd node2
fi
if ! grep -qx ct1 <<<"$existing"; then
  say "An LXC container ct1 on node1: its disk mounted as the container's root, own PID namespace, memory and CPUs limited by cgroups"
  run gnt-instance add -t file --disk 0:size=64M -o busybox+default -H lxc -B maxmem=96,minmem=96 -n node1 ct1
fi
if ! grep -qx xen1 <<<"$existing"; then
  say "A Xen PV instance xen1 (the xen-pvm driver runs xl; this machine has no Xen, so the nodes answer with the xl simulator)"
  run gnt-instance add -t diskless -o noop -H xen-pvm -B maxmem=128,minmem=128 --no-nics -n node3 xen1
fi
run gnt-instance list -o name,hypervisor,disk_template,pnode,snodes,status,oper_ram

if [ "$(gnt-cluster getmaster)" = node1 ]; then
  say "Master failover: node2, a master candidate, becomes master (Ganeti's voting; a new master term fences node1)"
  eval "$("$BIN/corral" vcluster env --dir "$DIR" --node node2)"
  run gnt-cluster master-failover
  eval "$("$BIN/corral" vcluster env --dir "$DIR")"
  run gnt-cluster getmaster
  run gnt-cluster verify
fi

cat <<NEXT

The cluster and its instances keep running. Next steps:
  eval "\$(.venv/bin/corral vcluster env --dir $DIR)"   # point gnt-* at it
  gnt-instance console vm1        # interactive serial console (Ctrl-] leaves)
  gnt-instance console web1       # a shell inside the chroot instance
  gnt-instance info vm1           # disks, NICs, parameters
  gnt-instance reboot vm1 ; gnt-instance shutdown web1 ; gnt-instance startup web1
  gnt-instance migrate vm1        # live again, back to node3 (its mirror)
  gnt-instance failover --ignore-consistency vm1   # after its primary died: up on the mirror
  gnt-instance replace-disks -n node1 vm1   # move vm1's mirror copy to node1 while it runs
  gnt-node migrate node2          # empty a node for maintenance (gnt-node evacuate, failover)
  gnt-instance migrate db1        # drbd: dual-primary while it moves, back to node1
  gnt-instance replace-disks -n node3 db1   # move db1's mirror half from node1 to node3
  gnt-instance add -t file --disk 0:size=128M -o busybox+default -H kvm -B maxmem=256,minmem=256 -n node1 vm2
  gnt-instance migrate -n node3 vm2   # a node-local disk copied over NBD while the guest runs
  gnt-instance add -t diskless -o noop -H fake --no-nics -n node1 f1   # a fake instance
  gnt-instance console --show-cmd ct1 ; gnt-instance shutdown ct1   # the container
  eval "\$(.venv/bin/corral vcluster env --dir $DIR --node node1)"; gnt-cluster master-failover   # back
  gnt-cluster info ; gnt-job list ; gnt-os list
  .venv/bin/corral vcluster up --auto-failover --dir /tmp/af   # a cluster whose master is replaced
                                  # automatically (etcd lease) when its node dies
  make demo-down                  # stop every instance and daemon, remove $DIR
NEXT
