"""Who is master: the nodes' votes (node RPC ``master_node_name``), as Ganeti counts them.

Every node answers with the master named by its own ssconf. A master daemon starts only when
a strict majority of all the nodes in its configuration name it (``CheckAgreement``); while the
nodes that did not answer could still tip the count it waits and asks again.

Two-node caveat: with two nodes, a majority is both of them, so a master whose only peer is
down can never win the vote and needs ``--no-voting --yes-do-it`` (after making sure by other
means that the other node is not acting as master).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from corral.errors import CorralError
from corral.layout import NodeLayout
from corral.objects.config_data import ConfigData
from corral.rpc.nodes import NodeRef, NodeRpc
from corral.rpc.results import NodeResult

log = logging.getLogger(__name__)

VOTE_RETRIES = 6
"""Asks after the first while the vote is undecided (Ganeti: 6 x 10 s on a cold start)."""
VOTE_INTERVAL = 10.0
VOTE_RPC_TIMEOUT = 10.0

Answers = Mapping[str, str | None]
"""Node name -> the master it names; None when it did not answer."""


class Verdict(enum.Enum):
    WON = "won"
    UNDECIDED = "undecided"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Tally:
    """The count of one round of votes."""

    in_favor: int
    unknown: int
    voters: int
    votes: tuple[tuple[str, int], ...]
    """(named master, votes), most votes first."""

    @property
    def verdict(self) -> Verdict:
        if 2 * self.in_favor > self.voters:
            return Verdict.WON
        if 2 * (self.in_favor + self.unknown) > self.voters:
            return Verdict.UNDECIDED
        return Verdict.LOST

    @property
    def leader(self) -> str | None:
        """The name with the most votes (None when nobody answered)."""
        return self.votes[0][0] if self.votes else None

    def describe(self) -> str:
        named = ", ".join(f"{name}: {count}" for name, count in self.votes) or "none"
        return f"{self.voters} nodes, {self.unknown} without an answer, votes: {named}"


def tally(me: str, answers: Answers) -> Tally:
    """Count ``answers`` for node ``me``; every node in ``answers`` is a voter."""
    counts = Counter(name for name in answers.values() if name)
    ordered = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    unknown = sum(1 for name in answers.values() if not name)
    return Tally(counts.get(me, 0), unknown, len(answers), ordered)


def majority_healthy(answers: Answers) -> tuple[bool, list[str]]:
    """Whether a strict majority of the nodes answered with some master (Ganeti's
    ``MajorityHealthy``), and the nodes that did not."""
    silent = sorted(name for name, master in answers.items() if not master)
    return 2 * (len(answers) - len(silent)) > len(answers), silent


def answers_of(results: Mapping[str, NodeResult[str]]) -> dict[str, str | None]:
    """Node RPC results as votes; failures are logged and count as no answer."""
    answers: dict[str, str | None] = {}
    for name, result in results.items():
        if not result.ok or not result.payload:
            log.warning("Error contacting node %s: %s", name, result.fail_msg or "no master")
            answers[name] = None
        else:
            answers[name] = result.payload
    return answers


async def gather_votes(rpc: NodeRpc, nodes: Sequence[NodeRef]) -> dict[str, str | None]:
    """Ask every node which master its ssconf names."""
    if not nodes:
        return {}
    return answers_of(await rpc.master_node_name(nodes, rpc_timeout=VOTE_RPC_TIMEOUT))


@dataclass(frozen=True, slots=True)
class VotePolicy:
    """How long an undecided vote is retried."""

    retries: int = VOTE_RETRIES
    interval: float = VOTE_INTERVAL


DEFAULT_VOTE = VotePolicy()

async def check_agreement(
    me: str,
    ask: Callable[[], Awaitable[Answers]],
    policy: VotePolicy = DEFAULT_VOTE,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Tally:
    """Ask until the vote is won or lost, or the retries run out; the last tally."""
    attempt = 0
    while True:
        count = tally(me, await ask())
        log.info("Master vote for %s: %s", me, count.describe())
        if count.verdict is not Verdict.UNDECIDED or attempt >= policy.retries:
            return count
        attempt += 1
        log.warning("Master vote undecided, asking again in %g s (%d of %d)",
                    policy.interval, attempt, policy.retries)
        await sleep(policy.interval)


EXIT_NOTMASTER = 11
"""Ganeti's exit code of a master daemon that is not the master."""


class NotMasterError(CorralError):
    """This node is not the master: the vote named another node, or could not be won."""

    exit_code = EXIT_NOTMASTER


def own_node_name(layout: NodeLayout, data: ConfigData) -> str:
    """This node's name: the one it joined with, else (the node the cluster was initialised
    on, which never joined) the master its configuration names."""
    try:
        name = layout.node_name_file.read_text().strip()
    except FileNotFoundError:
        name = ""
    return name or data.master_node.name


async def vote_at_start(
    me: str, data: ConfigData, rpc: NodeRpc, policy: VotePolicy = DEFAULT_VOTE
) -> Tally:
    """Ganeti's ``CheckAgreement`` at every master daemon start.

    Raises:
        NotMasterError: the configuration names another master, or the vote was not won.
    """
    if data.master_node.name != me:
        raise NotMasterError(
            f"This node ({me}) is not the master; the configuration names "
            f"{data.master_node.name}. Exiting."
        )
    nodes = list(data.nodes.values())
    count = await check_agreement(me, lambda: gather_votes(rpc, nodes), policy)
    if count.verdict is Verdict.WON:
        return count
    if count.verdict is Verdict.LOST and count.leader and count.leader != me:
        raise NotMasterError(
            f"Not master: the other nodes vote {count.leader} as master ({count.describe()})."
            " Exiting; run 'gnt-cluster master-failover' on this node to make it master."
        )
    raise NotMasterError(
        f"Could not get a majority of the nodes to agree that {me} is master "
        f"({count.describe()}). If you are sure no other node is master, start with "
        "--no-voting --yes-do-it (see the two-node caveat in gnt-cluster(8))."
    )
