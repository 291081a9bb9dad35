"""The watcher: periodic repair of crashed instances and rebooted nodes, and housekeeping.

``corral-watcher`` runs from cron or a systemd timer every 5 minutes on every node
(Ganeti's ``ganeti-watcher``). Modules:

- :mod:`~corral.watcher.policy`: pure decisions (observations + state + now → actions);
- :mod:`~corral.watcher.state`: the locked, atomically written JSON state file;
- :mod:`~corral.watcher.pause`: the pause file ``gnt-cluster watcher pause`` writes;
- :mod:`~corral.watcher.actions`: LUXI queries and job submissions;
- :mod:`~corral.watcher.daemons`: node/master daemon checks and the RAPI probe;
- :mod:`~corral.watcher.nodemaint`: stopping instances left running on offline nodes;
- :mod:`~corral.watcher.repair`: one instance/disk pass (observe, decide, act, remember);
- :mod:`~corral.watcher.main`: the command line and the order of the steps.
"""
