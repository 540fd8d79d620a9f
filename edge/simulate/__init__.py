"""The lobby simulator: a virtual hall shown to the real vision pipeline (``docs/simulator.md``)."""
