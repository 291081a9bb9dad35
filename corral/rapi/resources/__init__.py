"""One module per family of RAPI resources; each exposes ``ROUTES``."""
