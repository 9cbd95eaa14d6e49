"""A local Attent API: a seeded, evolving World served over real HTTP on loopback, with faults.

Used by tests (in-process, free port), the demo (``python -m attent_assets.simulator``) and
benchmarks. It stands alone: nothing here imports the rest of attent_assets.
"""

from attent_assets.simulator.faults import Faults
from attent_assets.simulator.server import SimulatorServer
from attent_assets.simulator.stats import RequestRecord, ServerStats
from attent_assets.simulator.world import World

__all__ = ["Faults", "RequestRecord", "ServerStats", "SimulatorServer", "World"]
