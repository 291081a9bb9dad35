"""A master-lease campaigner in its own process, for tests that SIGKILL the holder.

Usage: ``python -m tests.support.lease_campaigner NODE TTL ENDPOINT...``. Prints
``WON <node> <monotonic>`` when it becomes master and ``LOST <reason>`` when it steps down,
then exits 3. SIGTERM resigns and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from corral.master.etcd_gateway import EtcdGateway
from corral.master.lease import MasterLease

CLUSTER = "test.example.com"


async def _run(node: str, ttl: int, endpoints: list[str]) -> int:
    gateway = EtcdGateway(endpoints, request_timeout=1.0)
    lease = MasterLease(gateway, CLUSTER, node, ttl=ttl)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(lease.resign()))
    try:
        await lease.campaign_until_won(lambda: (1, 1))
        print(f"WON {node} {time.monotonic()}", flush=True)
        lost = await lease.hold()
        print(f"LOST {lost.reason.name}", flush=True)
        return 0 if lost.reason.name == "RESIGNED" else 3
    finally:
        await gateway.close()


def main() -> None:
    node, ttl, *endpoints = sys.argv[1:]
    sys.exit(asyncio.run(_run(node, int(ttl), endpoints)))


if __name__ == "__main__":
    main()
