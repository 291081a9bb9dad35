"""Helpers of cluster verification: configuration checks, node checks, the report."""
