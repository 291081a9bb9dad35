# Shared helpers of Corral's busybox OS definition (sourced by the scripts; POSIX sh).
# The node runs every script with the OS API environment only, cwd = this directory.

BUSYBOX=/bin/busybox

log() {
  echo "busybox-os: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

start_debug() {
  umask 022
  if [ "${DEBUG_LEVEL:-0}" -gt 0 ] 2>/dev/null; then
    set -x
  fi
}

# The host name the guest uses: the hostname parameter, else the instance name.
guest_hostname() {
  if [ -n "${OSP_HOSTNAME:-}" ]; then
    echo "$OSP_HOSTNAME"
  else
    echo "${INSTANCE_NAME:?INSTANCE_NAME is not set}"
  fi
}

# Succeeds when $1 is a valid host name: dot-separated labels of letters, digits and
# hyphens, no label starting or ending with a hyphen, 253 characters at most.
valid_hostname() {
  [ -n "$1" ] && [ "${#1}" -le 253 ] || return 1
  case "$1" in
    *[!A-Za-z0-9.-]* | .* | *. | *..* | -* | *- | *.-* | *-.*) return 1 ;;
  esac
  return 0
}

# The path of disk index $1 from DISK_<n>_PATH; dies when the disk has no local path.
disk_path() {
  case "$1" in "" | *[!0-9]*) die "bad disk index '$1'" ;; esac
  eval "path=\${DISK_$1_PATH:-}"
  [ -n "$path" ] || die "disk $1 has no local path (DISK_$1_PATH is not set)"
  [ -f "$path" ] || [ -b "$path" ] || die "disk $1 ($path) is neither a file nor a block device"
  echo "$path"
}

# Size in bytes of a regular file or block device.
device_bytes() {
  if [ -b "$1" ]; then
    blockdev --getsize64 "$1"
  else
    stat -L -c %s "$1"  # -L: disks may be symlinks (instance disk links, simulated LVs)
  fi
}

require_disk0() {
  [ "${DISK_COUNT:-0}" -ge 1 ] || die "the instance needs at least one disk"
}

check_busybox() {
  [ -x "$BUSYBOX" ] || die "$BUSYBOX not found (install Debian's busybox-static)"
  if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; a static one is needed (Debian's busybox-static)"
  fi
}

# Run debugfs requests from standard input against the file system on $1 (read-write).
debugfs_write() {
  debugfs -w -f - "$1" >/dev/null 2>&1
}

# Print a file of the file system on $1 ($2 is its path inside).
debugfs_cat() {
  debugfs -R "cat $2" "$1" 2>/dev/null
}

# Succeeds when the file system on $1 has the path $2 (debugfs itself always exits 0).
fs_has() {
  debugfs -R "stat $2" "$1" 2>/dev/null | grep -q '^Inode:'
}
