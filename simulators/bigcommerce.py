"""BigCommerce simulator: V2 Orders and V3 webhooks, as in provider-apis.md section 1
and the "BigCommerce sim" contract of section 6.

Vendor API (base ``/stores/{store_hash}``), ``X-Auth-Token`` required everywhere:

- V2 orders: ``GET /v2/orders`` (filters, ``sort``, ``page``/``limit``; a bare array, 204
  when empty, 413 above ``limit=250``), ``GET /v2/orders/count``, ``GET|PUT
  /v2/orders/{id}``, ``GET /v2/orders/{id}/products``, ``GET
  /v2/orders/{id}/shipping_addresses`` (also ``shippingaddresses``, the spelling of the
  link objects in the OAS), ``GET|POST /v2/orders/{id}/shipments`` (204 when none),
  ``GET|PUT|DELETE /v2/orders/{id}/shipments/{shipment_id}``, ``GET /v2/order_statuses``.
- V3 refunds (section 8): ``POST /v3/orders/{id}/payment_actions/refund_quotes`` and
  ``.../refunds`` with PRODUCT ``items`` (``item_id`` = order product id, ``quantity``) and
  ``payments`` (one store-credit method; the amounts must match), ``GET
  /v3/orders/payment_actions/refunds?order_id:in=``; a refund moves the order to 14
  Partially Refunded, or 4 Refunded when nothing is left.
- V3 returns (the Orders V3 spec's Returns: ``CreateReturnRequest``, ``Return_Full``,
  ``ReturnItem``, ``Status_Full`` OPEN/CLOSED/REMOVED are in today's ``orders.v3.yml``; its
  paths were ``x-private`` and left the published spec in 2020, revision dbde151f has
  them): ``POST /v3/orders/{id}/returns`` ``{"items": [{"reference_id": {"type":
  "ORDER_PRODUCT", "value": "<order product id>"}, "quantity", "preferred_outcome_id",
  "reason_id"}], "comment"}`` is the shopper's return request (201, status OPEN), ``GET
  /v3/orders/returns?order_id=&customer_id=&status=&id=&sort=id|order_id|date_modified
  &direction=asc|desc&page=&limit=`` lists them in the V3 envelope. ASSUMED where the
  spec is silent: a return's ``id`` and ``order_id`` (``Return_Full`` lists neither, its
  status updates and filters name both), the returnable quantity (what shipped, or all of
  it once the order is Shipped or Completed, less what open or closed returns hold: 422
  beyond it), and the store's reasons and preferred outcomes (the control panel's
  defaults: reasons 1-4, outcomes 1 Repair, 2 Replace, 3 Receive Store Credit). No
  webhook scope tells of a return (section 1.8 lists none): a connector polls.
- V3 webhooks: ``POST|GET /v3/hooks``, ``GET|PUT|DELETE /v3/hooks/{id}``, answered in the
  V3 envelope ``{"data": ..., "meta": {...}}`` of the vendor's ``webhooks.v3.yml``
  (section 1.8 quotes the bare object of the overview page; the OAS wraps it).

Errors: V2 paths answer ``[{"status": 400, "message": "..."}]``, V3 paths
``{"status", "title", "type", "errors"}`` (section 1.6). Every vendor response carries the
four ``X-Rate-Limit-*`` headers; the quota is real (default 150 per 30 s) and a 429 can
also be injected (section 1.6).

Webhooks (section 1.8): light payloads ``{scope, store_id, data, hash, created_at,
producer}`` to every active hook whose scope matches (``store/order/*`` matches
``store/order/created``), with the hook's custom ``headers`` and the Standard Webhooks
headers (signed by the reference ``standardwebhooks`` library, secret ``base64(client_secret)``). A retry
resends the same body, so the same ``hash`` and ``webhook-id``; retries wait 60, 180, 300,
600, 900, 1800, 3600, 7200, 21600, 50400 and 86400 s (times ``time_scale``), then the hook
is deactivated (``is_active: false``). Not modelled: the blocklisting by success ratio,
the one-minute activation delay, and the port-443 rule for destinations (any URL is
accepted, so tests can use 127.0.0.1). ``shipping_provider`` must be one of the documented
lower-case values (``ups``, ``fedex``, ``usps``, ... or ``carrier_<id>``), else 400.

Control plane (besides the common one in :mod:`simulators.common`):

- ``POST /_sim/orders`` creates an order and fires ``store/order/created``. Every field is
  optional: ``{"status_id": 11, "customer_id": 0, "billing_address": {...},
  "shipping_addresses": [{...}] (or "shipping_address": {...}), "products": [{"sku",
  "name", "quantity", "price", "product_id", "upc", "address_index"}], "currency_code",
  "payment_method", "payment_status", "channel_id", "external_id",
  "external_order_id", "external_source", "order_source", "customer_message",
  "staff_notes", "shipping_cost", "tax_rate"}``; status 0, 1 or 7 make the orders an
  intake must skip. Answers 201 with the order view below.
- ``GET /_sim/orders`` and ``GET /_sim/orders/{id}``: ``{"order": <as GET /v2/orders/{id}>,
  "products": [...], "shipping_addresses": [...], "shipments": [...], "status_history":
  [{"at", "previous_status_id", "new_status_id", "source"}]}`` with ``source`` one of
  ``create``, ``api`` (a ``PUT``), ``sim``, ``shipment`` (auto status).
- ``POST /_sim/orders/{id}/status`` ``{"status_id": n}``: the merchant changes the status
  (fires ``store/order/statusUpdated`` and ``store/order/updated``).
- ``POST /_sim/orders/{id}/returns``: the shopper requests a return on the storefront, the
  body of ``POST /v3/orders/{id}/returns``; answers the return. ``GET /_sim/orders/{id}``
  lists the order's returns too.

With ``--webhook-url`` the simulator registers hooks for ``--webhook-scopes`` to that URL
at start and after every reset (a real store keeps them; the connector may register its
own through ``/v3/hooks`` too). ``--auto-ship-status`` moves an order to Shipped (2) or
Partially Shipped (3) when a shipment is created (section 6 says: configurable).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from simulators.common import (
    ApiError,
    Delivery,
    FixedWindowLimiter,
    Holdings,
    Json,
    Route,
    SimSettings,
    Simulator,
    json_body,
    run,
    setting,
)
from streams.adapters.alert_webhook import signed_headers

V2: Final = "/stores/{store_hash}/v2"
V3: Final = "/stores/{store_hash}/v3"
ORDER: Final = V2 + r"/orders/{order_id:\d+}"

ROUTES: Final = (
    Route("GET", V2 + "/orders", "list_orders"),
    Route("GET", V2 + "/orders/count", "count_orders"),
    Route("GET", ORDER, "get_order"),
    Route("PUT", ORDER, "update_order"),
    Route("GET", ORDER + "/products", "list_products"),
    Route("GET", ORDER + "/shipping_addresses", "list_shipping_addresses"),
    Route("GET", ORDER + "/shippingaddresses", "list_shipping_addresses"),
    Route("GET", ORDER + "/shipments", "list_shipments"),
    Route("POST", ORDER + "/shipments", "create_shipment"),
    Route("GET", ORDER + r"/shipments/{shipment_id:\d+}", "get_shipment"),
    Route("PUT", ORDER + r"/shipments/{shipment_id:\d+}", "update_shipment"),
    Route("DELETE", ORDER + r"/shipments/{shipment_id:\d+}", "delete_shipment"),
    Route("GET", V2 + "/order_statuses", "list_statuses"),
    Route("GET", V2 + r"/order_statuses/{status_id:\d+}", "get_status"),
    Route("POST", V3 + r"/orders/{order_id:\d+}/payment_actions/refund_quotes", "create_refund_quote"),
    Route("POST", V3 + r"/orders/{order_id:\d+}/payment_actions/refunds", "create_refund"),
    Route("GET", V3 + "/orders/payment_actions/refunds", "list_refunds"),
    Route("POST", V3 + r"/orders/{order_id:\d+}/returns", "create_return"),
    Route("GET", V3 + "/orders/returns", "list_returns"),
    Route("POST", V3 + "/hooks", "create_hook"),
    Route("GET", V3 + "/hooks", "list_hooks"),
    Route("GET", V3 + r"/hooks/{hook_id:\d+}", "get_hook"),
    Route("PUT", V3 + r"/hooks/{hook_id:\d+}", "update_hook"),
    Route("DELETE", V3 + r"/hooks/{hook_id:\d+}", "delete_hook"),
)

CONTROL_ROUTES: Final = (
    Route("POST", "/_sim/orders", "sim_create_order"),
    Route("GET", "/_sim/orders", "sim_list_orders"),
    Route("GET", r"/_sim/orders/{order_id:\d+}", "sim_get_order"),
    Route("POST", r"/_sim/orders/{order_id:\d+}/status", "sim_set_status"),
    Route("POST", r"/_sim/orders/{order_id:\d+}/returns", "sim_request_return"),
)

# Section 1.5 [BC-OAS getOrderStatuses]: id -> (name, description, sort order).
ORDER_STATUSES: Final[Mapping[int, tuple[str, str, int]]] = {
    0: (
        "Incomplete",
        "An incomplete order happens when a shopper reached the payment page, "
        "but did not complete the transaction.",
        0,
    ),
    1: ("Pending", "Customer started the checkout process, but did not complete it.", 1),
    2: (
        "Shipped",
        "Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items action.",
        8,
    ),
    3: (
        "Partially Shipped",
        "Only some items in the order have been shipped, "
        "due to some products being pre-order only or other reasons.",
        6,
    ),
    4: ("Refunded", "Seller has used the Refund action.", 11),
    5: ("Cancelled", "Seller has cancelled an order, due to a stock inconsistency or other reasons.", 9),
    6: (
        "Declined",
        "Seller has marked the order as declined for lack of manual payment, or other reasons.",
        10,
    ),
    7: (
        "Awaiting Payment",
        "Customer has completed checkout process, but payment has yet to be confirmed.",
        2,
    ),
    8: (
        "Awaiting Pickup",
        "Order has been pulled, and is awaiting customer pickup from a seller-specified location.",
        5,
    ),
    9: (
        "Awaiting Shipment",
        "Order has been pulled and packaged, and is awaiting collection from a shipping provider.",
        4,
    ),
    10: (
        "Completed",
        "Client has paid for their digital product and their file(s) are available for download.",
        7,
    ),
    11: (
        "Awaiting Fulfillment",
        "Customer has completed the checkout process and payment has been confirmed.",
        3,
    ),
    12: (
        "Manual Verification Required",
        "Order is on hold while some aspect needs to be manually confirmed.",
        13,
    ),
    13: (
        "Disputed",
        "Customer has initiated a dispute resolution process "
        "for the PayPal transaction that paid for the order.",
        12,
    ),
    14: ("Partially Refunded", "Seller has partially refunded the order.", 14),
}

# Section 1.8 [BC-WH "Callback retry mechanism"].
RETRY_SCHEDULE: Final = (60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400)
SHIPPING_PROVIDERS: Final = {
    "": "",
    "auspost": "Australia Post",
    "canadapost": "Canada Post",
    "endicia": "Endicia",
    "usps": "USPS",
    "fedex": "FedEx",
    "royalmail": "Royal Mail",
    "ups": "UPS",
    "upsready": "UPS Ready",
    "shipperhq": "ShipperHQ",
}
TRACKING_LINKS: Final = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
}
V3_ERROR_TYPE: Final = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
MAX_LIMIT: Final = 250
MAX_HOOKS_PER_SCOPE: Final = 10
DEFAULT_ADDRESS: Final[Mapping[str, str]] = {
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "",
    "street_1": "455 Main Street",
    "street_2": "",
    "city": "Austin",
    "state": "Texas",
    "zip": "78751",
    "country": "United States",
    "country_iso2": "US",
    "phone": "555-123-4567",
    "email": "janedoe@example.com",
}
ORDER_SORT_FIELDS: Final = (
    "id",
    "customer_id",
    "date_created",
    "date_modified",
    "status_id",
    "channel_id",
    "external_id",
)


@dataclass
class BigCommerceSettings(SimSettings):
    store_hash: str = setting("simstore", "the store hash in every path")
    store_id: str = setting("1000001", "store_id in webhook payloads")
    api_token: str = setting("sim-bc-token", "the X-Auth-Token to accept")
    client_id: str = setting("sim-bc-client", "client_id shown on hooks")
    client_secret: str = setting(
        "sim-bc-client-secret", "signs webhooks: the Standard Webhooks secret is base64(client secret)"
    )
    rate_limit_quota: int = setting(150, "requests per window")
    rate_limit_window_ms: int = setting(30000, "rate-limit window")
    auto_ship_status: bool = setting(
        False, "a shipment moves the order to Shipped (2) or Partially Shipped (3)"
    )
    webhook_scopes: str = setting(
        "store/order/created,store/order/updated,store/order/statusUpdated,store/shipment/created",
        "scopes registered to --webhook-url at start (comma-separated)",
    )


@dataclass
class Product:
    id: int
    order_id: int
    product_id: int
    order_address_id: int
    name: str
    sku: str
    upc: str
    quantity: int
    price: Decimal
    quantity_shipped: int = 0
    quantity_refunded: int = 0


@dataclass
class Address:
    id: int
    order_id: int
    fields: dict[str, str]
    shipping_method: str = "Flat Rate"


@dataclass
class Shipment:
    id: int
    order_id: int
    order_address_id: int
    date_created: datetime
    items: list[dict[str, int]]
    tracking_number: str = ""
    tracking_link: str = ""
    shipping_provider: str = ""
    tracking_carrier: str = ""
    shipping_method: str = ""
    comments: str = ""


@dataclass
class StatusChange:
    at: str
    previous_status_id: int | None
    new_status_id: int
    source: str


@dataclass
class Order:
    id: int
    status_id: int
    customer_id: int
    date_created: datetime
    date_modified: datetime
    billing_address: dict[str, str]
    products: list[Product]
    addresses: list[Address]
    extra: dict[str, Any]
    shipping_cost: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)
    date_shipped: datetime | None = None
    shipments: list[Shipment] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)


RETURN_REASONS: Final = {
    1: "Received Wrong Product",
    2: "Ordered Wrong Product",
    3: "Not Satisfied with Product",
    4: "There is a Problem with the Product",
}
"""The control panel's default return reasons (Settings > Returns)."""
PREFERRED_OUTCOMES: Final = {1: "Repair", 2: "Replace", 3: "Receive Store Credit"}
"""The control panel's default return actions, the API's preferred outcomes."""
RETURN_STATUSES: Final = ("OPEN", "CLOSED", "REMOVED")


@dataclass
class Hook:
    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str] | None
    created_at: int
    updated_at: int
    auto: bool = False

    def matches(self, scope: str) -> bool:
        if self.scope.endswith("/*"):
            return scope.startswith(self.scope[:-1])
        return self.scope == scope


@dataclass
class BigCommerceStore:
    orders: dict[int, Order] = field(default_factory=dict)
    hooks: dict[int, Hook] = field(default_factory=dict)


class BigCommerceSimulator(Simulator):
    name = "bigcommerce"
    vendor_routes = ROUTES
    control_routes = CONTROL_ROUTES
    settings: BigCommerceSettings

    def __init__(self, settings: BigCommerceSettings | None = None) -> None:
        self.store = BigCommerceStore()
        self.limiter = FixedWindowLimiter(150, 30.0)
        super().__init__(settings or BigCommerceSettings())

    # -- state --

    def reset_state(self) -> None:
        self.store = BigCommerceStore()
        self.settings_changed()

    def holdings(self) -> Holdings:
        """Shipments per BigCommerce order id (the only documents a connector creates here;
        status writes are idempotent, ``status_history`` shows them)."""
        return Holdings(
            "shipments",
            "order id",
            {str(o.id): len(o.shipments) for o in self.store.orders.values() if o.shipments},
        )

    def settings_changed(self) -> None:
        s = self.settings
        self.limiter = FixedWindowLimiter(s.rate_limit_quota, s.rate_limit_window_ms / 1000)
        for hook_id in [h.id for h in self.store.hooks.values() if h.auto]:
            del self.store.hooks[hook_id]
        if s.webhook_url:
            now = self._unix()
            for scope in filter(None, (x.strip() for x in s.webhook_scopes.split(","))):
                hook_id = self.ids.next("hook", start=20000001)
                self.store.hooks[hook_id] = Hook(
                    hook_id, scope, s.webhook_url, True, None, now, now, auto=True
                )

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _unix(self) -> int:
        return int(self.clock.now().timestamp())

    # -- vendor conventions: auth, rate limits, error shapes (sections 1.1, 1.6) --

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("X-Auth-Token") != self.settings.api_token:
            return self.error_response(
                request, ApiError(401, "You are not authorized to access this resource.")
            )
        if request.match_info.get("store_hash") != self.settings.store_hash:
            return self.error_response(request, ApiError(404, "The requested resource was not found."))
        if not self.limiter.hit():
            return self.throttled_response(request, self.limiter.reset_in)
        return None

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        headers = {
            "X-Rate-Limit-Time-Window-Ms": str(self.settings.rate_limit_window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(int(self.limiter.reset_in * 1000)),
            "X-Rate-Limit-Requests-Quota": str(self.limiter.quota),
            "X-Rate-Limit-Requests-Left": str(self.limiter.left),
        }
        for name, value in headers.items():
            if name not in response.headers:
                response.headers[name] = value

    def throttled_response(self, request: web.Request, retry_after: float) -> web.Response:
        response = self.error_response(request, ApiError(429, "You have exceeded your request quota."))
        response.headers["X-Rate-Limit-Time-Reset-Ms"] = str(int(retry_after * 1000))
        response.headers["X-Rate-Limit-Requests-Left"] = "0"
        return response

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        if "/v3/" in request.path:
            body: Json = {"status": error.status, "title": error.message, "type": V3_ERROR_TYPE}
            if error.details:
                body["errors"] = error.details
        else:
            body = [{"status": error.status, "message": error.message}]
        return web.json_response(body, status=error.status, headers=error.headers)

    # -- orders (sections 1.2, 1.3, 1.5) --

    def _order(self, request: web.Request) -> Order:
        order = self.store.orders.get(int(request.match_info["order_id"]))
        if order is None:
            raise ApiError(404, "The requested resource was not found.")
        return order

    async def get_order(self, request: web.Request) -> web.Response:
        return web.json_response(self.order_json(self._order(request), request))

    async def list_orders(self, request: web.Request) -> web.Response:
        q = request.query
        orders = [o for o in self.store.orders.values() if _order_matches(o, q)]
        key, reverse = _sort_key(q.get("sort", "id"))
        orders.sort(key=lambda o: _sortable(self.order_json(o, request).get(key)), reverse=reverse)
        page, limit = _paging(q)
        chosen = orders[(page - 1) * limit : page * limit]
        if not chosen:
            return web.Response(status=204)
        return web.json_response([self.order_json(o, request) for o in chosen])

    async def count_orders(self, request: web.Request) -> web.Response:
        counts = {sid: 0 for sid in ORDER_STATUSES}
        for order in self.store.orders.values():
            counts[order.status_id] += 1
        statuses = [
            {**_status_json(sid), "count": counts[sid], "sort_order": ORDER_STATUSES[sid][2]}
            for sid in sorted(ORDER_STATUSES, key=lambda s: ORDER_STATUSES[s][2])
        ]
        return web.json_response({"statuses": statuses, "count": len(self.store.orders)})

    async def update_order(self, request: web.Request) -> web.Response:
        order = self._order(request)
        body = await _v2_body(request)
        changed = False
        for name in ("staff_notes", "customer_message", "external_order_id"):
            if name in body and body[name] != order.extra.get(name):
                order.extra[name] = body[name]
                changed = True
        if "status_id" in body:
            status_id = body["status_id"]
            if (
                not isinstance(status_id, int)
                or isinstance(status_id, bool)
                or status_id not in ORDER_STATUSES
            ):
                raise ApiError(400, "The field 'status_id' is invalid.")
            if status_id != order.status_id:
                self.set_status(order, status_id, "api", fire_updated=False)
                changed = True
        if changed:
            order.date_modified = self._now()
            self.fire("store/order/updated", {"type": "order", "id": order.id})
        return web.json_response(self.order_json(order, request))

    async def list_products(self, request: web.Request) -> web.Response:
        order = self._order(request)
        page, limit = _paging(request.query)
        chosen = order.products[(page - 1) * limit : page * limit]
        if not chosen:
            return web.Response(status=204)
        return web.json_response([_product_json(p, order) for p in chosen])

    async def list_shipping_addresses(self, request: web.Request) -> web.Response:
        order = self._order(request)
        return web.json_response([self._address_json(a, order, request) for a in order.addresses])

    async def list_statuses(self, request: web.Request) -> web.Response:
        return web.json_response([_status_json(sid) for sid in ORDER_STATUSES])

    async def get_status(self, request: web.Request) -> web.Response:
        status_id = int(request.match_info["status_id"])
        if status_id not in ORDER_STATUSES:
            raise ApiError(404, "The requested resource was not found.")
        return web.json_response(_status_json(status_id))

    def set_status(self, order: Order, status_id: int, source: str, *, fire_updated: bool = True) -> None:
        """Change the status and fire ``store/order/statusUpdated`` (section 1.8)."""
        previous = order.status_id
        order.status_id = status_id
        order.date_modified = self._now()
        order.history.append(StatusChange(self.clock.now().isoformat(), previous, status_id, source))
        self.fire(
            "store/order/statusUpdated",
            {
                "type": "order",
                "id": order.id,
                "status": {"previous_status_id": previous, "new_status_id": status_id},
            },
        )
        if fire_updated:
            self.fire("store/order/updated", {"type": "order", "id": order.id})

    # -- shipments (section 1.4) --

    async def list_shipments(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if not order.shipments:
            return web.Response(status=204)
        return web.json_response([self._shipment_json(s, order) for s in order.shipments])

    def _shipment(self, request: web.Request) -> tuple[Order, Shipment]:
        order = self._order(request)
        shipment_id = int(request.match_info["shipment_id"])
        for shipment in order.shipments:
            if shipment.id == shipment_id:
                return order, shipment
        raise ApiError(404, "The requested resource was not found.")

    async def get_shipment(self, request: web.Request) -> web.Response:
        order, shipment = self._shipment(request)
        return web.json_response(self._shipment_json(shipment, order))

    async def create_shipment(self, request: web.Request) -> web.Response:
        order = self._order(request)
        body = await _v2_body(request)
        address_id = body.get("order_address_id")
        address = next((a for a in order.addresses if a.id == address_id), None)
        if address is None or isinstance(address_id, bool):
            raise ApiError(400, "The field 'order_address_id' is invalid.")
        items = _shipment_items(body.get("items"), order, address)
        tracking = _tracking_fields(body)
        shipment = Shipment(
            id=self.ids.next("shipment"),
            order_id=order.id,
            order_address_id=address.id,
            date_created=self._now(),
            items=items,
            **tracking,
        )
        by_id = {p.id: p for p in order.products}
        for item in items:
            by_id[item["order_product_id"]].quantity_shipped += item["quantity"]
        order.shipments.append(shipment)
        order.date_modified = self._now()
        fully = all(p.quantity_shipped >= p.quantity for p in order.products)
        if fully:
            order.date_shipped = self._now()
        self.fire("store/shipment/created", {"type": "shipment", "id": shipment.id, "orderId": order.id})
        if self.settings.auto_ship_status:
            target = 2 if fully else 3
            if order.status_id != target:
                self.set_status(order, target, "shipment")
        return web.json_response(self._shipment_json(shipment, order), status=201)

    async def update_shipment(self, request: web.Request) -> web.Response:
        order, shipment = self._shipment(request)
        body = await _v2_body(request)
        for name, value in _tracking_fields({**asdict(shipment), **body}).items():
            setattr(shipment, name, value)
        order.date_modified = self._now()
        return web.json_response(self._shipment_json(shipment, order))

    async def delete_shipment(self, request: web.Request) -> web.Response:
        order, shipment = self._shipment(request)
        by_id = {p.id: p for p in order.products}
        for item in shipment.items:
            by_id[item["order_product_id"]].quantity_shipped -= item["quantity"]
        order.shipments.remove(shipment)
        order.date_shipped = None
        order.date_modified = self._now()
        return web.Response(status=204)

    # -- webhooks registrations (section 1.8, webhooks.v3.yml) --

    def _hook(self, request: web.Request) -> Hook:
        hook_id = int(request.match_info["hook_id"])
        hook = self.store.hooks.get(hook_id)
        if hook is None:
            raise ApiError(404, f"Webhook with id [{hook_id}] not found")
        return hook

    # -- V3 payment actions: refunds (provider-apis.md section 8)

    def _refund_items(self, order: Order, value: Any) -> tuple[list[dict[str, Any]], Decimal]:
        """PRODUCT items ``{item_type, item_id, quantity}``: checked against what is left to refund."""
        if not isinstance(value, list) or not value:
            raise ApiError(422, "Input is invalid.", details={"items": "at least one item"})
        by_id = {p.id: p for p in order.products}
        total = Decimal(0)
        items = []
        for item in value:
            item = item if isinstance(item, dict) else {}
            product = by_id.get(item.get("item_id", -1))
            quantity = item.get("quantity")
            if item.get("item_type") != "PRODUCT" or product is None or not isinstance(quantity, int):
                raise ApiError(
                    422, "Input is invalid.", details={"items": f"not a product of the order: {item}"}
                )
            if quantity < 1 or quantity > product.quantity - product.quantity_refunded:
                left = product.quantity - product.quantity_refunded
                raise ApiError(
                    422, "Refund quantity exceeds the refundable quantity.", details={"items": f"{left} left"}
                )
            total += product.price * quantity
            items.append({"item_type": "PRODUCT", "item_id": product.id, "quantity": quantity})
        return items, total

    async def create_refund_quote(self, request: web.Request) -> web.Response:
        order = self._order(request)
        items, total = self._refund_items(order, (await _v3_body(request)).get("items"))
        method = {
            "provider_id": "storecredit",
            "provider_description": "Store Credit",
            "amount": float(total),
            "offline": False,
        }
        data = {
            "order_id": order.id,
            "total_refund_amount": float(total),
            "total_refund_tax_amount": 0,
            "rounding": 0,
            "adjustment": 0,
            "tax_inclusive": False,
            "refund_methods": [[method]],
            "items": items,
        }
        return web.json_response({"data": data, "meta": {}}, status=201)

    async def create_refund(self, request: web.Request) -> web.Response:
        order = self._order(request)
        body = await _v3_body(request)
        items, total = self._refund_items(order, body.get("items"))
        payments = body.get("payments")
        if not isinstance(payments, list) or not payments:
            raise ApiError(422, "Input is invalid.", details={"payments": "at least one payment"})
        paid = sum((Decimal(str(p.get("amount", 0))) for p in payments if isinstance(p, dict)), Decimal(0))
        if paid != total:
            raise ApiError(
                422, "The refund amount does not match the items.", details={"payments": f"expected {total}"}
            )
        by_id = {p.id: p for p in order.products}
        for item in items:
            by_id[item["item_id"]].quantity_refunded += item["quantity"]
        refund = {
            "id": len(self._all_refunds()) + 1,
            "order_id": order.id,
            "reason": str(body.get("reason") or ""),
            "items": items,
            "payments": payments,
            "total_amount": float(total),
            "total_tax": 0,
            "created": self._now().isoformat(),
        }
        order.refunds.append(refund)
        everything = all(p.quantity_refunded >= p.quantity for p in order.products)
        self.set_status(order, 4 if everything else 14, "api")
        return web.json_response({"data": refund, "meta": {}}, status=201)

    def _all_refunds(self) -> list[dict[str, Any]]:
        return [r for o in self.store.orders.values() for r in o.refunds]

    async def list_refunds(self, request: web.Request) -> web.Response:
        wanted = {int(x) for x in request.query.get("order_id:in", "").split(",") if x.strip().isdigit()}
        chosen = [r for r in self._all_refunds() if not wanted or r["order_id"] in wanted]
        return web.json_response({"data": chosen, "meta": {}})

    # -- V3 returns (the x-private Returns of the Orders V3 spec) --

    def _returnable(self, order: Order, product: Product) -> int:
        """What shipped (all of it once the order is Shipped or Completed), less what the
        order's open and closed returns hold (ASSUMED: the spec's GetReturnableItems)."""
        shipped = product.quantity if order.status_id in (2, 10) else product.quantity_shipped
        held: int = sum(
            item["quantity"]
            for r in order.returns
            if r["status"] != "REMOVED"
            for item in r["items"]
            if item["reference_id"]["value"] == str(product.id)
        )
        return shipped - held

    def _return_item(self, order: Order, spec: Any, asked: int) -> dict[str, Any]:
        """One item of a return request; ``asked``: units of its product earlier items ask."""
        spec = spec if isinstance(spec, dict) else {}
        ref = spec.get("reference_id") if isinstance(spec.get("reference_id"), dict) else {}
        by_id = {str(p.id): p for p in order.products}
        product = by_id.get(str(ref.get("value"))) if ref.get("type") == "ORDER_PRODUCT" else None
        quantity, reason, outcome = (spec.get(k) for k in ("quantity", "reason_id", "preferred_outcome_id"))
        if product is None or not isinstance(quantity, int) or quantity < 1:
            raise ApiError(422, "Input is invalid.", details={"items": f"not an order product: {spec}"})
        if reason not in RETURN_REASONS or outcome not in PREFERRED_OUTCOMES:
            raise ApiError(
                422, "Input is invalid.", details={"items": "unknown reason_id or preferred_outcome_id"}
            )
        left = self._returnable(order, product) - asked
        if quantity > left:
            raise ApiError(
                422, "The quantity exceeds the returnable quantity.", details={"items": f"{left} left"}
            )
        return {
            "id": self.ids.next("return-item"),
            "reference_id": {"type": "ORDER_PRODUCT", "value": str(product.id)},
            "quantity": quantity,
            "total": _money(product.price * quantity),
            "preferred_outcome": {"id": outcome, "label": PREFERRED_OUTCOMES[outcome]},
            "reason": {"id": reason, "label": RETURN_REASONS[reason]},
            "received_state": {"received_quantity": 0, "pending_quantity": quantity},
            "review_state": {"approved_quantity": 0, "pending_quantity": quantity, "rejected_quantity": 0},
        }

    async def create_return(self, request: web.Request) -> web.Response:
        """A shopper's return request (the storefront makes it through this call)."""
        found = self.request_return(self._order(request), await _v3_body(request))
        return web.json_response({"data": found, "meta": {}}, status=201)

    async def sim_request_return(self, request: web.Request) -> web.Response:
        """The shopper asks for a return on the storefront (no API token needed)."""
        found = self.request_return(self._order(request), await json_body(request))
        return web.json_response(found, status=201)

    def request_return(self, order: Order, body: Mapping[str, Any]) -> dict[str, Any]:
        specs = body.get("items")
        if not isinstance(specs, list) or not specs:
            raise ApiError(422, "Input is invalid.", details={"items": "at least one item"})
        items: list[dict[str, Any]] = []
        for spec in specs:
            ref = spec.get("reference_id") if isinstance(spec, dict) else None
            value = str(ref.get("value")) if isinstance(ref, dict) else None
            asked = sum(i["quantity"] for i in items if i["reference_id"]["value"] == value)
            items.append(self._return_item(order, spec, asked))
        email = order.billing_address.get("email", "")
        found = {
            "id": self.ids.next("return"),
            "order_id": order.id,
            "items": items,
            "total": _money(sum((Decimal(i["total"]) for i in items), Decimal(0))),
            "currency": str(order.extra.get("currency_code") or "USD"),
            "customer": {"id": order.customer_id, "email": email},
            "comment": str(body.get("comment") or ""),
            "status": "OPEN",
            "date_modified": self._now().isoformat(),
        }
        order.returns.append(found)
        return found

    async def list_returns(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("status") and q["status"] not in RETURN_STATUSES:
            raise ApiError(422, "Input is invalid.", details={"status": "OPEN, CLOSED or REMOVED"})
        wanted = {name: _int_param(q, name) for name in ("id", "order_id", "customer_id")}
        found = [
            r
            for o in self.store.orders.values()
            for r in o.returns
            if q.get("status", r["status"]) == r["status"]
            and all(
                v is None or v == (r["customer"]["id"] if k == "customer_id" else r[k])
                for k, v in wanted.items()
            )
        ]
        sort = q.get("sort", "id")
        if sort not in ("id", "order_id", "date_modified"):
            raise ApiError(422, "Input is invalid.", details={"sort": "id, order_id or date_modified"})
        found.sort(key=lambda r: (r[sort], r["id"]), reverse=q.get("direction", "asc") == "desc")
        page, limit = _paging(q)
        chosen = found[(page - 1) * limit : page * limit]
        pagination = {
            "total": len(found),
            "count": len(chosen),
            "per_page": limit,
            "current_page": page,
            "total_pages": max(1, -(-len(found) // limit)),
        }
        return web.json_response({"data": chosen, "meta": {"pagination": pagination}})

    async def create_hook(self, request: web.Request) -> web.Response:
        body = await _v3_body(request)
        errors = {name: "error.path.missing" for name in ("scope", "destination") if not body.get(name)}
        if errors:
            raise ApiError(422, "JSON data is missing or invalid", details=errors)
        scope, destination = str(body["scope"]), str(body["destination"])
        headers = _hook_headers(body.get("headers"))
        is_active = body.get("is_active", True)
        if not isinstance(is_active, bool):
            raise ApiError(
                422, "JSON data is missing or invalid", details={"is_active": "error.expected.jsboolean"}
            )
        same_scope = [h for h in self.store.hooks.values() if h.scope == scope]
        if any(h.destination == destination for h in same_scope):
            raise ApiError(422, "A webhook with this scope and destination already exists.")
        if len(same_scope) >= MAX_HOOKS_PER_SCOPE:
            raise ApiError(422, f"At most {MAX_HOOKS_PER_SCOPE} webhooks per scope.")
        now = self._unix()
        hook = Hook(self.ids.next("hook", start=20000001), scope, destination, is_active, headers, now, now)
        self.store.hooks[hook.id] = hook
        return web.json_response({"data": self._hook_json(hook), "meta": {}})

    async def list_hooks(self, request: web.Request) -> web.Response:
        q = request.query
        hooks = [
            h
            for h in self.store.hooks.values()
            if q.get("scope", h.scope) == h.scope
            and q.get("destination", h.destination) == h.destination
            and q.get("is_active", str(h.is_active).lower()) == str(h.is_active).lower()
        ]
        page, limit = _paging(q)
        chosen = hooks[(page - 1) * limit : page * limit]
        pages = max(1, -(-len(hooks) // limit))
        meta = {
            "pagination": {
                "total": len(hooks),
                "count": len(chosen),
                "per_page": limit,
                "current_page": page,
                "total_pages": pages,
                "links": {"current": f"?page={page}&limit={limit}"},
            }
        }
        return web.json_response({"data": [self._hook_json(h) for h in chosen], "meta": meta})

    async def get_hook(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self._hook_json(self._hook(request)), "meta": {}})

    async def update_hook(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        body = await _v3_body(request)
        if "is_active" in body and not isinstance(body["is_active"], bool):
            raise ApiError(
                422, "JSON data is missing or invalid", details={"is_active": "error.expected.jsboolean"}
            )
        for name in ("scope", "destination"):
            if name in body:
                if not body[name]:
                    raise ApiError(
                        422, "JSON data is missing or invalid", details={name: "error.path.missing"}
                    )
                setattr(hook, name, str(body[name]))
        if "is_active" in body:
            hook.is_active = body["is_active"]
        if "headers" in body:
            hook.headers = _hook_headers(body["headers"])
        hook.updated_at = self._unix()
        return web.json_response({"data": self._hook_json(hook), "meta": {}})

    async def delete_hook(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        del self.store.hooks[hook.id]
        return web.json_response({"data": self._hook_json(hook), "meta": {}})

    # -- outbound callbacks (section 1.8) --

    def fire(self, scope: str, data: Mapping[str, Any]) -> list[Delivery]:
        """Send one light payload to every active hook of ``scope``; same hash on retry."""
        created_at = self._unix()
        n = self.ids.next("event")
        digest_source = json.dumps(
            {"scope": scope, "data": data, "n": n, "epoch": self.ids.epoch}, sort_keys=True
        )
        event_hash = hashlib.sha1(digest_source.encode()).hexdigest()
        payload = {
            "scope": scope,
            "store_id": self.settings.store_id,
            "data": dict(data),
            "hash": event_hash,
            "created_at": created_at,
            "producer": f"stores/{self.settings.store_hash}",
        }
        sent: list[Delivery] = []
        for hook in list(self.store.hooks.values()):
            if hook.is_active and hook.matches(scope):
                sent += self.emit(
                    scope,
                    event_hash,
                    payload,
                    RETRY_SCHEDULE,
                    url=hook.destination,
                    exhausted="failed",
                    headers=self._callback_headers(hook, self.ids.uuid("webhook-id")),
                    on_exhausted=self._deactivate(hook),
                )
        return sent

    def _callback_headers(self, hook: Hook, msg_id: str) -> Callable[[Delivery], Mapping[str, str]]:
        webhook = Webhook(base64.b64encode(self.settings.client_secret.encode()).decode())

        def headers(delivery: Delivery) -> dict[str, str]:
            signed = signed_headers(webhook, msg_id, delivery.body.decode(), datetime.now(UTC))
            return {**(hook.headers or {}), **signed}

        return headers

    def _deactivate(self, hook: Hook) -> Callable[[Delivery], None]:
        def deactivate(delivery: Delivery) -> None:
            hook.is_active = False
            hook.updated_at = self._unix()

        return deactivate

    # -- control plane --

    async def sim_create_order(self, request: web.Request) -> web.Response:
        spec = await json_body(request, default={})
        try:
            order = self.create_order(spec)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"bad order: {exc}") from exc
        return web.json_response(self.sim_view(order, request), status=201)

    async def sim_list_orders(self, request: web.Request) -> web.Response:
        views = [self.sim_view(o, request) for o in self.store.orders.values()]
        return web.json_response({"count": len(views), "orders": views})

    async def sim_get_order(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim_view(self._order(request), request))

    async def sim_set_status(self, request: web.Request) -> web.Response:
        order = self._order(request)
        spec = await json_body(request)
        status_id = spec.get("status_id")
        if not isinstance(status_id, int) or isinstance(status_id, bool) or status_id not in ORDER_STATUSES:
            raise ApiError(400, "status_id must be an order status id (0..14)")
        if status_id != order.status_id:
            self.set_status(order, status_id, "sim")
        return web.json_response(self.sim_view(order, request))

    def create_order(self, spec: Mapping[str, Any]) -> Order:
        status_id = spec.get("status_id", 11)
        if not isinstance(status_id, int) or isinstance(status_id, bool) or status_id not in ORDER_STATUSES:
            raise ApiError(400, "status_id must be an order status id (0..14)")
        order_id = self.ids.next("order", start=100)
        billing = {**DEFAULT_ADDRESS, **_strings(spec.get("billing_address") or {}, "billing_address")}
        raw_addresses = spec.get("shipping_addresses") or [spec.get("shipping_address") or billing]
        if not isinstance(raw_addresses, list) or not raw_addresses:
            raise ApiError(400, "shipping_addresses must be a non-empty list")
        addresses = [
            Address(
                self.ids.next("address"), order_id, {**DEFAULT_ADDRESS, **_strings(a, "shipping address")}
            )
            for a in raw_addresses
        ]
        products = [
            self._product(p, order_id, addresses)
            for p in spec.get("products") or [{"sku": "SKU-001", "name": "Sample product", "quantity": 1}]
        ]
        now = self._now()
        extra = {
            "currency_code": str(spec.get("currency_code", "USD")),
            "payment_method": str(spec.get("payment_method", "Credit Card")),
            "payment_status": str(spec.get("payment_status", "captured")),
            "channel_id": int(spec.get("channel_id", 1)),
            "external_id": spec.get("external_id"),
            "external_order_id": str(spec.get("external_order_id", "")),
            "external_source": str(spec.get("external_source", "")),
            "order_source": str(spec.get("order_source", "www")),
            "customer_message": str(spec.get("customer_message", "")),
            "staff_notes": str(spec.get("staff_notes", "")),
            "cart_id": self.ids.uuid("cart"),
        }
        order = Order(
            id=order_id,
            status_id=status_id,
            customer_id=int(spec.get("customer_id", 0)),
            date_created=now,
            date_modified=now,
            billing_address=billing,
            products=products,
            addresses=addresses,
            extra=extra,
            shipping_cost=_decimal(spec.get("shipping_cost", "0"), "shipping_cost"),
            tax_rate=_decimal(spec.get("tax_rate", "0"), "tax_rate"),
        )
        order.history.append(StatusChange(self.clock.now().isoformat(), None, status_id, "create"))
        self.store.orders[order_id] = order
        self.fire("store/order/created", {"type": "order", "id": order_id})
        return order

    def _product(self, spec: Any, order_id: int, addresses: Sequence[Address]) -> Product:
        if not isinstance(spec, dict):
            raise ApiError(400, "each product must be an object")
        quantity = spec.get("quantity", 1)
        index = spec.get("address_index", 0)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ApiError(400, "product quantity must be a positive integer")
        if not isinstance(index, int) or not 0 <= index < len(addresses):
            raise ApiError(400, "product address_index must point into shipping_addresses")
        line_id = self.ids.next("order_product")
        sku = str(spec.get("sku", f"SKU-{line_id:03d}"))
        return Product(
            id=line_id,
            order_id=order_id,
            product_id=int(spec.get("product_id", line_id + 76)),
            order_address_id=addresses[index].id,
            name=str(spec.get("name", sku)),
            sku=sku,
            upc=str(spec.get("upc", "")),
            quantity=quantity,
            price=_decimal(spec.get("price", "10.00"), "price"),
        )

    # -- JSON shapes --

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/stores/{self.settings.store_hash}/v2"

    def order_json(self, order: Order, request: web.Request) -> dict[str, Any]:
        name = ORDER_STATUSES[order.status_id][0]
        x = order.extra
        return {
            "id": order.id,
            "customer_id": order.customer_id,
            "date_created": _rfc2822(order.date_created),
            "date_modified": _rfc2822(order.date_modified),
            "date_shipped": _rfc2822(order.date_shipped) if order.date_shipped else "",
            "status_id": order.status_id,
            "status": name,
            "custom_status": name,
            **_order_amounts(order),
            "items_total": sum(p.quantity for p in order.products),
            "items_shipped": sum(p.quantity_shipped for p in order.products),
            "payment_method": x["payment_method"],
            "payment_provider_id": "",
            "payment_status": x["payment_status"],
            "refunded_amount": _money(sum((Decimal(r["total_amount"]) for r in order.refunds), Decimal(0))),
            "order_is_digital": False,
            "ip_address": "127.0.0.1",
            "currency_id": 1,
            "currency_code": x["currency_code"],
            "currency_exchange_rate": "1.0000000000",
            "default_currency_id": 1,
            "default_currency_code": x["currency_code"],
            "staff_notes": x["staff_notes"],
            "customer_message": x["customer_message"],
            "discount_amount": _money(Decimal(0)),
            "coupon_discount": _money(Decimal(0)),
            "shipping_address_count": len(order.addresses),
            "cart_id": x["cart_id"],
            "billing_address": {**order.billing_address, "form_fields": []},
            "order_source": x["order_source"],
            "channel_id": x["channel_id"],
            "external_source": x["external_source"],
            "external_id": x["external_id"],
            "external_order_id": x["external_order_id"],
            **self._order_links(order, request),
            "customer_locale": "en",
        }

    def _order_links(self, order: Order, request: web.Request) -> dict[str, Any]:
        """An order's sub-resources, as links (BigCommerce v2 does not inline them)."""
        base = self._base(request)
        paths = {"products": "products", "shipping_addresses": "shippingaddresses", "coupons": "coupons"}
        return {
            key: {"url": f"{base}/orders/{order.id}/{path}", "resource": f"/orders/{order.id}/{path}"}
            for key, path in paths.items()
        }

    def _address_json(self, address: Address, order: Order, request: web.Request) -> dict[str, Any]:
        mine = [p for p in order.products if p.order_address_id == address.id]
        quotes = f"/orders/{order.id}/shippingaddresses/{address.id}/shippingquotes"
        return {
            "id": address.id,
            "order_id": order.id,
            **address.fields,
            "items_total": sum(p.quantity for p in mine),
            "items_shipped": sum(p.quantity_shipped for p in mine),
            "shipping_method": address.shipping_method,
            "base_cost": _money(order.shipping_cost),
            "cost_ex_tax": _money(order.shipping_cost),
            "cost_inc_tax": _money(order.shipping_cost),
            "cost_tax": _money(Decimal(0)),
            "shipping_quotes": {"url": self._base(request) + quotes, "resource": quotes},
            "form_fields": [],
        }

    def _shipment_json(self, shipment: Shipment, order: Order) -> dict[str, Any]:
        address = next(a for a in order.addresses if a.id == shipment.order_address_id)
        by_id = {p.id: p for p in order.products}
        link = TRACKING_LINKS.get(shipment.shipping_provider, "")
        return {
            "id": shipment.id,
            "order_id": order.id,
            "customer_id": order.customer_id,
            "order_address_id": shipment.order_address_id,
            "date_created": _rfc2822(shipment.date_created),
            "tracking_number": shipment.tracking_number,
            "merchant_shipping_cost": _money(Decimal(0)),
            "shipping_method": shipment.shipping_method,
            "comments": shipment.comments,
            "shipping_provider": shipment.shipping_provider,
            "tracking_carrier": shipment.tracking_carrier,
            "tracking_link": shipment.tracking_link,
            "billing_address": dict(order.billing_address),
            "shipping_address": dict(address.fields),
            "items": [
                {**item, "product_id": by_id[item["order_product_id"]].product_id} for item in shipment.items
            ],
            "shipping_provider_display_name": SHIPPING_PROVIDERS.get(shipment.shipping_provider, ""),
            "generated_tracking_link": link.format(shipment.tracking_number) if link else "",
        }

    def _hook_json(self, hook: Hook) -> dict[str, Any]:
        return {
            "id": hook.id,
            "client_id": self.settings.client_id,
            "store_hash": self.settings.store_hash,
            "scope": hook.scope,
            "destination": hook.destination,
            "headers": hook.headers,
            "is_active": hook.is_active,
            "created_at": hook.created_at,
            "updated_at": hook.updated_at,
        }

    def sim_view(self, order: Order, request: web.Request) -> dict[str, Any]:
        return {
            "order": self.order_json(order, request),
            "products": [_product_json(p, order) for p in order.products],
            "shipping_addresses": [self._address_json(a, order, request) for a in order.addresses],
            "shipments": [self._shipment_json(s, order) for s in order.shipments],
            "status_history": [asdict(h) for h in order.history],
            "returns": list(order.returns),
        }


# --- helpers -------------------------------------------------------------------------


def _product_json(product: Product, order: Order) -> dict[str, Any]:
    total = product.price * product.quantity
    tax = (total * order.tax_rate).quantize(Decimal("0.0001"))
    unit_tax = (product.price * order.tax_rate).quantize(Decimal("0.0001"))
    return {
        "id": product.id,
        "order_id": order.id,
        "product_id": product.product_id,
        "variant_id": 0,
        "order_address_id": product.order_address_id,
        "name": product.name,
        "name_customer": product.name,
        "name_merchant": product.name,
        "sku": product.sku,
        "upc": product.upc,
        "type": "physical",
        "base_price": _money(product.price),
        "price_ex_tax": _money(product.price),
        "price_inc_tax": _money(product.price + unit_tax),
        "price_tax": _money(unit_tax),
        "base_total": _money(total),
        "total_ex_tax": _money(total),
        "total_inc_tax": _money(total + tax),
        "total_tax": _money(tax),
        "weight": "1.0000",
        "quantity": product.quantity,
        "is_refunded": False,
        "quantity_refunded": product.quantity_refunded,
        "refund_amount": _money(product.price * product.quantity_refunded),
        "quantity_shipped": product.quantity_shipped,
        "product_options": [],
        "applied_discounts": [],
        "external_id": None,
    }


def _status_json(status_id: int) -> dict[str, Any]:
    name, description, order = ORDER_STATUSES[status_id]
    return {
        "id": status_id,
        "name": name,
        "system_label": name,
        "custom_label": name,
        "system_description": description,
        "order": order,
    }


def _order_amounts(order: Order) -> dict[str, Any]:
    """An order's money fields as BigCommerce v2 states them: tax on the subtotal only."""
    subtotal = sum((p.price * p.quantity for p in order.products), Decimal(0))
    tax = (subtotal * order.tax_rate).quantize(Decimal("0.0001"))
    total_ex = subtotal + order.shipping_cost
    return {
        "subtotal_ex_tax": _money(subtotal),
        "subtotal_inc_tax": _money(subtotal + tax),
        "subtotal_tax": _money(tax),
        "base_shipping_cost": _money(order.shipping_cost),
        "shipping_cost_ex_tax": _money(order.shipping_cost),
        "shipping_cost_inc_tax": _money(order.shipping_cost),
        "shipping_cost_tax": _money(Decimal(0)),
        "total_ex_tax": _money(total_ex),
        "total_inc_tax": _money(total_ex + tax),
        "total_tax": _money(tax),
        "is_tax_inclusive_pricing": False,
    }


def _money(value: Decimal) -> str:
    return f"{value:.4f}"


def _rfc2822(value: datetime) -> str:
    return format_datetime(value)


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ApiError(400, f"{name} must be a decimal number") from exc


def _strings(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be an object")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _parse_date(raw: str, name: str) -> datetime:
    """Date filters accept RFC-2822 or ISO-8601 (section 1.3)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"The field '{name}' is invalid.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _int_param(q: Mapping[str, str], name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, f"The field '{name}' is invalid.") from exc


def _paging(q: Mapping[str, str]) -> tuple[int, int]:
    page = _int_param(q, "page") or 1
    limit = _int_param(q, "limit") or 50
    if page < 1 or limit < 1:
        raise ApiError(400, "The field 'page' or 'limit' is invalid.")
    if limit > MAX_LIMIT:
        raise ApiError(413, f"The limit may not exceed {MAX_LIMIT}.")
    return page, limit


def _order_matches(order: Order, q: Mapping[str, str]) -> bool:
    """The V2 list filters of section 1.2."""
    checks: list[bool] = []
    for name, actual in (
        ("status_id", order.status_id),
        ("customer_id", order.customer_id),
        ("channel_id", order.extra["channel_id"]),
    ):
        wanted = _int_param(q, name)
        checks.append(wanted is None or wanted == actual)
    min_id, max_id = _int_param(q, "min_id"), _int_param(q, "max_id")
    checks.append(min_id is None or order.id >= min_id)
    checks.append(max_id is None or order.id <= max_id)
    for name, value in (("date_created", order.date_created), ("date_modified", order.date_modified)):
        low, high = q.get(f"min_{name}"), q.get(f"max_{name}")
        checks.append(not low or value >= _parse_date(low, f"min_{name}"))
        checks.append(not high or value <= _parse_date(high, f"max_{name}"))
    for name, actual_text in (
        ("email", order.billing_address.get("email", "")),
        ("external_order_id", order.extra["external_order_id"]),
        ("cart_id", order.extra["cart_id"]),
    ):
        checks.append(name not in q or q[name] == actual_text)
    return all(checks)


def _sort_key(raw: str) -> tuple[str, bool]:
    name, _, direction = raw.partition(":")
    if name not in ORDER_SORT_FIELDS or direction not in ("", "asc", "desc"):
        raise ApiError(400, "The field 'sort' is invalid.")
    return name, direction == "desc"


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        try:
            return (1, parsedate_to_datetime(value).timestamp())
        except (TypeError, ValueError):
            return (2, value)
    return (1, value)


async def _v2_body(request: web.Request) -> dict[str, Any]:
    try:
        return await json_body(request)
    except ApiError as error:
        raise ApiError(400, "The request body is not valid JSON.") from error


async def _v3_body(request: web.Request) -> dict[str, Any]:
    try:
        return await json_body(request)
    except ApiError as error:
        raise ApiError(400, "Input is invalid.") from error


def _hook_headers(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(422, "JSON data is missing or invalid", details={"headers": "error.expected.jsobject"})
    return {str(k): v for k, v in value.items()}


def _shipment_items(value: Any, order: Order, address: Address) -> list[dict[str, int]]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "The field 'items' is invalid.")
    by_id = {p.id: p for p in order.products}
    wanted: dict[int, int] = {}
    items: list[dict[str, int]] = []
    for item in value:
        product_id = item.get("order_product_id") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        product = by_id.get(product_id) if isinstance(product_id, int) else None
        if product is None or product.order_address_id != address.id:
            raise ApiError(400, "The field 'order_product_id' is invalid.")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ApiError(400, "The field 'quantity' is invalid.")
        wanted[product.id] = wanted.get(product.id, 0) + quantity
        if wanted[product.id] > product.quantity - product.quantity_shipped:
            raise ApiError(
                400, f"The quantity specified for order product {product.id} exceeds what is left to ship."
            )
        items.append({"order_product_id": product.id, "quantity": quantity})
    return items


def _tracking_fields(body: Mapping[str, Any]) -> dict[str, str]:
    fields = {
        name: str(body.get(name) or "")
        for name in (
            "tracking_number",
            "tracking_link",
            "shipping_provider",
            "tracking_carrier",
            "shipping_method",
            "comments",
        )
    }
    if len(fields["tracking_number"]) > 50:
        raise ApiError(400, "The field 'tracking_number' is invalid.")
    if len(fields["tracking_link"]) > 500:
        raise ApiError(400, "The field 'tracking_link' is invalid.")
    provider = fields["shipping_provider"]
    if provider not in SHIPPING_PROVIDERS and not (
        provider.startswith("carrier_") and provider.removeprefix("carrier_").isdigit()
    ):
        raise ApiError(400, "The field 'shipping_provider' is invalid.")
    return fields


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m simulators.bigcommerce`` (``oms simulator bigcommerce``): ``--help`` lists its settings."""
    return run(
        BigCommerceSimulator,
        BigCommerceSettings,
        "bigcommerce",
        8101,
        "BigCommerce simulator: V2 orders, V3 webhooks (signed, retried), /_sim control plane.",
        argv,
        prog,
    )


if __name__ == "__main__":
    raise SystemExit(main())
