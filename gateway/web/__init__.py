"""HTTP side of the gateway: API, live push and the duty console."""
