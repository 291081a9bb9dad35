"""Hypervisor drivers behind one contract (layer 2: node-side mechanisms).

``params`` (tables and checks) is importable by the master without loading any
driver; ``base`` holds the contract; ``registry.get_driver`` builds a driver.
Nothing is imported here, so importing a submodule stays cheap.
"""
