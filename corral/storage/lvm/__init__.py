"""LVM (template ``plain``): the driver and the parsers of the lvm2 tools' reports."""
