"""The OpenAPI 3.1 description of the API, written by hand, served at ``/openapi.json``.

A unit test checks that every route of the app is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

from streams.adapters.http.desk import desk_paths
from streams.adapters.http.operations_openapi import operations_paths
from streams.domain.events import EVENT_TYPES
from streams.domain.values import OrderStatus

JSON = dict[str, Any]

_ERROR = {"$ref": "#/components/responses/Error"}


def _param(name: str, where: str, schema: JSON, description: str, required: bool = False) -> JSON:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


_ORDER_ID = _param("order_id", "path", {"type": "string"}, "The order id, e.g. ORD-000001.")
_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_STATUS = {"type": "string", "enum": [str(s) for s in OrderStatus]}
"""An order's (or a line's) status: the core's closed set."""


def _json(schema: JSON, description: str) -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


_SCHEMAS: JSON = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "string",
                "description": "What is wrong, naming the parameter when one is at fault.",
                "examples": ["as_of: not an ISO-8601 time: 'yesterday'"],
            },
            "version": {
                "type": "integer",
                "description": "read-your-writes: the version the projection has",
            },
        },
    },
    "ExternalRef": {
        "type": "object",
        "properties": {"system": {"type": "string"}, "ref": {"type": "string"}},
    },
    "Line": {
        "type": "object",
        "properties": {
            "line_id": {"type": "string"},
            "sku": {"type": "string"},
            "quantity": {"type": "integer"},
            "unit_price": {"type": "string", "description": "decimal"},
            "site": _STR,
            "warehouse": _STR,
            "status": {**_STATUS, "description": "the line's status, or the order's"},
            "follows_order_status": {"type": "boolean"},
        },
    },
    "Order": {
        "type": "object",
        "description": "An order's state: the fold of its events (up to as_of when given).",
        "properties": {
            "order_id": {"type": "string"},
            "version": {"type": "integer", "description": "seq of the last event folded"},
            "status": _STATUS,
            "status_reason": {"type": "string"},
            "channel": {"type": "string"},
            "customer_id": {"type": "string"},
            "currency": {"type": "string"},
            "company": _STR,
            "invoice_customer": _STR,
            "fulfillment_provider": _STR,
            "provider_order_id": _STR,
            "tracking_number": _STR,
            "invoice_id": _STR,
            "channel_status": _STR,
            "validation_errors": {"type": "array", "items": {"type": "string"}},
            "external_refs": {"type": "array", "items": _ref("ExternalRef")},
            "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
            "billing_provider": _STR,
            "flow": _STR,
            "flow_version": {"type": ["integer", "null"]},
            "steps": {"type": "object", "description": "the latest result of each flow step"},
            "pending_actions": {
                "type": "array",
                "items": {"type": "object"},
                "description": "provider actions the order waits for",
            },
            "failed_step": {
                "type": ["string", "null"],
                "description": "the step a reprocess restarts from",
            },
            "waiting_on": {"type": ["string", "null"], "description": "why the order waits"},
            "ship_to": {"type": "object"},
            "lines": {"type": "array", "items": _ref("Line")},
            "created_at": _TIME,
            "updated_at": _TIME,
            "as_of": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "OrderSummary": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "version": {"type": "integer"},
            "status": _STATUS,
            "status_reason": {"type": "string"},
            "channel": {"type": "string"},
            "customer_id": {"type": "string"},
            "company": _STR,
            "fulfillment_provider": _STR,
            "external_refs": {"type": "array", "items": _ref("ExternalRef")},
            "validation_errors": {"type": "array", "items": {"type": "string"}},
            "failed_step": _STR,
            "waiting_on": _STR,
            "updated_at": _TIME,
        },
    },
    "OrderPage": {
        "type": "object",
        "properties": {
            "orders": {"type": "array", "items": _ref("OrderSummary")},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as cursor (with the same filters) for the next page; "
                "null on the last page. A page may hold fewer than limit orders.",
            },
        },
    },
    "Event": {
        "type": "object",
        "description": "One event of the history; payload is the event minus its envelope.",
        "properties": {
            "seq": {"type": "integer"},
            "type": {"type": "string", "enum": [e.__name__ for e in EVENT_TYPES]},
            "business_event": {"type": "string", "enum": [e.business_event for e in EVENT_TYPES]},
            "topic": {"type": "string", "examples": [e.topic for e in EVENT_TYPES]},
            "occurred_at": _TIME,
            "status": {**_STATUS, "description": "the order's status after it"},
            "status_reason": {"type": "string"},
            "event_id": {"type": "string"},
            "correlation_id": {"type": "string"},
            "causation_id": {"type": "string"},
            "source": {"type": "string"},
            "payload": {"type": "object"},
        },
    },
    "History": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "version": {"type": "integer"},
            "events": {"type": "array", "items": _ref("Event")},
        },
    },
    "Change": {
        "type": "object",
        "description": "data of a server-sent 'change' event",
        "properties": {
            "type": {"type": "string"},
            "order_id": {"type": "string"},
            "seq": {"type": "integer"},
            "topic": {"type": "string"},
            "status": {"type": "string"},
            "status_reason": {"type": "string"},
            "occurred_at": _TIME,
        },
    },
    "Stats": {
        "type": "object",
        "properties": {
            "orders": {"type": "integer"},
            "events": {"type": "integer", "description": "events folded (duplicates excluded)"},
            "duplicates": {"type": "integer"},
            "undecodable": {"type": "integer"},
            "by_status": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string"},
                        "reason": {"type": "string"},
                        "orders": {"type": "integer"},
                    },
                },
            },
            "events_per_second": {"type": "number", "description": "over the last minute"},
            "throughput": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "events folded in each of the last 60 seconds, oldest first",
            },
            "on_hold": {"type": "integer"},
            "on_hold_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
            "held_orders": {
                "type": "array",
                "description": "the first orders on hold (page GET /orders?status=On hold for all)",
                "items": {
                    "type": "object",
                    "properties": {
                        "order_id": {"type": "string"},
                        "reason": {"type": "string"},
                        "since": _TIME,
                        "details": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "waiting": {
                "type": "object",
                "description": "events read before their predecessors: order id -> seqs",
                "additionalProperties": {"type": "array", "items": {"type": "integer"}},
            },
            "providers": {
                "type": "array",
                "description": "activity of each provider named by events (empty until one reports)",
                "items": {
                    "type": "object",
                    "properties": {
                        "provider": {"type": "string"},
                        "events": {"type": "integer"},
                        "last_event_at": {"type": ["string", "null"], "format": "date-time"},
                        "events_last_minute": {"type": "integer"},
                    },
                },
            },
            "caught_up": {"type": "boolean"},
            "live_streams": {"type": "integer"},
        },
    },
}

_HTML = {"description": "the dashboard page", "content": {"text/html": {}}}
_RESPONSES_400 = {"400": _ERROR, "401": _ERROR}


def openapi() -> JSON:
    spec = _spec()
    paths, schemas = desk_paths()
    for path, item in paths.items():
        spec["paths"][path] = {**spec["paths"].get(path, {}), **item}
    spec["components"]["schemas"] = {**schemas, **spec["components"]["schemas"]}
    return spec


def _spec() -> JSON:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kafka-iom read side",
            "version": "1.0.0",
            "description": (
                "Orders as the projection of the event topics sees them: current and past "
                "state, history, listing, stats and live events. Every data route needs "
                "'Authorization: Bearer <token>' when the server has OMS_API_TOKEN set "
                "(access_token=<token> as a parameter also works, for EventSource). Errors "
                'are JSON: {"error": "..."}.'
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": _SCHEMAS,
            "responses": {
                "Error": _json(_ref("Error"), "an error; the message says what is wrong"),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/orders": {
                "get": {
                    "summary": "List orders by order id, with filters and cursor paging",
                    "security": [{"bearer": []}],
                    "parameters": [
                        _param("status", "query", _STATUS, "e.g. On hold"),
                        _param("reason", "query", {"type": "string"}, "e.g. Validation failed"),
                        _param("provider", "query", {"type": "string"}, "fulfillment provider"),
                        _param(
                            "external_ref",
                            "query",
                            {"type": "string"},
                            "system:ref, e.g. bigcommerce:118 (anything else is a 400)",
                        ),
                        _param(
                            "limit",
                            "query",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                            "orders per page",
                        ),
                        _param("cursor", "query", {"type": "string"}, "next_cursor of the last page"),
                    ],
                    "responses": {"200": _json(_ref("OrderPage"), "a page"), **_RESPONSES_400},
                }
            },
            "/orders/{order_id}": {
                "get": {
                    "summary": "An order's current state, its state at a past time, or "
                    "(read-your-writes) its state once it reaches a version",
                    "security": [{"bearer": []}],
                    "parameters": [
                        _ORDER_ID,
                        _param(
                            "as_of",
                            "query",
                            {"type": "string", "format": "date-time"},
                            "time travel: fold only the events that occurred at or before "
                            "this ISO-8601 time (UTC when it has no offset)",
                        ),
                        _param(
                            "min_version",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "answer only with this version or a later one: 409 when the "
                            "projection is behind (504 after wait)",
                        ),
                        _param(
                            "wait",
                            "query",
                            {"type": "number", "minimum": 0, "maximum": 30},
                            "with min_version: seconds to wait for that version",
                        ),
                    ],
                    "responses": {
                        "200": _json(_ref("Order"), "the order"),
                        **_RESPONSES_400,
                        "404": _ERROR,
                        "409": _ERROR,
                        "504": _ERROR,
                    },
                }
            },
            "/orders/{order_id}/history": {
                "get": {
                    "summary": "Every event of the order in seq order, generic over event types",
                    "security": [{"bearer": []}],
                    "parameters": [_ORDER_ID],
                    "responses": {
                        "200": _json(_ref("History"), "the history"),
                        **_RESPONSES_400,
                        "404": _ERROR,
                    },
                }
            },
            "/orders/{order_id}/reprocess": {
                "post": {
                    "summary": "Ask the writer to reprocess the order from its failed step "
                    "(publishes ReprocessOrder; 409 when no step failed, 501 when not wired)",
                    "security": [{"bearer": []}],
                    "parameters": [_ORDER_ID],
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "order_id": {"type": "string"},
                                    "command_id": {"type": "string"},
                                    "status": {"const": "accepted"},
                                },
                            },
                            "the command was published",
                        ),
                        **_RESPONSES_400,
                        "404": _ERROR,
                        "409": _ERROR,
                        "501": _ERROR,
                    },
                }
            },
            "/stats": {
                "get": {
                    "summary": "Counts by status and reason, throughput, orders on hold, provider activity",
                    "security": [{"bearer": []}],
                    "responses": {"200": _json(_ref("Stats"), "the stats"), **_RESPONSES_400},
                }
            },
            "/events/stream": {
                "get": {
                    "summary": "Server-sent events: 'change' per new event (data: Change), "
                    "'stats' every second (data: Stats), 'lagged' when events were dropped "
                    "for a slow client (data: {dropped})",
                    "security": [{"bearer": []}],
                    "parameters": [
                        _param("order_id", "query", {"type": "string"}, "only this order"),
                        _param(
                            "stats",
                            "query",
                            {"type": "boolean", "default": True},
                            "send 'stats' events",
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "an endless event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_RESPONSES_400,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness, and whether the projection has read to the end",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"const": "ok"},
                                    "caught_up": {"type": "boolean"},
                                },
                            },
                            "up",
                        )
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                }
            },
            "/": {
                "get": {
                    "summary": "Redirects to the dashboard",
                    "responses": {"302": {"description": "to /dashboard/"}},
                }
            },
            "/dashboard/": {"get": {"summary": "The operations dashboard", "responses": {"200": _HTML}}},
            "/dashboard/orders/{order_id}": {
                "get": {
                    "summary": "The dashboard's order page: state and journey timeline",
                    "parameters": [_ORDER_ID],
                    "responses": {"200": _HTML},
                }
            },
            "/dashboard/assets/{name}": {
                "get": {
                    "summary": "The dashboard's script, styles and icon",
                    "parameters": [_param("name", "path", {"type": "string"}, "file name")],
                    "responses": {"200": {"description": "the file"}, "404": _ERROR},
                }
            },
            **operations_paths(),
        },
    }
