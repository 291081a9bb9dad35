"""Master daemon logic outside logical units and the queue: LUXI methods, replication."""
