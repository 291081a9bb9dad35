#!/usr/bin/env bash
# make demo: a 3-node Corral cluster on this machine, left running with next steps.
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
run gnt-node list -o name,role,pip,group,master_candidate
say "Cluster health"
run gnt-cluster verify
say "A job that holds node2's lock for a second, followed live"
run gnt-debug delay --no-master -n node2 1
run gnt-job list

cat <<NEXT

The cluster keeps running. Next steps:
  eval "\$(.venv/bin/corral vcluster env --dir $DIR)"   # point gnt-* at it
  gnt-cluster info                 # settings and defaults
  gnt-node info node2              # one node in detail
  gnt-group add rack2 && gnt-group assign-nodes rack2 node3
  gnt-debug delay --submit 5 && gnt-job list    # a background job
  gnt-job watch <id>               # follow it
  make demo-down                   # stop every daemon and remove $DIR
NEXT
