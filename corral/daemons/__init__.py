"""Daemon entry points: build the context objects and start the servers; no logic."""
