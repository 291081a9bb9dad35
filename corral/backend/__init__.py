"""Node daemon logic: one module per subject, each function handling one RPC call."""
