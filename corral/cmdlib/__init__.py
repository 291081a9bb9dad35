"""Logical units: the master-side implementation of every opcode."""
