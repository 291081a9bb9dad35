"""Faithful command simulators (each a ``CommandRunner``) for tools this machine cannot run."""
