"""The OpenAPI description of the operator's routes (``operations.py``), merged into
``/openapi.json`` by ``openapi.py``."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_OBJ = {"type": "object"}
_SEC: list[JSON] = [{"bearer": []}]
_ERR = {"$ref": "#/components/responses/Error"}


def _q(name: str, schema: JSON, description: str) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _ok(description: str, media: str = "application/json") -> JSON:
    return {
        "description": description,
        "content": {media: {"schema": _OBJ if media.endswith("json") else {"type": "string"}}},
    }


def _body(description: str) -> JSON:
    return {"required": False, "content": {"application/json": {"schema": _OBJ}}, "description": description}


_TIME = {"type": "string", "format": "date-time"}
_TARGET = "``{kind: flow|provider, name, flow_version?}``"


def operations_paths() -> JSON:
    errors = {
        "summary": "The error queues, newest first",
        "security": _SEC,
        "parameters": [
            _q("provider", {"type": "string"}, "only this provider's"),
            _q(
                "category",
                {"enum": ["provider_inbound", "provider_action", "orchestration_step", "policy"]},
                "one queue",
            ),
            _q("since", _TIME, "at or after"),
            _q("until", _TIME, "before"),
            _q("order_id", {"type": "string"}, "one order's"),
            _q("state", {"enum": ["open", "resolved", "all"]}, "default: all"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "default 100"),
        ],
        "responses": {"200": _ok("the errors"), "400": _ERR, "501": _ERR},
    }
    return {
        "/errors": {"get": errors},
        "/errors/reprocess": {
            "post": {
                "summary": "Reprocess errors: by id (error_ids) or every open one the filters "
                "(category, provider, since) find; a resolved error is a no-op that says so",
                "security": _SEC,
                "requestBody": _body("``{error_ids: [...]}`` or ``{category, provider, since}``"),
                "responses": {
                    "202": _ok("something was reprocessed"),
                    "200": _ok("nothing to do, and why"),
                    "400": _ERR,
                },
            }
        },
        "/alerts": {
            "get": {
                "summary": "Alerts that are Active or In progress (include_resolved for all)",
                "security": _SEC,
                "parameters": [_q("include_resolved", {"type": "boolean"}, "resolved ones too")],
                "responses": {"200": _ok("the alerts"), "400": _ERR},
            }
        },
        "/alerts/{alert_id}/take": {
            "post": {
                "summary": "An operator takes an Active alert: it becomes In progress",
                "security": _SEC,
                "parameters": [
                    {
                        "name": "alert_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "rule:subject",
                    }
                ],
                "responses": {"200": _ok("the alert, In progress"), "409": _ERR},
            }
        },
        "/insights": {
            "get": {
                "summary": "KPIs: orders by status/reason, in jeopardy, past due, cycle times, on-time "
                "ship ratio, fill rate, book-to-ship, provider requests/failures/latency/SLA %",
                "security": _SEC,
                "parameters": [
                    _q(
                        "window",
                        {"type": "integer", "minimum": 1, "maximum": 1440},
                        "last N minutes (default: since the stream began)",
                    )
                ],
                "responses": {"200": _ok("the insights"), "400": _ERR},
            }
        },
        "/insights/metrics": {
            "get": {
                "summary": "The insights and alert counts in Prometheus' text format",
                "security": _SEC,
                "responses": {"200": _ok("gauges", "text/plain")},
            }
        },
        "/pauses": {
            "get": {
                "summary": "Paused flows and providers",
                "security": _SEC,
                "responses": {"200": _ok("the pauses")},
            },
            "post": {
                "summary": "Pause a flow (version) or a provider: new requests wait at their step",
                "security": _SEC,
                "requestBody": _body(f"{_TARGET} and an optional reason"),
                "responses": {"202": _ok("paused"), "200": _ok("paused already"), "400": _ERR},
            },
        },
        "/pauses/resume": {
            "post": {
                "summary": "Resume a paused target: its held requests go out in the order they queued",
                "security": _SEC,
                "requestBody": _body(_TARGET),
                "responses": {"202": _ok("resumed"), "200": _ok("was not paused"), "400": _ERR},
            }
        },
        "/what-if": {
            "post": {
                "summary": "Replay recorded orders through a draft flow: a diff per order and a summary",
                "security": _SEC,
                "requestBody": _body("``{flow: <draft YAML>, since, until?, orders?}``"),
                "responses": {
                    "200": _ok("the report"),
                    "422": _ok("the draft is refused, or no orders"),
                    "400": _ERR,
                },
            },
            "get": {
                "summary": "The last what-if report this API ran",
                "security": _SEC,
                "responses": {"200": _ok("the report"), "404": _ERR},
            },
        },
    }
