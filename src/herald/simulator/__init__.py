"""A faithful local WhatsApp Cloud API: Graph endpoints, limits, and signed, batched webhooks.

Users run it for demos and dry runs (`herald simulator`); Herald's tests and benchmarks use it
wherever they would otherwise talk to Meta.
"""

from herald.simulator.app import create_app
from herald.simulator.scenario import PhoneNumber, Scenario, StatusDelays
from herald.simulator.server import SimulatorServer, serve

__all__ = ["PhoneNumber", "Scenario", "SimulatorServer", "StatusDelays", "create_app", "serve"]
