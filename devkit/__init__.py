"""Dev-only tooling: the local Kafka broker, the demo and its world of provider processes,
stand-in providers, scenarios, the chaos soak (``soak``).

Production code (``streams``, ``connectors``) never imports this package (an import-linter
contract says so); the ``oms`` CLI finds its commands (``oms broker``, ``oms demo``, ``oms soak``) through
the ``oms.commands`` entry point group when it is installed.
"""
