"""Faithful simulators of host commands this machine cannot run for real.

The virtual cluster may load them into a node daemon (``--simulate-lvm``); product
code reaches them only through ordinary imports, never through the test tree.
"""
