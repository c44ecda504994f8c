"""Integration tests in this process: the exporter, or a stage of it, against the simulator
over loopback, on virtual time where time matters."""
