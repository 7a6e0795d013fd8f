"""The process shell: what every long-running process shares, defined once.

- ``settings``: one pydantic-settings class per process kind (environment, ``NAME_FILE``
  secrets, flags on top);
- ``logging``: configured once, text or JSON lines carrying the order context;
- ``metrics``: the shared Prometheus metric objects (the names are a contract);
- ``health``: readiness state and the ``/metrics``, ``/health``, ``/ready`` endpoints;
- ``process``: signals, a stop within 5 s, the broker reachability check.
"""
