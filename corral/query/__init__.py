"""Corral's query engine: Ganeti's query2 fields, results and filter language.

Serves the ``Query``/``QueryFields`` LUXI calls, ``OP_QUERY``, ``gnt-* list -o``
and RAPI ``/2/query/<resource>``. Inputs are plain data in a
:class:`QueryContext`; nothing here talks to daemons.
"""

from corral.filter_ops import (
    OP_AND,
    OP_CONTAINS,
    OP_EQUAL,
    OP_GE,
    OP_GT,
    OP_LE,
    OP_LT,
    OP_NOT,
    OP_NOT_EQUAL,
    OP_OR,
    OP_REGEXP,
    OP_TRUE,
)
from corral.query.context import QueryContext, Resource
from corral.query.engine import (
    RESOURCES,
    filter_errors_as_prereq,
    names_filter,
    needs_live_data,
    query,
    query_fields,
    query_prereq,
    query_value_blocks,
    query_values,
    resource,
)
from corral.query.fields import (
    RS_NODATA,
    RS_NORMAL,
    RS_OFFLINE,
    RS_UNAVAIL,
    RS_UNKNOWN,
    FieldDef,
    FieldFlag,
    FieldKind,
)
from corral.query.filter import (
    compile_filter,
    make_simple_filter,
    requested_names,
)
from corral.query.instance_data import InstanceStatus
from corral.query.names import nice_key, nice_sorted

__all__ = [
    "OP_AND",
    "OP_CONTAINS",
    "OP_EQUAL",
    "OP_GE",
    "OP_GT",
    "OP_LE",
    "OP_LT",
    "OP_NOT",
    "OP_NOT_EQUAL",
    "OP_OR",
    "OP_REGEXP",
    "OP_TRUE",
    "RESOURCES",
    "RS_NODATA",
    "RS_NORMAL",
    "RS_OFFLINE",
    "RS_UNAVAIL",
    "RS_UNKNOWN",
    "FieldDef",
    "FieldFlag",
    "FieldKind",
    "InstanceStatus",
    "QueryContext",
    "Resource",
    "compile_filter",
    "filter_errors_as_prereq",
    "make_simple_filter",
    "names_filter",
    "needs_live_data",
    "nice_key",
    "nice_sorted",
    "query",
    "query_fields",
    "query_prereq",
    "query_value_blocks",
    "query_values",
    "requested_names",
    "resource",
]
