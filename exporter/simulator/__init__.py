"""A simulator of the upstream APIs: a real HTTP server on loopback, for the demo and tests.

One module or package per vendor API (the ``experiture`` package, the ``greenarrow``
module) behind ``vendor.VendorApi``; ``server`` serves the registered vendors with the
plumbing they share.
"""

from .server import VENDORS, Simulator, SimulatorThread
from .settings import SimulatorSettings
from .vendor import Produce, Route, Trouble, VendorApi

__all__ = [
    "VENDORS",
    "Produce",
    "Route",
    "Simulator",
    "SimulatorSettings",
    "SimulatorThread",
    "Trouble",
    "VendorApi",
]
