"""Template ``drbd``: DRBD 8.4 network mirrors over two LVM volumes per node."""
