"""The master's typed node RPC methods, one module per subject of the RPC table."""
