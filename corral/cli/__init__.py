"""Ganeti-compatible command line tools (``gnt-cluster``, ``gnt-node``, …).

Everything on the normal path imports only the standard library and
:mod:`corral.luxi.client`, so a command starts, queries and prints quickly.
"""
