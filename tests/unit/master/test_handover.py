"""A manual failover in automatic mode: the named candidate campaigns first."""

from __future__ import annotations

import asyncio
import json

from corral.master.candidacy import Candidacy, candidates_prefix
from corral.master.etcd_gateway import EtcdGateway, KeyValue, b64
from corral.master.handover import OTHERS_WAIT, campaign_delay, handover_key

CLUSTER = "c.example"


class StoredGateway(EtcdGateway):
    """Keys in a dict instead of etcd (only the reads the delay makes)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        super().__init__(["http://127.0.0.1:1"])
        self.keys = keys

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        value = self.keys.get(key)
        return 1, None if value is None else KeyValue(key=b64(key), value=b64(value))

    async def get_prefix(self, prefix: str) -> list[KeyValue]:
        return [KeyValue(key=b64(k), value=b64(v)) for k, v in sorted(self.keys.items())
                if k.startswith(prefix)]


def _delays(keys: dict[str, bytes]) -> dict[str, float]:
    gateway = StoredGateway(keys)

    async def both() -> dict[str, float]:
        delays: dict[str, float] = {}
        for node in ("node2", "node3"):
            delay = campaign_delay(gateway, CLUSTER, node, Candidacy(gateway, CLUSTER, node))
            delays[node] = await delay(9)
        return delays

    return asyncio.run(both())


def _advertised() -> dict[str, bytes]:
    prefix = candidates_prefix(CLUSTER)
    return {prefix + n: json.dumps({"node": n, "config_serial": 9}).encode()
            for n in ("node2", "node3")}


def test_ranked_delay_without_a_handover() -> None:
    assert _delays(_advertised()) == {"node2": 0.0, "node3": 1.0}


def test_the_named_candidate_goes_first_and_the_others_wait() -> None:
    keys = {**_advertised(), handover_key(CLUSTER): b"node3"}
    assert _delays(keys) == {"node2": OTHERS_WAIT, "node3": 0.0}
