"""LUXI: the master's local protocol, wire-compatible with Ganeti 3.0."""
