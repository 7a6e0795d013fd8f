"""Simulators of the provider APIs (BigCommerce, F&O, Flexe, SAP) for tests and the demo.

Each runs as its own process and speaks the documented wire format; the connectors do not
know they talk to a simulator. ``/_sim/...`` is the control plane, not part of any vendor API.
"""
