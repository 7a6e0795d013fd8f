"""``oms soak`` / ``make soak``: a chaos soak that lives in the repo (issue 10).

All six journeys through the real connectors and the four simulators, on a broker of its
own on loopback; provider faults armed through ``/_sim/faults``; SIGKILLs of every process
kind and one broker stop/start (``--cluster``: three brokers, one SIGKILLed and started
again); then an audit of the event topics and the simulators.

- ``schedule``: the seeded plan (arrivals, outages, fault rates); pure.
- ``supervisor``: carries the plan out on the world's processes; restarts what exits.
- ``liveness``: restarts a writer that is alive but wedged (and the audit says so).
- ``evidence``: reads the topics and the simulators' ``/_sim`` state.
- ``audit``: what each order must look like, and the table; pure.
- ``runner`` and ``cli``: one run, start to end, and its command.
"""
