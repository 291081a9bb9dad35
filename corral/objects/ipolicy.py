"""Instance policies (Ganeti's ``ipolicy``): their shape, defaults, merging and checks.

A policy is a plain dict, stored and sent exactly as Ganeti does::

    {"minmax": [{"min": ISPEC, "max": ISPEC}, ...], "std": ISPEC,
     "disk-templates": [...], "vcpu-ratio": 4.0, "spindle-ratio": 32.0}

where an ISPEC maps ``memory-size``, ``cpu-count``, ``disk-count``, ``disk-size``,
``nic-count`` and ``spindle-use`` to integers. The cluster's policy is complete; a group's
holds only its overrides (never ``std``), and its effective policy is the cluster's with those
overrides. Everything here is pure; :class:`PolicyError` carries Ganeti's wording.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

MEM_SIZE = "memory-size"
CPU_COUNT = "cpu-count"
DISK_COUNT = "disk-count"
DISK_SIZE = "disk-size"
NIC_COUNT = "nic-count"
SPINDLE_USE = "spindle-use"
ISPEC_PARAMETERS = (CPU_COUNT, DISK_COUNT, DISK_SIZE, MEM_SIZE, NIC_COUNT, SPINDLE_USE)

MINMAX = "minmax"
MIN = "min"
MAX = "max"
STD = "std"
DISK_TEMPLATES = "disk-templates"
VCPU_RATIO = "vcpu-ratio"
SPINDLE_RATIO = "spindle-ratio"
MINMAX_KEYS = (MAX, MIN)
RATIO_KEYS = (SPINDLE_RATIO, VCPU_RATIO)
ALL_KEYS = (DISK_TEMPLATES, MINMAX, SPINDLE_RATIO, STD, VCPU_RATIO)

ALL_DISK_TEMPLATES = ("blockdev", "diskless", "drbd", "ext", "file", "gluster", "mirror",
                      "plain", "rbd", "sharedfile")

DEFAULT_MIN: dict[str, int] = {CPU_COUNT: 1, DISK_COUNT: 1, DISK_SIZE: 1024, MEM_SIZE: 128,
                               NIC_COUNT: 1, SPINDLE_USE: 1}
DEFAULT_MAX: dict[str, int] = {CPU_COUNT: 8, DISK_COUNT: 16, DISK_SIZE: 1048576,
                               MEM_SIZE: 32768, NIC_COUNT: 8, SPINDLE_USE: 12}
DEFAULT_STD: dict[str, int] = dict(DEFAULT_MIN)
DEFAULT_IPOLICY: dict[str, Any] = {
    DISK_TEMPLATES: list(ALL_DISK_TEMPLATES),
    MINMAX: [{MAX: DEFAULT_MAX, MIN: DEFAULT_MIN}],
    SPINDLE_RATIO: 32.0,
    STD: DEFAULT_STD,
    VCPU_RATIO: 4.0,
}
"""Ganeti's defaults (``IPOLICY_DEFAULTS``)."""

SMALL_MIN: dict[str, int] = {CPU_COUNT: 1, DISK_COUNT: 0, DISK_SIZE: 1, MEM_SIZE: 1,
                             NIC_COUNT: 0, SPINDLE_USE: 0}
"""Lower bounds for test clusters (the virtual cluster), whose instances are tiny."""


class PolicyError(ValueError):
    """A policy that is not well formed; the message is Ganeti's."""


def default_ipolicy() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_IPOLICY)


def small_instance_ipolicy() -> dict[str, Any]:
    """The defaults with lower bounds small enough for test instances (few MiB)."""
    policy = default_ipolicy()
    policy[MINMAX] = [{MAX: dict(DEFAULT_MAX), MIN: dict(SMALL_MIN)}]
    policy[STD] = {**DEFAULT_STD, DISK_SIZE: 64, MEM_SIZE: 64}
    return policy


def fill_ipolicy(base: Mapping[str, Any], custom: Mapping[str, Any]) -> dict[str, Any]:
    """``custom`` with every key it lacks taken from ``base``; ``std`` merges key by key."""
    result = copy.deepcopy(dict(custom))
    for key, value in base.items():
        if key not in result:
            result[key] = copy.deepcopy(value)
        elif key == STD and isinstance(value, dict):
            result[key] = {**value, **result[key]}
    return result


def upgrade_cluster_ipolicy(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A cluster policy as stored by any version (possibly empty) in today's complete shape.

    Older configurations stored ``{}`` or a partial dict; unknown keys are dropped.
    """
    known = {k: v for k, v in (stored or {}).items() if k in ALL_KEYS}
    return fill_ipolicy(DEFAULT_IPOLICY, known)


def group_ipolicy(cluster_policy: Mapping[str, Any],
                  custom: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective policy of a group: the (upgraded) cluster's filled by its overrides."""
    own = {k: v for k, v in (custom or {}).items() if k in ALL_KEYS}
    return fill_ipolicy(upgrade_cluster_ipolicy(cluster_policy), own)


# --- syntax -------------------------------------------------------------------------------


def _check_complete(spec: Any, name: str) -> None:
    if not isinstance(spec, dict):
        raise PolicyError(f"Missing instance specs parameters for {name}: "
                          f"{', '.join(ISPEC_PARAMETERS)}")
    missing = [p for p in ISPEC_PARAMETERS if p not in spec]
    if missing:
        raise PolicyError(f"Missing instance specs parameters for {name}: {', '.join(missing)}")


def _check_specs(policy: Mapping[str, Any], check_std: bool) -> None:
    if MINMAX not in policy:
        return
    std = policy.get(STD)
    if check_std:
        if STD not in policy:
            raise PolicyError(f"Missing key in ipolicy: {STD}")
        _check_complete(std, STD)
    minmax = policy[MINMAX]
    if not minmax:
        raise PolicyError("Empty minmax specifications")
    std_fits_one = False
    for pair in minmax:
        missing = [k for k in (MAX, MIN) if k not in pair]
        if missing:
            raise PolicyError(f"Missing instance specification: {', '.join(missing)}")
        for key, spec in pair.items():
            _check_complete(spec, key)
        fits = True
        for name in ISPEC_PARAMETERS:
            low, high = pair[MIN][name], pair[MAX][name]
            if low > high:
                raise PolicyError(
                    f"Invalid specification of min/max values for {name}: {low}/{high}")
            if check_std and isinstance(std, dict):
                value = std.get(name, low)
                fits = fits and low <= value <= high
        std_fits_one = std_fits_one or fits
    if not std_fits_one:
        raise PolicyError("Invalid std specifications")


def check_ipolicy_syntax(policy: Mapping[str, Any], check_std: bool) -> None:
    """Ganeti's InstancePolicy.CheckParameterSyntax.

    Raises:
        PolicyError: the policy is not well formed.
    """
    _check_specs(policy, check_std)
    if DISK_TEMPLATES in policy:
        templates = policy[DISK_TEMPLATES]
        if not templates:
            raise PolicyError("Instance policy must contain at least one disk template")
        wrong = sorted(set(templates) - set(ALL_DISK_TEMPLATES))
        if wrong:
            raise PolicyError(f"Invalid disk template(s) {', '.join(wrong)}")
    for key in RATIO_KEYS:
        if key in policy:
            try:
                float(policy[key])
            except (TypeError, ValueError) as err:
                raise PolicyError(
                    f"Invalid value for key '{key}': '{policy[key]}', error: {err}") from None
    wrong_keys = sorted(set(policy) - set(ALL_KEYS))
    if wrong_keys:
        raise PolicyError(f"Invalid keys in ipolicy: {', '.join(wrong_keys)}")


def _as_int_spec(spec: Any, what: str) -> dict[str, int]:
    if not isinstance(spec, dict):
        raise PolicyError(f"Invalid instance specification for {what}: {spec!r}")
    result: dict[str, int] = {}
    for key, value in spec.items():
        if key not in ISPEC_PARAMETERS:
            raise PolicyError(f"Unknown parameter '{key}' in {what} instance specs")
        try:
            result[key] = int(value)
        except (TypeError, ValueError):
            raise PolicyError(f"'{key}' ({value!r}) is not a valid integer") from None
    return result


def _is_reset(value: Any) -> bool:
    return not value or value == "default" or value == ["default"]


def updated_ipolicy(old: Mapping[str, Any], new: Mapping[str, Any],
                    group_policy: bool) -> dict[str, Any]:
    """Ganeti's GetUpdatedIPolicy: ``old`` with the changes in ``new``.

    An empty value or ``default`` removes a group's key (refused for the cluster); ``std``
    changes merge into the old ``std``; other keys are replaced.

    Raises:
        PolicyError: an unknown key, a bad value, or a result that is not well formed.
    """
    policy = copy.deepcopy(dict(old))
    for key, value in new.items():
        if key not in ALL_KEYS:
            raise PolicyError(f"Invalid key in new ipolicy: {key}")
        if _is_reset(value):
            if not group_policy:
                raise PolicyError(f"Can't unset ipolicy attribute '{key}' on the cluster'")
            policy.pop(key, None)
        elif key in RATIO_KEYS:
            try:
                policy[key] = float(value)
            except (TypeError, ValueError) as err:
                raise PolicyError(
                    f"Invalid value for attribute '{key}': '{value}', error: {err}") from None
        elif key == MINMAX:
            if not isinstance(value, list):
                raise PolicyError(f"Invalid value for attribute '{key}': '{value}'")
            policy[key] = [{k: _as_int_spec(spec, k) for k, spec in pair.items()}
                           for pair in value]
        elif key == STD:
            if group_policy:
                raise PolicyError(f"{key} cannot appear in group instance specs")
            policy[key] = {**policy.get(key, {}), **_as_int_spec(value, STD)}
        else:
            policy[key] = list(value)
    check_ipolicy_syntax(policy, not group_policy)
    return policy


# --- violations ---------------------------------------------------------------------------


def _out_of_range(name: str, qualifier: str, pair: Mapping[str, Any],
                  value: int | None) -> str | None:
    if value is None:
        return None
    high = pair[MAX].get(name, value)
    low = pair[MIN].get(name, value)
    if low <= value <= high:
        return None
    full = f"{name}/{qualifier}" if qualifier else name
    return f"{full} value {value} is not in range [{low}, {high}]"


def spec_violations(policy: Mapping[str, Any], *, memory: int | None, vcpus: int | None,
                    disk_sizes: Sequence[int], nic_count: int | None,
                    spindle_use: int | None, disk_templates: Sequence[str]) -> list[str]:
    """Ganeti's ComputeIPolicySpecViolation: one message per violated bound, [] when it fits.

    ``disk_templates`` has one entry per disk. With several ``minmax`` pairs, the pair the
    instance violates least is reported.
    """
    tests: list[tuple[str, str, int | None]] = [
        (MEM_SIZE, "", memory), (CPU_COUNT, "", vcpus), (NIC_COUNT, "", nic_count),
        (SPINDLE_USE, "", spindle_use),
        *((DISK_SIZE, str(idx), size) for idx, size in enumerate(disk_sizes)),
    ]
    allowed = list(policy.get(DISK_TEMPLATES) or ALL_DISK_TEMPLATES)
    result: list[str] = []
    if disk_sizes:
        tests.append((DISK_COUNT, "", len(disk_sizes)))
    elif "diskless" not in allowed:
        result.append(f"Disk template diskless is not allowed (allowed templates "
                      f"{', '.join(allowed)})")
    forbidden = sorted(set(disk_templates) - set(allowed))
    if forbidden:
        result.append(f"Disk template {', '.join(forbidden)} is not allowed (allowed templates:"
                      f" {', '.join(allowed)})")
    fewest: list[str] | None = None
    for pair in policy.get(MINMAX) or []:
        errors = [e for e in (_out_of_range(n, q, pair, v) for n, q, v in tests) if e]
        if fewest is None or len(errors) < len(fewest):
            fewest = errors
    return result + (fewest or [])
