"""The per-hall gateway: store-and-forward from the hall broker to the server (``docs/gateway.md``)."""
