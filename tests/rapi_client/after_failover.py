"""Ganeti's own RAPI client after a master failover (``python3-ganeti-rapi``).

Runs under Debian's ``/usr/bin/python3``. Reads on stdin ``{"name", "address", "port",
"user", "password", "ca"}``: the client connects to the cluster name, which resolves
to ``address`` (the new master, as the cluster name follows the master in DNS), checks
the server's certificate against the cluster CA with host name verification, lists the
instances and submits a job (cluster tags). Prints one JSON document of what it saw.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pycurl  # type: ignore[import-untyped]
from ganeti.rapi import client as rapi  # type: ignore[import-not-found]

TAG = "after-failover-rapi"


def curl_config(cfg: dict[str, Any]) -> Any:
    pinned = rapi.GenericCurlConfig(cafile=cfg["ca"], verify_hostname=True)

    def configure(curl: Any, logger: Any) -> None:
        pinned(curl, logger)
        curl.setopt(pycurl.RESOLVE, [f"{cfg['name']}:{cfg['port']}:{cfg['address']}"])

    return configure


def main() -> int:
    cfg = json.load(sys.stdin)
    client = rapi.GanetiRapiClient(cfg["name"], cfg["port"], cfg["user"], cfg["password"],
                                   curl_config_fn=curl_config(cfg))
    report: dict[str, Any] = {"instances": sorted(client.GetInstances())}
    job_id = client.AddClusterTags([TAG])
    client.WaitForJobCompletion(job_id, period=0.1, retries=600)
    report["job_status"] = client.GetJobStatus(job_id)["status"]
    report["tags"] = sorted(client.GetClusterTags())
    report["master"] = client.GetInfo()["master"]
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
