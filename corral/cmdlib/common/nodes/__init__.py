"""Helpers of the node logical units: addresses, candidate pool, joining, node flags and roles."""
