"""Corral: a cluster virtualization manager compatible with Ganeti's interfaces."""

__version__ = "0.1.0"
