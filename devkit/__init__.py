"""Dev-only tooling: the local Kafka broker, the demo world, stand-in providers, scenarios.

Production code (``streams``, ``connectors``) never imports this package (an import-linter
contract says so); the ``oms`` CLI finds its commands (``oms broker``, ``oms demo``) through
the ``oms.commands`` entry point group when it is installed.
"""
