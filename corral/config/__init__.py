"""The master's configuration: persistent store, replication, ssconf."""
