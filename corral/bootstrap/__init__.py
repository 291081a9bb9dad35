"""Creating and destroying a cluster on its first node."""
