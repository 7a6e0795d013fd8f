"""The process shell: what every long-running process and every command shares, defined once.

- ``settings``: one pydantic-settings class per process kind (environment, ``NAME_FILE``
  secrets, flags on top); ``commands``: typer commands whose flags come from them;
- ``logging``: configured once, text or JSON lines carrying the order context;
- ``metrics``: the shared Prometheus metric objects (the names are a contract);
- ``health``: readiness and the ``/metrics``, ``/health``, ``/ready`` routes;
- ``process``: signals (a stop within 5 s), the broker check, waiting and watching;
- ``lag``: consumer lag per partition, measured from outside a service's loop;
- ``state``: the state folder's identity (the cluster and topic prefix it belongs to).

It sits below the adapters (import-linter's layers): it knows nothing of topics or codecs.
"""
