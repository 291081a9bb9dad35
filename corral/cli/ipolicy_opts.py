"""Instance policy options (``--ipolicy-*``, and ``--specs-*`` at init) and their parsing.

The result is the ``ipolicy`` dict of OP_CLUSTER_SET_PARAMS / OP_GROUP_ADD / OP_GROUP_SET_PARAMS
(Ganeti's CreateIPolicyFromOpts): only what was given; the master checks and merges it.
"""

from __future__ import annotations

from corral.cli import options as o
from corral.cli.errors import UsageError
from corral.cli.params import ParamError, parse_unit, split_ident_key_val, split_key_val

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

SPEC_NAMES = ("cpu-count", "disk-count", "disk-size", "memory-size", "nic-count", "spindle-use")
_SIZED = ("disk-size", "memory-size")
_DEFAULT = "default"


def parse_bounds(text: str) -> list[dict[str, dict[str, str]]]:
    """``min:k=v,../max:k=v,..//min:..`` → ``[{"min": {...}, "max": {...}}, ...]``."""
    opt = "--ipolicy-bounds-specs"
    result: list[dict[str, dict[str, str]]] = []
    for line in text.split("//"):
        pair: dict[str, dict[str, str]] = {}
        for elem in line.split("/"):
            if not elem:
                raise ParamError(f"Empty section in option '{opt}'")
            ident, values = split_ident_key_val(opt, elem, False)
            if ident in pair:
                raise ParamError(f"Duplicated parameter '{ident}' in parsing {opt}: {elem}")
            pair[ident] = values
        result.append(pair)
    return result


def _float_or_default(text: str) -> Any:
    if text == _DEFAULT:
        return text
    try:
        return float(text)
    except ValueError:
        raise ParamError(f"Invalid float value '{text}'") from None


def _keyval(opt: str) -> Any:
    return o.checked_type(lambda text: split_key_val(opt, text, False), "keyval")


BOUNDS_OPT = o.Opt("--ipolicy-bounds-specs", dest="ipolicy_bounds_specs", default=None,
                   type=o.checked_type(parse_bounds, "multilistidentkeyval"),
                   metavar="min:SPECS/max:SPECS[//...]", help="Complete instance specs limits")
STD_OPT = o.Opt("--ipolicy-std-specs", dest="ipolicy_std_specs", default=None,
                type=_keyval("--ipolicy-std-specs"), metavar="SPECS",
                help="Complete standard instance specs")
DISK_TEMPLATES_OPT = o.Opt("--ipolicy-disk-templates", dest="ipolicy_disk_templates",
                           default=None, type=o.list_type, metavar="TEMPLATE,...",
                           help="Comma-separated list of enabled disk templates")
VCPU_RATIO_OPT = o.Opt("--ipolicy-vcpu-ratio", dest="ipolicy_vcpu_ratio", default=None,
                       type=o.checked_type(_float_or_default, "maybefloat"), metavar="RATIO",
                       help="The maximum allowed vcpu-to-cpu ratio")
SPINDLE_RATIO_OPT = o.Opt("--ipolicy-spindle-ratio", dest="ipolicy_spindle_ratio",
                          default=None, type=o.checked_type(_float_or_default, "maybefloat"),
                          metavar="RATIO",
                          help="The maximum allowed instances to spindle ratio")
_SPLIT = (("--specs-cpu-count", "ispecs_cpu_count", "cpu-count", "CPU count"),
          ("--specs-disk-count", "ispecs_disk_count", "disk-count", "Disk count"),
          ("--specs-disk-size", "ispecs_disk_size", "disk-size", "Disk size"),
          ("--specs-mem-size", "ispecs_mem_size", "memory-size", "Memory size"),
          ("--specs-nic-count", "ispecs_nic_count", "nic-count", "NIC count"))
SPLIT_SPECS_OPTS = tuple(
    o.Opt(flag, dest=dest, default=None, type=_keyval(flag), metavar="min=N,max=N,std=N",
          help=f"{text} specs: list of key=value, where key is one of min, max, std")
    for flag, dest, _, text in _SPLIT)

GROUP_OPTS = (BOUNDS_OPT, DISK_TEMPLATES_OPT, VCPU_RATIO_OPT, SPINDLE_RATIO_OPT)
CLUSTER_OPTS = (BOUNDS_OPT, STD_OPT, DISK_TEMPLATES_OPT, VCPU_RATIO_OPT, SPINDLE_RATIO_OPT)
INIT_OPTS = (*CLUSTER_OPTS, *SPLIT_SPECS_OPTS)


def _spec(values: dict[str, Any], what: str, required: bool) -> dict[str, int]:
    spec: dict[str, int] = {}
    for key, value in values.items():
        if key not in SPEC_NAMES:
            raise UsageError(f"Error: Unknown parameter '{key}' in {what} instance specs")
        try:
            spec[key] = parse_unit(value) if key in _SIZED else int(value)
        except (ParamError, ValueError) as err:
            raise UsageError(f"Error: Invalid parameter {key} ({value}) in {what} instance"
                             f" specs: {err}") from None
    missing = [k for k in SPEC_NAMES if k not in spec]
    if required and missing:
        raise UsageError(f"Error: Missing parameters in ipolicy spec {what}:"
                         f" {', '.join(missing)}")
    return spec


def _bounds(value: list[dict[str, dict[str, str]]], group: bool) -> Any:
    if group and value == [{_DEFAULT: {}}]:
        return _DEFAULT
    pairs = []
    for pair in value:
        out = {}
        for key, spec in pair.items():
            if key not in ("min", "max"):
                raise UsageError(f"Error: Invalid key in bounds instance specifications: {key}")
            out[key] = _spec(spec, key, True)
        pairs.append(out)
    return pairs


def _split_specs(opts: Any) -> dict[str, Any] | None:
    given = [(name, getattr(opts, dest, None)) for _, dest, name, _ in _SPLIT]
    if not any(values for _, values in given):
        return None
    specs: dict[str, dict[str, Any]] = {"min": {}, "max": {}, "std": {}}
    for name, values in given:
        for key, value in (values or {}).items():
            if key not in specs:
                raise UsageError(f"Error: Invalid key '{key}' in --specs option (min, max, std)")
            specs[key].update(_spec({name: value}, key, False))
    return specs


def ipolicy_from_opts(opts: Any, *, group: bool = False) -> dict[str, Any] | None:
    """The policy changes the options ask for, ``None`` when none were given.

    ``--specs-*`` (init only) give partial ``min``/``max``/``std`` specs, which the caller
    completes from the defaults.
    """
    policy: dict[str, Any] = {}
    split = _split_specs(opts)
    bounds = getattr(opts, "ipolicy_bounds_specs", None)
    std = getattr(opts, "ipolicy_std_specs", None)
    if split is not None:
        if bounds is not None or std is not None:
            raise UsageError("Error: A --specs-xxx option cannot be specified together with"
                             " any --ipolicy-xxx-specs option")
        policy["minmax"] = [{"min": split["min"], "max": split["max"]}]
        policy["std"] = split["std"]
    if bounds is not None:
        policy["minmax"] = _bounds(bounds, group)
    if std is not None:
        policy["std"] = _spec(std, "std", False)
    templates = getattr(opts, "ipolicy_disk_templates", None)
    if templates is not None:
        policy["disk-templates"] = list(templates)
    for key, dest in (("vcpu-ratio", "ipolicy_vcpu_ratio"),
                      ("spindle-ratio", "ipolicy_spindle_ratio")):
        value = getattr(opts, dest, None)
        if value is not None:
            policy[key] = value
    return policy or None



def _specs_text(specs: dict[str, Any]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(specs.items()))


def policy_options_text(ipolicy: dict[str, Any], is_group: bool) -> str:
    """The ``--ipolicy-std-specs``/``--ipolicy-bounds-specs`` options that recreate the
    specs of ``ipolicy`` (``show-ispecs-cmd``; groups have no std specs)."""
    text = ""
    std = ipolicy.get("std")
    if not is_group and std:
        text += f" --ipolicy-std-specs {_specs_text(std)}"
    bounds = [f"min:{_specs_text(pair['min'])}/max:{_specs_text(pair['max'])}"
              for pair in ipolicy.get("minmax", []) if pair.get("min") and pair.get("max")]
    if bounds:
        text += " --ipolicy-bounds-specs " + "//".join(bounds)
    return text
