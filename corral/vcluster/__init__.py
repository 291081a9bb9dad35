"""A virtual cluster: several Corral nodes on one machine, on loopback addresses."""
