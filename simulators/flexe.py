"""Flexe simulator: outbound orders and the ``order_shipped`` webhook.

Flexe's own API reference is not public (provider-apis.md section 2); this follows the
ASSUMED "Flexe sim" contract of section 6, which a connector must keep pluggable:

- ``Authorization: Bearer <api token>``, else 401 ``{"error": "unauthorized", "message"}``.
- 100 requests per 60 s (the documented limit of Microsoft's Flexe connector), then 429
  with ``Retry-After`` (seconds until the window resets).
- ``POST /outbound_orders`` ``{ownerId, externalId, shipTo{name, line1, line2, city, state,
  postalCode, country, phone, email}, lines[{lineId, sku, quantity}], shippingMethod}``:
  201 ``{id, externalId, status: "pending"}``. The same ``ownerId`` + ``externalId``
  again answers 200 with the existing order's ``{id, externalId, status}`` (idempotent
  create). Invalid input is 422 ``{"error": "validation_failed", "message", "errors":
  [{"field", "message"}]}``.
- ``GET /outbound_orders/{id}``: ``{id, ownerId, externalId, status (pending | processing
  | shipped | cancelled), shipTo, shippingMethod, createdAt, updatedAt, lines[{lineId,
  sku, quantity, shippedQuantity}], shipments[{trackingNumber, carrier, shippedAt,
  lines}]}``; 404 ``{"error": "not_found", ...}``.

- ``GET /outbound_orders?externalId=`` lists the orders of one external id (ASSUMED).
- ``POST /outbound_orders/{id}/cancel`` ``{"lineIds": [...]}`` (optional; default: every
  line) cancels before shipment (provider-apis.md section 8, ASSUMED); 409 once shipped.
  An order whose lines are all cancelled is ``cancelled``.

Webhook (ASSUMED): ``POST <--webhook-url>`` ``{"eventId", "eventType": "order_shipped",
"ownerId", "orderId", "externalId", "eventTimestamp", "shipment": {"trackingNumber",
"carrier", "lines": [{"lineId", "sku", "quantity"}]}}``, unsigned, at least once:
retried after 10, 60, 300, 900 and 3600 s (ASSUMED, scaled), then parked; the common
``duplicate_webhook`` fault delivers the next event twice with the same ``eventId``.

Control plane (besides the common one):

- ``GET /_sim/outbound_orders`` and ``GET /_sim/outbound_orders/{id}``: the orders as the
  API shows them.
- ``POST /_sim/outbound_orders/{id}/process``: pending -> processing (no webhook).
- ``POST /_sim/outbound_orders/{id}/ship`` ``{"trackingNumber", "carrier": "UPS",
  "lines": [{"lineId", "quantity"}]}`` (all optional; default: everything left, a
  generated tracking number): records a shipment, sets ``shipped`` (or ``processing``
  while something is left) and sends ``order_shipped``. Answers ``{"order", "event"}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from simulators.common import (
    ApiError,
    FixedWindowLimiter,
    Holdings,
    Route,
    SimSettings,
    Simulator,
    iso,
    json_body,
    retry_after_header,
    run,
    setting,
)

ROUTES: Final = (
    Route("POST", "/outbound_orders", "create_outbound_order"),
    Route("GET", "/outbound_orders", "list_outbound_orders"),
    Route("GET", "/outbound_orders/{order_id}", "get_outbound_order"),
    Route("POST", "/outbound_orders/{order_id}/cancel", "cancel_outbound_order"),
)

CONTROL_ROUTES: Final = (
    Route("GET", "/_sim/outbound_orders", "sim_list"),
    Route("GET", "/_sim/outbound_orders/{order_id}", "sim_get"),
    Route("POST", "/_sim/outbound_orders/{order_id}/process", "sim_process"),
    Route("POST", "/_sim/outbound_orders/{order_id}/ship", "sim_ship"),
)

RETRY_SCHEDULE: Final = (10.0, 60.0, 300.0, 900.0, 3600.0)
SHIP_TO_REQUIRED: Final = ("name", "line1", "city", "postalCode", "country")
SHIP_TO_FIELDS: Final = (*SHIP_TO_REQUIRED, "line2", "state", "phone", "email")
ERROR_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    422: "validation_failed",
    429: "rate_limited",
}


@dataclass
class FlexeSettings(SimSettings):
    api_token: str = setting("sim-flexe-token", "the accepted bearer API token")
    owner_id: str = setting("sim-owner", "the shipper account (Owner ID)")
    rate_limit: int = setting(100, "requests per window")
    rate_window: float = setting(60.0, "window, seconds")


@dataclass
class OutboundOrder:
    id: str
    owner_id: str
    external_id: str
    ship_to: dict[str, str]
    shipping_method: str
    lines: list[dict[str, Any]]
    created_at: str
    updated_at: str
    status: str = "pending"
    shipments: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ownerId": self.owner_id,
            "externalId": self.external_id,
            "status": self.status,
            "shipTo": dict(self.ship_to),
            "shippingMethod": self.shipping_method,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "lines": [dict(line) for line in self.lines],
            "shipments": [dict(s) for s in self.shipments],
        }


@dataclass
class FlexeStore:
    orders: dict[str, OutboundOrder] = field(default_factory=dict)
    by_external_id: dict[tuple[str, str], str] = field(default_factory=dict)


class FlexeSimulator(Simulator):
    name = "flexe"
    vendor_routes = ROUTES
    control_routes = CONTROL_ROUTES
    settings: FlexeSettings

    def __init__(self, settings: FlexeSettings | None = None) -> None:
        self.store = FlexeStore()
        self.limiter = FixedWindowLimiter(100, 60.0)
        super().__init__(settings or FlexeSettings())

    def reset_state(self) -> None:
        self.store = FlexeStore()
        self.settings_changed()

    def holdings(self) -> Holdings:
        return Holdings(
            "outbound orders", "externalId", Counter(o.external_id for o in self.store.orders.values())
        )

    def settings_changed(self) -> None:
        self.limiter = FixedWindowLimiter(self.settings.rate_limit, self.settings.rate_window)

    # -- auth, throttling, errors --

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"Bearer {self.settings.api_token}":
            return self.error_response(request, ApiError(401, "Invalid or missing API token."))
        if not self.limiter.hit():
            return self.throttled_response(request, self.limiter.reset_in)
        return None

    def throttled_response(self, request: web.Request, retry_after: float) -> web.Response:
        message = f"Rate limit exceeded: {self.limiter.quota} requests per {self.limiter.window:g} seconds."
        headers = {"Retry-After": retry_after_header(retry_after)}
        return self.error_response(request, ApiError(429, message, headers=headers))

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        body: dict[str, Any] = {
            "error": error.code or ERROR_CODES.get(error.status, "server_error"),
            "message": error.message,
        }
        if error.details:
            body["errors"] = [{"field": k, "message": v} for k, v in error.details.items()]
        return web.json_response(body, status=error.status, headers=error.headers)

    # -- outbound orders --

    def _order(self, request: web.Request) -> OutboundOrder:
        order = self.store.orders.get(request.match_info["order_id"])
        if order is None:
            raise ApiError(404, f"Outbound order {request.match_info['order_id']} not found.")
        return order

    async def create_outbound_order(self, request: web.Request) -> web.Response:
        try:
            body = await json_body(request)
        except ApiError as error:
            raise ApiError(400, error.message) from error
        errors = _validate(body, self.settings.owner_id)
        if errors:
            raise ApiError(422, "The outbound order is invalid.", details=errors)
        key = (body["ownerId"], body["externalId"])
        existing = self.store.by_external_id.get(key)
        if existing is not None:
            order = self.store.orders[existing]
            return web.json_response(_summary(order), status=200)
        now = iso(self.clock.now())
        order = OutboundOrder(
            id=f"FLX-{self.ids.next('outbound-order'):06d}",
            owner_id=body["ownerId"],
            external_id=body["externalId"],
            ship_to={k: str(v) for k, v in body["shipTo"].items() if k in SHIP_TO_FIELDS and v is not None},
            shipping_method=str(body.get("shippingMethod") or "ground"),
            lines=[
                {"lineId": str(x["lineId"]), "sku": x["sku"], "quantity": x["quantity"], "shippedQuantity": 0}
                for x in body["lines"]
            ],
            created_at=now,
            updated_at=now,
        )
        self.store.orders[order.id] = order
        self.store.by_external_id[key] = order.id
        return web.json_response(
            _summary(order), status=201, headers={"Location": f"/outbound_orders/{order.id}"}
        )

    async def get_outbound_order(self, request: web.Request) -> web.Response:
        return web.json_response(self._order(request).as_json())

    async def list_outbound_orders(self, request: web.Request) -> web.Response:
        wanted = request.query.get("externalId")
        chosen = [o.as_json() for o in self.store.orders.values() if wanted in (None, o.external_id)]
        return web.json_response({"outbound_orders": chosen})

    async def cancel_outbound_order(self, request: web.Request) -> web.Response:
        """Cancel an order (or ``lineIds`` of it) before it ships: 409 once shipped."""
        order = self._order(request)
        body = await json_body(request) if request.can_read_body else {}
        if order.status == "shipped":
            raise ApiError(409, f"outbound order {order.id} has shipped and cannot be cancelled")
        named = body.get("lineIds")
        for line in order.lines:
            if named is None or line["lineId"] in named:
                if line["shippedQuantity"]:
                    raise ApiError(409, f"line {line['lineId']} of {order.id} has shipped")
                line["cancelled"] = True
        if all(line.get("cancelled") for line in order.lines):
            order.status = "cancelled"
        order.updated_at = iso(self.clock.now())
        return web.json_response(order.as_json())

    # -- control plane --

    async def sim_list(self, request: web.Request) -> web.Response:
        orders = [o.as_json() for o in self.store.orders.values()]
        return web.json_response({"count": len(orders), "outbound_orders": orders})

    async def sim_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._order(request).as_json())

    async def sim_process(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if order.status != "pending":
            raise ApiError(409, f"outbound order {order.id} is {order.status}, not pending")
        order.status = "processing"
        order.updated_at = iso(self.clock.now())
        return web.json_response(order.as_json())

    async def sim_ship(self, request: web.Request) -> web.Response:
        order = self._order(request)
        spec = await json_body(request, default={})
        if order.status in ("shipped", "cancelled"):
            raise ApiError(409, f"outbound order {order.id} is already {order.status}")
        shipped = _lines_to_ship(order, spec.get("lines"))
        now = iso(self.clock.now())
        shipment = {
            "trackingNumber": str(spec.get("trackingNumber") or f"1ZSIM{self.ids.next('tracking'):010d}"),
            "carrier": str(spec.get("carrier") or "UPS"),
            "shippedAt": now,
            "lines": shipped,
        }
        by_line = {line["lineId"]: line for line in order.lines}
        for item in shipped:
            by_line[item["lineId"]]["shippedQuantity"] += item["quantity"]
        order.shipments.append(shipment)
        done = all(line["shippedQuantity"] >= line["quantity"] for line in order.lines)
        order.status = "shipped" if done else "processing"
        order.updated_at = now
        event_id = self.ids.uuid("event")
        event = {
            "eventId": event_id,
            "eventType": "order_shipped",
            "ownerId": order.owner_id,
            "orderId": order.id,
            "externalId": order.external_id,
            "eventTimestamp": now,
            "shipment": {k: shipment[k] for k in ("trackingNumber", "carrier", "lines")},
        }
        self.emit("order_shipped", event_id, event, RETRY_SCHEDULE)
        return web.json_response({"order": order.as_json(), "event": event})


def _summary(order: OutboundOrder) -> dict[str, str]:
    return {"id": order.id, "externalId": order.external_id, "status": order.status}


def _validate(body: Mapping[str, Any], owner_id: str) -> dict[str, str]:
    """Every problem with a create request, field path -> message (empty when valid)."""
    errors: dict[str, str] = {}
    owner = body.get("ownerId")
    if not isinstance(owner, str) or not owner:
        errors["ownerId"] = "is required"
    elif owner != owner_id:
        errors["ownerId"] = "is not an owner this API token may use"
    external = body.get("externalId")
    if not isinstance(external, str) or not external:
        errors["externalId"] = "is required"
    ship_to = body.get("shipTo")
    if not isinstance(ship_to, dict):
        errors["shipTo"] = "is required"
    else:
        for name in SHIP_TO_REQUIRED:
            if not isinstance(ship_to.get(name), str) or not ship_to[name].strip():
                errors[f"shipTo.{name}"] = "is required"
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        errors["lines"] = "must have at least one line"
        return errors
    seen: set[str] = set()
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            errors[where] = "must be an object"
            continue
        line_id = line.get("lineId")
        if not isinstance(line_id, str | int) or isinstance(line_id, bool) or str(line_id) == "":
            errors[f"{where}.lineId"] = "is required"
        elif str(line_id) in seen:
            errors[f"{where}.lineId"] = "is duplicated"
        else:
            seen.add(str(line_id))
        if not isinstance(line.get("sku"), str) or not line["sku"]:
            errors[f"{where}.sku"] = "is required"
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            errors[f"{where}.quantity"] = "must be a positive integer"
    return errors


def _lines_to_ship(order: OutboundOrder, spec: Any) -> list[dict[str, Any]]:
    by_line = {line["lineId"]: line for line in order.lines}
    if spec is None:
        chosen = [
            {"lineId": x["lineId"], "sku": x["sku"], "quantity": x["quantity"] - x["shippedQuantity"]}
            for x in order.lines
            if x["quantity"] > x["shippedQuantity"]
        ]
    elif isinstance(spec, list):
        chosen = []
        for item in spec:
            line = by_line.get(str(item.get("lineId"))) if isinstance(item, dict) else None
            if line is None:
                raise ApiError(400, f"unknown line {item!r}")
            quantity = item.get("quantity", line["quantity"] - line["shippedQuantity"])
            if (
                not isinstance(quantity, int)
                or quantity < 1
                or quantity > line["quantity"] - line["shippedQuantity"]
            ):
                raise ApiError(400, f"line {line['lineId']}: cannot ship {quantity!r}")
            chosen.append({"lineId": line["lineId"], "sku": line["sku"], "quantity": quantity})
    else:
        raise ApiError(400, "lines must be a list of {lineId, quantity}")
    if not chosen:
        raise ApiError(409, f"outbound order {order.id} has nothing left to ship")
    return chosen


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m simulators.flexe`` (``oms simulator flexe``): ``--help`` lists its settings."""
    return run(
        FlexeSimulator,
        FlexeSettings,
        "flexe",
        8103,
        "Flexe simulator (ASSUMED wire format): outbound orders, order_shipped webhooks, /_sim.",
        argv,
        prog,
    )


if __name__ == "__main__":
    raise SystemExit(main())
