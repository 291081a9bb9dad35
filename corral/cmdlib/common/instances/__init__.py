"""Helpers of the instance logical units: bundles, new instances, disks, NICs, MACs, status."""
