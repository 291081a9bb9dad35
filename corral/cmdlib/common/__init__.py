"""Helpers shared by several logical units, one topic per module."""
