"""A simulator of the upstream APIs: a real HTTP server on loopback, for the demo and tests."""

from .server import Simulator, SimulatorSettings, SimulatorThread

__all__ = ["Simulator", "SimulatorSettings", "SimulatorThread"]
