"""The operators of Ganeti's query filters (query2), shared by the engine and the CLI.

Dependency-free: the CLI's filter parser loads it on every command.
"""

OP_OR = "|"
OP_AND = "&"
OP_NOT = "!"
OP_TRUE = "?"
OP_EQUAL = "=="
OP_EQUAL_LEGACY = "="
"""Ganeti's older spelling of ``==``; the engine treats both alike."""
OP_NOT_EQUAL = "!="
OP_LT = "<"
OP_LE = "<="
OP_GT = ">"
OP_GE = ">="
OP_REGEXP = "=~"
OP_CONTAINS = "=[]"
