"""paysim: a simulator of the payment providers' HTTP APIs libcard speaks (the Vipps MobilePay
ePayment API and the QuickPay API), with hosted payment pages and signed webhooks.

For development and tests only: `python -m libcard.devtools.paysim --port 8010`, or
`await start(SimConfig.from_settings(settings), port=0)` in a running event loop.
"""

from libcard.devtools.paysim.server import RunningSimulator, create_app, start
from libcard.devtools.paysim.state import SimConfig, Simulation

__all__ = ["RunningSimulator", "SimConfig", "Simulation", "create_app", "start"]
