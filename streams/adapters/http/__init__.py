"""The read side over HTTP: the query API, live events and the operations dashboard.

``read_model`` states what the API needs (the projection service provides it), ``app``
serves it, ``openapi`` describes it, ``static/`` is the dashboard (no build step).
"""
