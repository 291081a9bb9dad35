"""The ``lock`` resource (``gnt-debug locks``), over the lock manager's snapshot.

Each lock record is ``{"name", "mode", "owners", "pending"}`` where ``pending``
is a list of ``[mode, [owner names]]``.
"""

from __future__ import annotations

from typing import Any

from corral.query.context import QueryContext, Resource
from corral.query.fields import FieldDef, FieldKind, field_table
from corral.query.names import nice_sorted, nice_sorted_by

K = FieldKind
LockRecord = dict[str, Any]


def _owners(_s: Any, lock: LockRecord) -> Any:
    owners = lock.get("owners")
    return nice_sorted(owners) if owners else owners


def _pending(_s: Any, lock: LockRecord) -> Any:
    pending = lock.get("pending")
    if not pending:
        return pending
    return [[mode, nice_sorted(names)] for mode, names in pending]


LOCK_FIELDS = field_table(
    [
        FieldDef("name", "Name", K.TEXT, "Lock name", lambda _s, lock: lock["name"]),
        FieldDef("mode", "Mode", K.OTHER,
                 "Mode in which the lock is currently acquired (exclusive or shared)",
                 lambda _s, lock: lock.get("mode")),
        FieldDef("owner", "Owner", K.OTHER, "Current lock owner(s)", _owners),
        FieldDef("pending", "Pending", K.OTHER, "Threads waiting for the lock", _pending),
    ]
)


def select_locks(ctx: QueryContext, wanted: list[Any] | None) -> list[LockRecord]:
    locks = ctx.lock_info
    if wanted is not None:
        names = {str(w) for w in wanted}
        locks = [lock for lock in locks if lock["name"] in names]
    return nice_sorted_by(locks, lambda lock: str(lock["name"]))


RESOURCE = Resource("lock", LOCK_FIELDS, "name", lambda _ctx: None, select_locks)
