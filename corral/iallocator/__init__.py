"""Instance allocation: Ganeti's iallocator protocol, external allocators and the built-in one."""
