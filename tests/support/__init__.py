"""Shared test helpers: configuration builders, a fake node RPC, the LU harness."""
