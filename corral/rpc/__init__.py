"""Node RPC: one declarative table drives the client (master) and the server (noded)."""
