"""Parameter dictionaries: type checks, merging, cluster-level parameter changes."""
