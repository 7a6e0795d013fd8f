"""Dynamics 365 Finance + Operations simulator: Entra token, OData v4 sales orders,
``$batch`` changesets, business events and a dual-write style order feed, as in
provider-apis.md section 3 and the "D365 F&O sim" contract of section 6.

Vendor API:

- ``POST /{tenant}/oauth2/v2.0/token`` (form: ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope=<resource>/.default``) and the v1 form
  ``POST /{tenant}/oauth2/token`` (``resource=``) answer ``{"token_type": "Bearer",
  "expires_in": 3599, "access_token": ...}``; a bad secret is 401 ``invalid_client``, an
  unknown client or grant 400, in the Entra error shape (section 3.1). In real life this
  is login.microsoftonline.com: point the connector's token URL at the simulator.
- ``/data/*`` needs ``Authorization: Bearer <token>``, else 401 with
  ``WWW-Authenticate: Bearer`` and no body.
- ``GET /data/``, ``GET /data/$metadata`` (entity sets, so a connector can pick the line
  collection name, section 7.3).
- ``POST|GET /data/SalesOrderHeadersV2``, ``GET|PATCH
  /data/SalesOrderHeadersV2(dataAreaId='x',SalesOrderNumber='y')`` (all key fields
  required; PATCH only while the order is open, section 3.2).
- ``POST|GET /data/<lines>`` and ``GET /data/<lines>(dataAreaId='x',InventoryLotId='y')``
  for every name in ``--lines-collections`` (default ``SalesOrderLines``; add
  ``SalesOrderLinesV2``). A line needs dataAreaId, SalesOrderNumber, ItemNumber,
  OrderedSalesQuantity, ShippingSiteId and ShippingWarehouseId, and gets InventoryLotId.
- Queries: ``$filter`` (``eq ne gt ge lt le and or not``, the enum literal
  ``Microsoft.Dynamics.DataEntities.SalesStatus'Backorder'``, ``eq '*x*'`` contains,
  case-insensitive like SQL Server), ``$select``, ``$top``, ``$skip``, ``$orderby``,
  ``$count=true``, ``@odata.nextLink`` paging, and ``cross-company=true`` (without it only
  the default company's rows, section 3.1).
- ``POST /data/$batch``: OData v4 ``multipart/mixed``; each changeset is all-or-nothing
  (a failure answers one error response for the changeset and rolls back its writes),
  requests outside changesets run on their own (section 3.3). ``$<Content-ID>``
  references are not supported: give the header an explicit SalesOrderNumber.
- Errors use the OData v4 shape ``{"error": {"code", "message", "innererror": {"message",
  "type", "stacktrace"}}}``; write failures are 400 with an ``AxODataWriteException``
  inner error. No idempotency on writes (section 3.3): a header with an existing
  SalesOrderNumber, or a line with an existing LineNumber in its order, is refused with
  the infolog ``Cannot create a record in Sales orders (SalesTable). Sales order: <no>.
  The record already exists.`` (``Order lines (SalesLine)`` for a line): the kernel's
  duplicate-key pattern, not a captured F&O answer. Throttling is 429 with
  ``Retry-After`` (section 3.3), injected on demand.

Business events (section 3.4) go to ``--webhook-url`` in the documented envelope
``{BusinessEventId, BusinessEventLegalEntity, ContextRecordSubject, ControlNumber,
EventId, EventTime: "/Date(ms)/", EventTimeIso8601, InitiatingUserAADObjectId,
MajorVersion, MinorVersion, ParentContextRecordSubjects, ...fields}``. ``ControlNumber``
rises with gaps and never goes back, not even on ``/_sim/reset``. Events:

- picked: ``SalesOrderPickingListPostedBusinessEvent`` ``{SalesOrderId, PickingRouteId,
  LegalEntity}`` (ASSUMED custom event);
- packed: ``SalesOrderPackingSlipPostedBusinessEvent`` ``{SalesOrderId, PackingSlipId,
  DeliveryDate, LegalEntity}`` (ASSUMED custom event);
- invoiced: ``SalesInvoicePostedBusinessEvent`` ``{InvoiceAccount, InvoiceId,
  SalesOrderId, InvoiceDate, InvoiceDueDate, InvoiceAmountInAccountingCurrency,
  InvoiceTaxAmount, LegalEntity}`` (documented).

A failed delivery is retried 3 times 1 s apart (scaled), then parked in the error list
(``GET /_sim/parked``, ``POST /_sim/parked/replay`` = Resend, same payload).

Cancels and returns (section 8; entity and action names ASSUMED, as the reference leaves
them to ``$metadata`` or a custom service): ``POST SalesOrderHeadersV2(<key>)/
Microsoft.Dynamics.DataEntities.cancel`` and ``SalesOrderLines(<key>)/...cancelRemainder``
("deliver remainder -> cancel quantity"; refused once a line is delivered; a sales order
whose lines are all canceled is Canceled and sends ``SalesOrderCanceledBusinessEvent``
``{SalesOrderId, LegalEntity}``, an ASSUMED custom event, also for a cancel made in F&O:
``POST /_sim/salesorders/{no}/cancel``). Return orders: ``POST ReturnOrderHeaders``
(explicit ``ReturnOrderNumber``; a second create is "The record already exists"), ``POST
ReturnOrderLines``, ``GET ReturnOrderHeaders(<key>)``, ``POST ReturnOrderHeaders(<key>)/
...postCreditNote`` (the return's invoice, once received: ``{"value": <credit note id>}``,
the same id again after). ``POST /_sim/returnorders/{no}/receive`` ``{"warehouse"}`` sends
``ReturnOrderReceivedBusinessEvent`` ``{ReturnOrderNumber, RMANumber, SalesOrderId,
WarehouseId, LegalEntity}`` (ASSUMED custom event); ``GET /_sim/returnorders`` lists them.
``GET ReturnOrderLines?$filter=`` reads a return's lines. A return order made in F&O (a
customer service agent's RMA against a sales order): ``POST /_sim/returnorders``
``{"SalesOrderNumber", "dataAreaId"?, "ReturnReasonCodeId"?, "lines": [{"LineNumber",
"ReturnQuantity"}]}``, each line numbered as the sales order line it returns (ASSUMED: F&O
links them by lot id; the OMS numbers its own return lines the same way), at most what
the line ordered less what other return orders hold; number ``RMA<n>``, ``RMANumber`` the
same, no ``CustomersOrderReference``; it sends ``ReturnOrderCreatedBusinessEvent``
``{ReturnOrderNumber, RMANumber, SalesOrderId, LegalEntity}`` (ASSUMED custom event, as
for sales orders made in F&O; a return order made over OData sends none).

Dual-write (section 3.5, a simulator convention): when an order made in F&O is confirmed,
``{"entity": "salesorders", "operation": "confirmed", "EventId", "EventTimeIso8601",
<every header field, dataAreaId and SalesOrderNumber included>, "lines": [<line
entities>]}`` goes to ``--dualwrite-url`` (default: the webhook URL), same retries.

Control plane (besides the common one):

- ``POST /_sim/salesorders``: an order made in F&O: ``{"dataAreaId": "usmf",
  "OrderingCustomerAccountNumber": "US-001", <any header field>, "lines": [{"ItemNumber",
  "OrderedSalesQuantity", "SalesPrice", "ShippingSiteId", "ShippingWarehouseId", <any
  line field>}]}``, validated like OData; 201 with the view below. No event yet.
- ``POST /_sim/salesorders/{no}/confirm``: confirm it and send the dual-write event.
  Orders made this way also send ``SalesOrderCreatedBusinessEvent`` (on creation) and
  ``SalesOrderConfirmedBusinessEvent`` (on confirmation), ``{SalesOrderId, LegalEntity}``:
  ASSUMED custom events in the documented envelope, which is how an OMS without Dataverse
  hears of F&O's two steps (section 3.4; dual-write needs Dataverse, section 3.5).
- ``POST /_sim/salesorders/{no}/advance`` ``{"to": "picked"|"packed"|"invoiced",
  "emit": true}``: picked keeps SalesOrderStatus Backorder and releases the order;
  packed sets it (and the lines) Delivered; invoiced sets Invoiced; each sends its event
  unless ``emit`` is false (for a connector that polls instead).
- ``GET /_sim/salesorders`` and ``GET /_sim/salesorders/{no}``: ``{"header": {...},
  "lines": [...], "origin": "odata"|"sim", "confirmed": bool, "documents":
  {"PickingRouteId", "PackingSlipId", "InvoiceId"}, "events": [<envelopes sent>]}``.
  ``{no}`` takes ``?company=`` when the number exists in several companies.
- ``POST /_sim/tokens/expire``: every issued token stops working (test a refresh).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.message import Message
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web

from simulators.common import (
    ApiError,
    Holdings,
    Route,
    SimSettings,
    Simulator,
    iso,
    json_body,
    ms_since_epoch,
    run,
    setting,
)
from simulators.odata import FilterError, compile_filter, parse_key, query_int, select_fields

HEADERS_SET: Final = "SalesOrderHeadersV2"
LINES_PLACEHOLDER: Final = "{lines}"
RETURN_HEADERS: Final = "ReturnOrderHeaders"
RETURN_LINES: Final = "ReturnOrderLines"
ACTIONS: Final = "Microsoft.Dynamics.DataEntities"

ROUTES: Final = (
    Route("POST", "/{tenant}/oauth2/v2.0/token", "issue_token"),
    Route("POST", "/{tenant}/oauth2/token", "issue_token"),
    Route("GET", "/data", "service_root"),
    Route("GET", "/data/", "service_root"),
    Route("GET", "/data/$metadata", "metadata"),
    Route("POST", "/data/$batch", "batch"),
    Route("POST", f"/data/{HEADERS_SET}", "http_create_header"),
    Route("GET", f"/data/{HEADERS_SET}", "http_query"),
    Route("GET", f"/data/{HEADERS_SET}({{key}})", "http_get_by_key"),
    Route("PATCH", f"/data/{HEADERS_SET}({{key}})", "http_patch_header"),
    Route("POST", f"/data/{HEADERS_SET}({{key}})/{ACTIONS}.cancel", "http_cancel_order"),
    Route("POST", "/data/{lines}({key})/" + ACTIONS + ".cancelRemainder", "http_cancel_line"),
    Route("POST", f"/data/{RETURN_HEADERS}", "http_create_return"),
    Route("POST", f"/data/{RETURN_LINES}", "http_create_return_line"),
    Route("GET", f"/data/{RETURN_HEADERS}({{key}})", "http_get_return"),
    Route("GET", f"/data/{RETURN_LINES}", "http_query_return_lines"),
    Route("POST", f"/data/{RETURN_HEADERS}({{key}})/{ACTIONS}.postCreditNote", "http_post_credit_note"),
    Route("POST", "/data/{lines}", "http_create_line"),
    Route("GET", "/data/{lines}", "http_query"),
    Route("GET", "/data/{lines}({key})", "http_get_by_key"),
)

CONTROL_ROUTES: Final = (
    Route("POST", "/_sim/salesorders", "sim_create_order"),
    Route("GET", "/_sim/salesorders", "sim_list_orders"),
    Route("GET", "/_sim/salesorders/{number}", "sim_get_order"),
    Route("POST", "/_sim/salesorders/{number}/confirm", "sim_confirm"),
    Route("POST", "/_sim/salesorders/{number}/advance", "sim_advance"),
    Route("POST", "/_sim/tokens/expire", "sim_expire_tokens"),
    Route("POST", "/_sim/salesorders/{number}/cancel", "sim_cancel"),
    Route("GET", "/_sim/returnorders", "sim_list_returns"),
    Route("POST", "/_sim/returnorders", "sim_create_return"),
    Route("POST", "/_sim/returnorders/{number}/receive", "sim_receive_return"),
)

# Section 3.2: the fields of SalesOrderHeaderV2 (documented, plus 3P-observed ones).
HEADER_FIELDS: Final = (
    "dataAreaId",
    "SalesOrderNumber",
    "OrderingCustomerAccountNumber",
    "InvoiceCustomerAccountNumber",
    "CurrencyCode",
    "RequestedShippingDate",
    "RequestedReceiptDate",
    "CustomerPaymentMethodName",
    "PaymentTermsName",
    "DeliveryTermsCode",
    "SalesTaxGroupCode",
    "CustomerPostingProfileId",
    "SalesOrderStatus",
    "ReleaseStatus",
    "DefaultShippingSiteId",
    "DefaultShippingWarehouseId",
    "SalesOrderName",
    "CustomersOrderReference",
    "CustomerRequisitionNumber",
    "DeliveryModeCode",
    "DeliveryAddressLocationId",
    "DeliveryAddressName",
    "DeliveryAddressStreet",
    "DeliveryAddressCity",
    "DeliveryAddressStateId",
    "DeliveryAddressZipCode",
    "DeliveryAddressCountryRegionId",
    "OrderCreationDateTime",
    "LanguageId",
    "SalesOrderOriginCode",
    "IOMOrderStatus",
)
"""``IOMOrderStatus`` is an extension field (ASSUMED: a real installation adds it to the
entity, as dual-write maps IOM's status): where the OMS writes an F&O order's status."""
RETURN_FIELDS: Final = (
    "dataAreaId",
    "ReturnOrderNumber",
    "CustomerAccountNumber",
    "RMANumber",
    "CustomersOrderReference",
    "OriginalSalesOrderNumber",
    "ReturnReasonCodeId",
    "ReturnOrderStatus",
    "ReturnWarehouseId",
    "CreditNoteId",
)
RETURN_LINE_FIELDS: Final = ("dataAreaId", "ReturnOrderNumber", "LineNumber", "ItemNumber", "ReturnQuantity")
LINE_FIELDS: Final = (
    "dataAreaId",
    "InventoryLotId",
    "SalesOrderNumber",
    "LineNumber",
    "ItemNumber",
    "LineDescription",
    "OrderedSalesQuantity",
    "SalesUnitSymbol",
    "SalesPrice",
    "LineDiscountAmount",
    "LineAmount",
    "CurrencyCode",
    "RequestedShippingDate",
    "RequestedReceiptDate",
    "DeliveryAddressLocationId",
    "ShippingSiteId",
    "ShippingWarehouseId",
    "SalesOrderLineStatus",
    "DeliveryModeCode",
    "ExternalItemNumber",
)
HEADER_REQUIRED: Final = ("OrderingCustomerAccountNumber",)
LINE_REQUIRED: Final = (
    "dataAreaId",
    "SalesOrderNumber",
    "ItemNumber",
    "OrderedSalesQuantity",
    "ShippingSiteId",
    "ShippingWarehouseId",
)
READ_ONLY: Final = frozenset({"SalesOrderStatus", "SalesOrderLineStatus", "InventoryLotId", "ReleaseStatus"})
LABELS: Final = {
    "OrderingCustomerAccountNumber": "Customer account",
    "InvoiceCustomerAccountNumber": "Invoice account",
    "ItemNumber": "Item number",
    "OrderedSalesQuantity": "Quantity",
    "ShippingSiteId": "Site",
    "ShippingWarehouseId": "Warehouse",
    "SalesOrderNumber": "Sales order",
    "dataAreaId": "Company",
}

# Section 3.4: "3 retries 1 s apart (default)", then the error list.
RETRY_SCHEDULE: Final = (1.0, 1.0, 1.0)
EVENTS: Final = {
    "picked": "SalesOrderPickingListPostedBusinessEvent",
    "packed": "SalesOrderPackingSlipPostedBusinessEvent",
    "invoiced": "SalesInvoicePostedBusinessEvent",
    "canceled": "SalesOrderCanceledBusinessEvent",
    "created": "SalesOrderCreatedBusinessEvent",
    "confirmed": "SalesOrderConfirmedBusinessEvent",
    "return received": "ReturnOrderReceivedBusinessEvent",
    "return created": "ReturnOrderCreatedBusinessEvent",
}
ENUM_NAMESPACE: Final = "Microsoft.Dynamics.DataEntities"
WRITE_EXCEPTION: Final = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
FIRST_CONTROL_NUMBER: Final = 5637144576
JSON_CONTENT_TYPE: Final = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"


@dataclass
class FnoSettings(SimSettings):
    tenant: str = setting("sim-tenant", "the tenant in the token path")
    client_id: str = setting("sim-fno-client", "the accepted client_id")
    client_secret: str = setting("sim-fno-secret", "the accepted client_secret")
    default_company: str = setting("usmf", "the caller's company")
    lines_collections: str = setting(
        "SalesOrderLines",
        "comma-separated names that serve the lines entity, e.g. SalesOrderLines,SalesOrderLinesV2",
    )
    token_ttl: int = setting(3599, "token lifetime, seconds")
    dualwrite_url: str | None = setting(None, "where dual-write events go (default: --webhook-url)")
    page_size: int = setting(10000, "server-driven page size")
    tax_rate: str = setting("0", "invoice tax rate, e.g. 0.08")
    event_seed: int = setting(7, "seed of the ControlNumber gaps")


@dataclass
class SalesOrder:
    header: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)
    origin: str = "odata"
    confirmed: bool = False
    version: int = 1
    documents: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.header["dataAreaId"], self.header["SalesOrderNumber"])


@dataclass
class ReturnOrder:
    header: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FnoStore:
    orders: dict[tuple[str, str], SalesOrder] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    returns: dict[tuple[str, str], ReturnOrder] = field(default_factory=dict)


class _Undo:
    """What undoes a group of writes: orders created since are dropped, orders changed
    since get back the copy taken before their first change."""

    def __init__(self, orders: dict[tuple[str, str], SalesOrder]) -> None:
        self._orders = orders
        self._known = set(orders)
        self._before: dict[tuple[str, str], SalesOrder] = {}

    def keep(self, order: SalesOrder) -> None:
        if order.key in self._known and order.key not in self._before:
            self._before[order.key] = copy.deepcopy(order)

    def undo(self) -> None:
        for key in [k for k in self._orders if k not in self._known]:
            del self._orders[key]
        self._orders.update(self._before)


@dataclass
class ODataResult:
    """One OData response, before it becomes HTTP (or a part of a ``$batch`` answer)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FnoSimulator(Simulator):
    name = "fno"
    vendor_routes = ROUTES
    control_routes = CONTROL_ROUTES
    settings: FnoSettings

    def __init__(self, settings: FnoSettings | None = None) -> None:
        self.store = FnoStore()
        chosen = settings or FnoSettings()
        self._control_number = FIRST_CONTROL_NUMBER
        self._gaps = random.Random(chosen.event_seed)
        super().__init__(chosen)

    def reset_state(self) -> None:
        self.store = FnoStore()
        self._undo: _Undo | None = None

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[Callable[[], None]]:
        """Run writes that stand or fall together (a changeset, an order with its lines):
        the callable yielded undoes them. Only the orders they touch are copied: a copy of
        the whole store per changeset held the event loop ~0.1-1 s at 1,000 orders, long
        enough for every other request to time out behind it."""
        self._undo = _Undo(self.store.orders)
        try:
            yield self._undo.undo
        finally:
            self._undo = None

    def _changing(self, order: SalesOrder) -> None:
        if self._undo is not None:
            self._undo.keep(order)

    def holdings(self) -> Holdings:
        """Sales orders made over OData, per ``CustomersOrderReference`` (orders made in
        F&O itself, through ``/_sim/salesorders``, are not counted)."""
        refs = (
            o.header.get("CustomersOrderReference") for o in self.store.orders.values() if o.origin == "odata"
        )
        return Holdings("sales orders", "CustomersOrderReference", Counter(r for r in refs if r))

    @property
    def line_sets(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.settings.lines_collections.split(",") if n.strip())

    def api_routes(self) -> Sequence[Route]:
        routes: list[Route] = []
        for route in ROUTES:
            if LINES_PLACEHOLDER in route.path:
                routes += [
                    Route(route.method, route.path.replace(LINES_PLACEHOLDER, n), route.handler)
                    for n in self.line_sets
                ]
            else:
                routes.append(route)
        return routes

    # -- auth (section 3.1) --

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        if not request.path.startswith("/data"):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self.store.tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None or expiry < time.monotonic():
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def issue_token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        v1 = request.path.endswith("/oauth2/token")
        if request.match_info["tenant"] != self.settings.tenant:
            raise ApiError(
                400, f"Tenant '{request.match_info['tenant']}' not found.", code="invalid_request:90002"
            )
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, "The grant type is not supported.", code="unsupported_grant_type:70003")
        if form.get("client_id") != self.settings.client_id:
            raise ApiError(
                400,
                f"Application with identifier '{form.get('client_id', '')}' was not found in the directory.",
                code="unauthorized_client:700016",
            )
        if form.get("client_secret") != self.settings.client_secret:
            raise ApiError(401, "Invalid client secret provided.", code="invalid_client:7000215")
        audience = form.get("resource", "") if v1 else form.get("scope", "")
        if not audience or (not v1 and not audience.endswith("/.default")):
            raise ApiError(400, "The provided scope or resource is invalid.", code="invalid_scope:70011")
        token = self._token(audience.removesuffix("/.default"))
        self.store.tokens[token] = time.monotonic() + self.settings.token_ttl
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.settings.token_ttl,
            "ext_expires_in": self.settings.token_ttl,
            "access_token": token,
        }
        if v1:
            body["resource"] = audience
        return web.json_response(body)

    def _token(self, audience: str) -> str:
        """JWT-shaped (header.claims.signature); the simulator only ever compares it."""
        now = int(self.clock.now().timestamp())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.settings.tenant}/",
            "appid": self.settings.client_id,
            "iat": now,
            "exp": now + self.settings.token_ttl,
            "jti": self.ids.uuid("token"),
        }

        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.{part(self.ids.uuid('signature'))}"

    # -- error shapes (sections 3.1 and 3.3) --

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        if "/oauth2/" in request.path:
            return _entra_error(error)
        return _to_http(_error_result(error))

    # -- HTTP handlers: thin wrappers over the operations that $batch shares --

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/data"

    async def service_root(self, request: web.Request) -> web.Response:
        base = self._base(request)
        sets = [{"name": n, "kind": "EntitySet", "url": n} for n in (HEADERS_SET, *self.line_sets)]
        return web.json_response({"@odata.context": f"{base}/$metadata", "value": sets})

    async def metadata(self, request: web.Request) -> web.Response:
        return web.Response(text=self._metadata_xml(), content_type="application/xml")

    async def http_create_header(self, request: web.Request) -> web.Response:
        body = await _odata_body(request)
        return _to_http(self.create_header(body, self._base(request), request.headers.get("Prefer", "")))

    async def http_create_line(self, request: web.Request) -> web.Response:
        body = await _odata_body(request)
        entity_set = request.path.rsplit("/", 1)[1]
        return _to_http(
            self.create_line(entity_set, body, self._base(request), request.headers.get("Prefer", ""))
        )

    async def http_query(self, request: web.Request) -> web.Response:
        entity_set = request.path.rsplit("/", 1)[1]
        return _to_http(self.query(entity_set, request.query, self._base(request)))

    async def http_get_by_key(self, request: web.Request) -> web.Response:
        entity_set = request.path.rsplit("/", 1)[1].split("(", 1)[0]
        return _to_http(
            self.get_by_key(entity_set, request.match_info["key"], request.query, self._base(request))
        )

    async def http_patch_header(self, request: web.Request) -> web.Response:
        body = await _odata_body(request)
        return _to_http(self.patch_header(request.match_info["key"], body))

    # -- operations (raise ApiError; used by the HTTP handlers and by $batch) --

    def create_header(self, body: Mapping[str, Any], base: str, prefer: str = "") -> ODataResult:
        order = self.new_order(body, origin="odata")
        return self._created(HEADERS_SET, order.header, base, prefer, order.version)

    def create_line(
        self, entity_set: str, body: Mapping[str, Any], base: str, prefer: str = ""
    ) -> ODataResult:
        line = self.add_line(body)
        order = self.store.orders[(line["dataAreaId"], line["SalesOrderNumber"])]
        return self._created(entity_set, line, base, prefer, order.version)

    def _created(
        self, entity_set: str, entity: dict[str, Any], base: str, prefer: str, version: int
    ) -> ODataResult:
        location = f"{base}/{entity_set}({_key_text(entity_set, entity)})"
        headers = {"Location": location, "OData-EntityId": location}
        if "return=minimal" in prefer:
            return ODataResult(204, None, headers)
        return ODataResult(201, self._entity_json(entity_set, entity, base, version), headers)

    def query(self, entity_set: str, q: Mapping[str, str], base: str) -> ODataResult:
        rows = self._rows(entity_set)
        if q.get("cross-company", "").lower() != "true":
            rows = [(r, v) for r, v in rows if r["dataAreaId"] == self.settings.default_company.lower()]
        try:
            if q.get("$filter"):
                fields = HEADER_FIELDS if entity_set == HEADERS_SET else LINE_FIELDS
                entity = f"{ENUM_NAMESPACE}.{_entity_type(entity_set)}"
                keep = compile_filter(
                    q["$filter"], fields, entity=entity, wildcards=True, case_insensitive=True
                )
                rows = [(r, v) for r, v in rows if keep(r)]
            rows = _order_by(rows, q.get("$orderby", ""))
            skip = query_int(q, "$skip") or 0
            top = query_int(q, "$top")
        except FilterError as exc:
            raise ApiError(400, str(exc), code="Microsoft.OData.ODataException") from exc
        total = len(rows)
        window = rows[skip:]
        limit = min(top, self.settings.page_size) if top is not None else self.settings.page_size
        page = window[:limit]
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{entity_set}"}
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        body["value"] = [
            select_fields(self._entity_json(entity_set, r, base, v, context=False), q.get("$select"))
            for r, v in page
        ]
        wanted = top if top is not None else len(window)
        if len(page) < min(wanted, len(window)):
            params = {k: v for k, v in q.items() if k not in ("$skip", "$top")}
            params["$skip"] = str(skip + len(page))
            if top is not None:
                params["$top"] = str(top - len(page))
            body["@odata.nextLink"] = f"{base}/{entity_set}?" + "&".join(
                f"{k}={v}" for k, v in params.items()
            )
        return ODataResult(200, body)

    def get_by_key(self, entity_set: str, key_text: str, q: Mapping[str, str], base: str) -> ODataResult:
        try:
            key = parse_key(key_text)
        except FilterError as exc:
            raise ApiError(400, str(exc), code="Microsoft.OData.ODataException") from exc
        key_fields = (
            ("dataAreaId", "SalesOrderNumber")
            if entity_set == HEADERS_SET
            else ("dataAreaId", "InventoryLotId")
        )
        if set(key) != set(key_fields):
            raise ApiError(400, f"All key fields ({', '.join(key_fields)}) must be given for {entity_set}.")
        company = key["dataAreaId"].lower()
        for row, version in self._rows(entity_set):
            if row["dataAreaId"] == company and row[key_fields[1]] == key[key_fields[1]]:
                entity = self._entity_json(entity_set, row, base, version)
                entity["@odata.context"] = f"{base}/$metadata#{entity_set}/$entity"
                return ODataResult(200, select_fields(entity, q.get("$select")))
        raise ApiError(
            404, f"Resource not found for the segment '{entity_set}'.", code="Microsoft.OData.ODataException"
        )

    def patch_header(self, key_text: str, body: Mapping[str, Any]) -> ODataResult:
        try:
            key = parse_key(key_text)
        except FilterError as exc:
            raise ApiError(400, str(exc)) from exc
        order = self.store.orders.get((key.get("dataAreaId", "").lower(), key.get("SalesOrderNumber", "")))
        if order is None or set(key) != {"dataAreaId", "SalesOrderNumber"}:
            raise ApiError(404, f"Resource not found for the segment '{HEADERS_SET}'.")
        _check_properties(body, HEADER_FIELDS, "SalesOrderHeaderV2")
        if order.header["SalesOrderStatus"] != "Backorder":
            raise _write_error(
                "SalesOrderHeaderV2Entity", "The sales order can only be updated while it is open."
            )
        self._changing(order)
        for name, value in body.items():
            if name not in ("dataAreaId", "SalesOrderNumber") and name not in READ_ONLY:
                order.header[name] = value
        order.version += 1
        return ODataResult(204)

    def _rows(self, entity_set: str) -> list[tuple[dict[str, Any], int]]:
        if entity_set == HEADERS_SET:
            return [(o.header, o.version) for o in self.store.orders.values()]
        return [(line, o.version) for o in self.store.orders.values() for line in o.lines]

    # -- the business rules of creating orders and lines (section 3.2) --

    def new_order(self, body: Mapping[str, Any], origin: str) -> SalesOrder:
        _check_properties(body, HEADER_FIELDS, "SalesOrderHeaderV2")
        company = str(body.get("dataAreaId") or self.settings.default_company).lower()
        missing = [f for f in HEADER_REQUIRED if not body.get(f)]
        if missing:
            raise _write_error("SalesOrderHeaderV2Entity", *(_must_be_filled(f) for f in missing))
        number = str(body.get("SalesOrderNumber") or "")
        if not number:
            number = f"{self.ids.next('sales-order'):06d}"
            while (company, number) in self.store.orders:
                number = f"{self.ids.next('sales-order'):06d}"
        if (company, number) in self.store.orders:
            raise _write_error(
                "SalesOrderHeaderV2Entity",
                f"Cannot create a record in Sales orders (SalesTable). Sales order: {number}. "
                "The record already exists.",
            )
        now = self.clock.now()
        header: dict[str, Any] = {name: None for name in HEADER_FIELDS}
        header.update(
            {
                "CurrencyCode": "USD",
                "InvoiceCustomerAccountNumber": body["OrderingCustomerAccountNumber"],
                "RequestedShippingDate": iso(now.replace(hour=12, minute=0, second=0, microsecond=0)),
                "LanguageId": "en-us",
                "OrderCreationDateTime": iso(now.replace(microsecond=0)),
                "CustomersOrderReference": "",
                "SalesOrderName": "",
            }
        )
        header.update({k: v for k, v in body.items() if k not in READ_ONLY})
        header.update(
            {
                "dataAreaId": company,
                "SalesOrderNumber": number,
                "SalesOrderStatus": "Backorder",
                "ReleaseStatus": "Open",
            }
        )
        order = SalesOrder(header=header, origin=origin)
        self.store.orders[order.key] = order
        return order

    def add_line(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _check_properties(body, LINE_FIELDS, "SalesOrderLine")
        missing = [f for f in LINE_REQUIRED if body.get(f) in (None, "")]
        if missing:
            raise _write_error("SalesOrderLineV2Entity", *(_must_be_filled(f) for f in missing))
        company = str(body["dataAreaId"]).lower()
        number = str(body["SalesOrderNumber"])
        order = self.store.orders.get((company, number))
        if order is None:
            raise _write_error("SalesOrderLineV2Entity", f"Sales order {number} does not exist.")
        if order.header["SalesOrderStatus"] != "Backorder":
            raise _write_error("SalesOrderLineV2Entity", f"Sales order {number} is not open.")
        if body.get("LineNumber") not in (None, "") and _line_number(body["LineNumber"]) in {
            _line_number(x["LineNumber"]) for x in order.lines
        }:
            raise _write_error(
                "SalesOrderLineV2Entity",
                f"Cannot create a record in Order lines (SalesLine). Sales order: {number}, "
                f"{body['LineNumber']}. The record already exists.",
            )
        quantity = _decimal(body["OrderedSalesQuantity"], "OrderedSalesQuantity")
        price = _decimal(body.get("SalesPrice", 0), "SalesPrice")
        discount = _decimal(body.get("LineDiscountAmount", 0), "LineDiscountAmount")
        if quantity <= 0:
            raise _write_error("SalesOrderLineV2Entity", "The quantity must be positive.")
        line: dict[str, Any] = {name: None for name in LINE_FIELDS}
        line.update(
            {
                "LineNumber": float(len(order.lines) + 1),
                "SalesUnitSymbol": "ea",
                "CurrencyCode": order.header["CurrencyCode"],
                "RequestedShippingDate": order.header["RequestedShippingDate"],
                "DeliveryAddressLocationId": order.header["DeliveryAddressLocationId"],
                "LineDescription": str(body["ItemNumber"]),
            }
        )
        line.update({k: v for k, v in body.items() if k not in READ_ONLY})
        amount = body.get("LineAmount")
        line.update(
            {
                "dataAreaId": company,
                "SalesOrderNumber": number,
                "InventoryLotId": f"{self.ids.next('inventory-lot', start=10001):06d}",
                "OrderedSalesQuantity": float(quantity),
                "SalesPrice": float(price),
                "LineDiscountAmount": float(discount),
                "LineAmount": float(
                    quantity * price - discount if amount is None else _decimal(amount, "LineAmount")
                ),
                "SalesOrderLineStatus": "Backorder",
            }
        )
        self._changing(order)
        order.lines.append(line)
        order.version += 1
        return line

    # -- $batch (section 3.3) --

    async def batch(self, request: web.Request) -> web.Response:
        boundary = _boundary(request.headers.get("Content-Type", ""))
        if request.content_type != "multipart/mixed" or not boundary:
            raise ApiError(400, "A batch request must be multipart/mixed with a boundary.")
        parent = self.requests.entries[-1].seq if self.requests.entries else None
        base = self._base(request)
        out_boundary = f"batchresponse_{self.ids.uuid('batch')}"
        chunks: list[bytes] = []
        for headers, payload in _split_multipart(await request.read(), boundary):
            part_type = headers.get("content-type", "")
            inner = _boundary(part_type)
            if part_type.startswith("multipart/mixed") and inner:
                body = self._run_changeset(_split_multipart(payload, inner), base, parent)
                chunks.append(body)
            else:
                result = self._run_one(payload, base, parent)
                chunks.append(_http_part(result, headers.get("content-id")))
        text = b"".join(b"--" + out_boundary.encode() + b"\r\n" + c + b"\r\n" for c in chunks)
        text += b"--" + out_boundary.encode() + b"--\r\n"
        return web.Response(
            body=text,
            headers={"Content-Type": f"multipart/mixed; boundary={out_boundary}", "OData-Version": "4.0"},
        )

    def _run_changeset(
        self, parts: list[tuple[dict[str, str], bytes]], base: str, parent: int | None
    ) -> bytes:
        """All or nothing: on the first failure restore the store and answer that failure."""
        answers: list[bytes] = []
        with self._all_or_nothing() as undo:
            for headers, payload in parts:
                result = self._run_one(payload, base, parent)
                if result.status >= 400:
                    undo()
                    return _http_part(result, headers.get("content-id"))
                answers.append(_http_part(result, headers.get("content-id")))
        boundary = f"changesetresponse_{self.ids.uuid('changeset')}"
        inner = b"".join(b"--" + boundary.encode() + b"\r\n" + a + b"\r\n" for a in answers)
        inner += b"--" + boundary.encode() + b"--"
        return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n".encode() + inner

    def _run_one(self, raw: bytes, base: str, parent: int | None) -> ODataResult:
        try:
            method, url, headers, body = _parse_http_request(raw)
        except ValueError as exc:
            return _error_result(ApiError(400, f"Malformed request in the batch: {exc}"))
        parts = urlsplit(url)
        path = unquote(parts.path)
        relative = path.split("/data/", 1)[1] if "/data/" in path else path.lstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        content_type = headers.get("content-type", "")
        entry = self.requests.add(
            method, f"/data/{relative}", query, headers, body, content_type, via_batch=parent
        )
        try:
            result = self._dispatch(method, relative, query, headers, body, base)
        except ApiError as error:
            result = _error_result(error)
        entry.status = result.status
        return result

    def _dispatch(
        self,
        method: str,
        relative: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        base: str,
    ) -> ODataResult:
        entity_set, _, rest = relative.partition("(")
        known = (HEADERS_SET, *self.line_sets)
        if entity_set not in known:
            raise ApiError(404, f"Resource not found for the segment '{entity_set}'.")
        key = rest[:-1] if rest.endswith(")") else None
        prefer = headers.get("prefer", "")
        if method == "POST" and key is None:
            data = _json_object(body)
            if entity_set == HEADERS_SET:
                return self.create_header(data, base, prefer)
            return self.create_line(entity_set, data, base, prefer)
        if method == "GET":
            return (
                self.query(entity_set, query, base)
                if key is None
                else self.get_by_key(entity_set, key, query, base)
            )
        if method == "PATCH" and key is not None and entity_set == HEADERS_SET:
            return self.patch_header(key, _json_object(body))
        raise ApiError(405, f"The method {method} is not allowed on {relative}.")

    # -- JSON shapes --

    def _entity_json(
        self, entity_set: str, row: Mapping[str, Any], base: str, version: int, *, context: bool = True
    ) -> dict[str, Any]:
        tag = base64.b64encode(f"'{version},{_key_text(entity_set, row)}'".encode()).decode()
        out: dict[str, Any] = {}
        if context:
            out["@odata.context"] = f"{base}/$metadata#{entity_set}/$entity"
        out["@odata.etag"] = f'W/"{tag}"'
        out.update(row)
        return out

    def _metadata_xml(self) -> str:
        def entity_type(name: str, keys: Sequence[str], fields: Sequence[str]) -> str:
            key = "".join(f'<PropertyRef Name="{k}"/>' for k in keys)
            props = "".join(f'<Property Name="{f}" Type="Edm.String"/>' for f in fields)
            return f'<EntityType Name="{name}"><Key>{key}</Key>{props}</EntityType>'

        sets = (
            f'<EntitySet Name="{HEADERS_SET}" EntityType="{ENUM_NAMESPACE}.SalesOrderHeaderV2"/>'
            + "".join(
                f'<EntitySet Name="{n}" EntityType="{ENUM_NAMESPACE}.{_entity_type(n)}"/>'
                for n in self.line_sets
            )
        )
        enum = (
            '<EnumType Name="SalesStatus"><Member Name="None" Value="0"/><Member Name="Backorder" Value="1"/>'
            '<Member Name="Delivered" Value="2"/><Member Name="Invoiced" Value="3"/>'
            '<Member Name="Canceled" Value="4"/></EnumType>'
        )
        types = entity_type(
            "SalesOrderHeaderV2", ("dataAreaId", "SalesOrderNumber"), HEADER_FIELDS
        ) + "".join(
            entity_type(_entity_type(n), ("dataAreaId", "InventoryLotId"), LINE_FIELDS)
            for n in self.line_sets
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
            f'<edmx:DataServices><Schema Namespace="{ENUM_NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
            f'{enum}{types}<EntityContainer Name="Resources">{sets}</EntityContainer>'
            "</Schema></edmx:DataServices></edmx:Edmx>"
        )

    # -- cancels and returns (section 8; the entities and actions are ASSUMED) --

    def _order_by_key(self, key_text: str) -> SalesOrder:
        key = _parsed(key_text, ("dataAreaId", "SalesOrderNumber"), HEADERS_SET)
        order = self.store.orders.get((key["dataAreaId"].lower(), key["SalesOrderNumber"]))
        if order is None:
            raise ApiError(404, f"Resource not found for the segment '{HEADERS_SET}'.")
        return order

    def cancel_lines(self, order: SalesOrder, lines: Sequence[dict[str, Any]]) -> None:
        """Deliver remainder -> cancel quantity: refused for a line delivered or invoiced."""
        done = [x for x in lines if x["SalesOrderLineStatus"] in ("Delivered", "Invoiced")]
        if done:
            numbers = ", ".join(str(_line_number(x["LineNumber"])) for x in done)
            raise _write_error(
                "SalesOrderLineV2Entity", f"Lines {numbers} are delivered and cannot be canceled."
            )
        for line in lines:
            line["SalesOrderLineStatus"] = "Canceled"
        if all(x["SalesOrderLineStatus"] == "Canceled" for x in order.lines):
            order.header["SalesOrderStatus"] = "Canceled"
        order.version += 1
        fields = {"SalesOrderId": order.header["SalesOrderNumber"], "LegalEntity": order.header["dataAreaId"]}
        if order.header["SalesOrderStatus"] == "Canceled":
            self.business_event(order, EVENTS["canceled"], fields)

    async def http_cancel_order(self, request: web.Request) -> web.Response:
        order = self._order_by_key(request.match_info["key"])
        if order.header["SalesOrderStatus"] != "Canceled":
            self.cancel_lines(
                order, [x for x in order.lines if x["SalesOrderLineStatus"] != "Canceled"] or order.lines
            )
        return web.Response(status=204)

    async def http_cancel_line(self, request: web.Request) -> web.Response:
        key = _parsed(request.match_info["key"], ("dataAreaId", "InventoryLotId"), "SalesOrderLines")
        for order in self.store.orders.values():
            for line in order.lines:
                if (line["dataAreaId"], line["InventoryLotId"]) == (
                    key["dataAreaId"].lower(),
                    key["InventoryLotId"],
                ):
                    if line["SalesOrderLineStatus"] != "Canceled":
                        self.cancel_lines(order, [line])
                    return web.Response(status=204)
        raise ApiError(404, "Resource not found for the segment 'SalesOrderLines'.")

    async def http_create_return(self, request: web.Request) -> web.Response:
        body = await _odata_body(request)
        _check_properties(body, RETURN_FIELDS, "ReturnOrderHeader")
        company = str(body.get("dataAreaId") or self.settings.default_company).lower()
        number = str(body.get("ReturnOrderNumber") or f"RMA{self.ids.next('return-order'):06d}")
        if (company, number) in self.store.returns:
            raise _write_error(
                "ReturnOrderHeaderEntity",
                f"Cannot create a record in Return orders (SalesTable). Return order: {number}. "
                "The record already exists.",
            )
        if not body.get("CustomerAccountNumber"):
            raise _write_error("ReturnOrderHeaderEntity", _must_be_filled("CustomerAccountNumber"))
        header: dict[str, Any] = dict.fromkeys(RETURN_FIELDS)
        header.update(body)
        header.update({"dataAreaId": company, "ReturnOrderNumber": number, "ReturnOrderStatus": "Open"})
        self.store.returns[(company, number)] = ReturnOrder(header=header)
        return web.json_response(header, status=201)

    async def http_create_return_line(self, request: web.Request) -> web.Response:
        body = await _odata_body(request)
        _check_properties(body, RETURN_LINE_FIELDS, "ReturnOrderLine")
        key = (str(body.get("dataAreaId", "")).lower(), str(body.get("ReturnOrderNumber", "")))
        found = self.store.returns.get(key)
        if found is None:
            raise _write_error("ReturnOrderLineEntity", f"Return order {key[1]} does not exist.")
        if any(_line_number(x["LineNumber"]) == _line_number(body.get("LineNumber", 0)) for x in found.lines):
            raise _write_error(
                "ReturnOrderLineEntity",
                f"Cannot create a record in Order lines (SalesLine). Return order: {key[1]}, "
                f"{body.get('LineNumber')}. The record already exists.",
            )
        line = {**dict.fromkeys(RETURN_LINE_FIELDS), **body, "dataAreaId": key[0]}
        found.lines.append(line)
        return web.json_response(line, status=201)

    def _return_by_key(self, key_text: str) -> ReturnOrder:
        key = _parsed(key_text, ("dataAreaId", "ReturnOrderNumber"), RETURN_HEADERS)
        found = self.store.returns.get((key["dataAreaId"].lower(), key["ReturnOrderNumber"]))
        if found is None:
            raise ApiError(404, f"Resource not found for the segment '{RETURN_HEADERS}'.")
        return found

    async def http_get_return(self, request: web.Request) -> web.Response:
        return web.json_response(self._return_by_key(request.match_info["key"]).header)

    async def http_post_credit_note(self, request: web.Request) -> web.Response:
        """The credit note is the return order's invoice: only once its goods are received."""
        found = self._return_by_key(request.match_info["key"])
        if found.header["ReturnOrderStatus"] == "Open":
            raise _write_error("ReturnOrderHeaderEntity", "The return order has not been received yet.")
        if found.header["CreditNoteId"] is None:
            found.header["CreditNoteId"] = f"CCN-{self.ids.next('credit-note'):06d}"
            found.header["ReturnOrderStatus"] = "Invoiced"
        return web.json_response({"@odata.context": "#Edm.String", "value": found.header["CreditNoteId"]})

    async def sim_cancel(self, request: web.Request) -> web.Response:
        """Canceled in F&O itself (by a person there): the custom event tells the OMS."""
        order = self._find(request)
        self.cancel_lines(order, [x for x in order.lines if x["SalesOrderLineStatus"] != "Canceled"])
        return web.json_response(self._view(order))

    async def sim_list_returns(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"returns": [{"header": r.header, "lines": r.lines} for r in self.store.returns.values()]}
        )

    async def http_query_return_lines(self, request: web.Request) -> web.Response:
        """``GET ReturnOrderLines``: ``$filter`` over the lines' fields, ``cross-company``."""
        q = request.query
        rows = [line for r in self.store.returns.values() for line in r.lines]
        if q.get("cross-company", "").lower() != "true":
            rows = [r for r in rows if r["dataAreaId"] == self.settings.default_company.lower()]
        if q.get("$filter"):
            entity = f"{ENUM_NAMESPACE}.ReturnOrderLine"
            try:
                keep = compile_filter(q["$filter"], RETURN_LINE_FIELDS, entity=entity, case_insensitive=True)
            except FilterError as exc:
                raise ApiError(400, str(exc), code="Microsoft.OData.ODataException") from exc
            rows = [r for r in rows if keep(r)]
        context = f"{self._base(request)}/$metadata#{RETURN_LINES}"
        return web.json_response({"@odata.context": context, "value": rows})

    async def sim_create_return(self, request: web.Request) -> web.Response:
        """A return order made in F&O against a sales order: ``ReturnOrderCreatedBusinessEvent``."""
        spec = await json_body(request)
        company = str(spec.get("dataAreaId") or self.settings.default_company).lower()
        order = self.store.orders.get((company, str(spec.get("SalesOrderNumber"))))
        if order is None:
            raise ApiError(404, f"no sales order {spec.get('SalesOrderNumber')} in {company}")
        number = f"RMA{self.ids.next('return-order'):06d}"
        lines = [self._returned_line(order, number, line) for line in spec.get("lines") or []]
        if not lines:
            raise ApiError(400, "a return order needs lines")
        header: dict[str, Any] = dict.fromkeys(RETURN_FIELDS)
        header.update(
            {
                "dataAreaId": company,
                "ReturnOrderNumber": number,
                "RMANumber": number,
                "CustomerAccountNumber": order.header.get("OrderingCustomerAccountNumber"),
                "OriginalSalesOrderNumber": order.key[1],
                "ReturnReasonCodeId": spec.get("ReturnReasonCodeId"),
                "ReturnOrderStatus": "Open",
            }
        )
        self.store.returns[(company, number)] = ReturnOrder(header=header, lines=lines)
        fields = {
            "ReturnOrderNumber": number,
            "RMANumber": number,
            "SalesOrderId": order.key[1],
            "LegalEntity": company,
        }
        event = self.business_event(order, EVENTS["return created"], fields)
        return web.json_response({"header": header, "lines": lines, "event": event}, status=201)

    def _returned_line(self, order: SalesOrder, number: str, spec: Any) -> dict[str, Any]:
        """A return line of ``order``'s line ``LineNumber``: at most what it ordered, less
        what other return orders of the sales order hold."""
        spec = spec if isinstance(spec, dict) else {}
        wanted = _line_number(spec.get("LineNumber", 0))
        line = next((x for x in order.lines if _line_number(x["LineNumber"]) == wanted), None)
        units = abs(int(spec.get("ReturnQuantity") or 0))
        if line is None or units < 1:
            raise ApiError(400, f"sales order {order.key[1]} has no line {wanted} to return, or no quantity")
        held = sum(
            abs(int(x["ReturnQuantity"]))
            for r in self.store.returns.values()
            if r.header["OriginalSalesOrderNumber"] == order.key[1] and r.header["dataAreaId"] == order.key[0]
            for x in r.lines
            if _line_number(x["LineNumber"]) == wanted
        )
        if units > int(_decimal(line["OrderedSalesQuantity"], "OrderedSalesQuantity")) - held:
            raise ApiError(
                409,
                f"line {wanted} of sales order {order.key[1]} ordered {line['OrderedSalesQuantity']}, "
                f"{held} are returned already",
            )
        return {
            "dataAreaId": order.key[0],
            "ReturnOrderNumber": number,
            "LineNumber": int(wanted),
            "ItemNumber": line["ItemNumber"],
            "ReturnQuantity": -units,
        }

    async def sim_receive_return(self, request: web.Request) -> web.Response:
        """The warehouse received a return order's goods: ``ReturnOrderReceivedBusinessEvent``."""
        spec = await json_body(request)
        number = request.match_info["number"]
        found = next((r for (c, n), r in self.store.returns.items() if n == number), None)
        if found is None:
            raise ApiError(404, f"no return order {number}")
        if found.header["ReturnOrderStatus"] != "Open":
            raise ApiError(409, f"return order {number} is {found.header['ReturnOrderStatus']}")
        found.header["ReturnOrderStatus"] = "Received"
        found.header["ReturnWarehouseId"] = str(spec.get("warehouse") or "11")
        company = found.header["dataAreaId"]
        original = self.store.orders.get((company, str(found.header.get("OriginalSalesOrderNumber"))))
        fields = {
            "ReturnOrderNumber": number,
            "RMANumber": found.header.get("RMANumber"),
            "SalesOrderId": found.header.get("OriginalSalesOrderNumber") or "",
            "WarehouseId": found.header["ReturnWarehouseId"],
            "LegalEntity": company,
        }
        holder = original or SalesOrder(
            header={"dataAreaId": company, "SalesOrderNumber": fields["SalesOrderId"]}
        )
        event = self.business_event(holder, EVENTS["return received"], fields)
        return web.json_response({"header": found.header, "event": event})

    # -- business events and dual-write (sections 3.4, 3.5) --

    def next_control_number(self) -> int:
        """Rises with gaps, like a RecId sequence shared with other events (section 3.4)."""
        self._control_number += self._gaps.randint(1, 12)
        return self._control_number

    def business_event(self, order: SalesOrder, event_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        envelope: dict[str, Any] = {
            "BusinessEventId": event_id,
            "BusinessEventLegalEntity": order.header["dataAreaId"],
            "ContextRecordSubject": "",
            "ControlNumber": self.next_control_number(),
            "EventId": self.ids.uuid("business-event").upper(),
            "EventTime": f"/Date({ms_since_epoch(now)})/",
            "EventTimeIso8601": iso(now),
            "InitiatingUserAADObjectId": "{" + self.ids.uuid("aad-user").upper() + "}",
            "MajorVersion": 0,
            "MinorVersion": 0,
            "ParentContextRecordSubjects": [],
            **fields,
        }
        order.events.append(envelope)
        self.emit(event_id, envelope["EventId"], envelope, RETRY_SCHEDULE)
        return envelope

    def advance(self, order: SalesOrder, to: str, emit: bool) -> dict[str, Any] | None:
        status = order.header["SalesOrderStatus"]
        company = order.header["dataAreaId"]
        number = order.header["SalesOrderNumber"]
        if not order.lines:
            raise ApiError(409, f"sales order {number} has no lines")
        now = self.clock.now()
        fields: dict[str, Any]
        if to == "picked":
            if status != "Backorder" or "PickingRouteId" in order.documents:
                raise ApiError(409, f"sales order {number} cannot be picked from {status}")
            order.documents["PickingRouteId"] = f"{self.ids.next('picking-route'):08d}"
            order.header["ReleaseStatus"] = "Released"
            fields = {
                "SalesOrderId": number,
                "PickingRouteId": order.documents["PickingRouteId"],
                "LegalEntity": company,
            }
        elif to == "packed":
            if status != "Backorder":
                raise ApiError(409, f"sales order {number} cannot be packed from {status}")
            order.documents["PackingSlipId"] = f"PS-{self.ids.next('packing-slip'):06d}"
            self._set_status(order, "Delivered")
            fields = {
                "SalesOrderId": number,
                "PackingSlipId": order.documents["PackingSlipId"],
                "DeliveryDate": _date_value(now),
                "LegalEntity": company,
            }
        elif to == "invoiced":
            if status not in ("Backorder", "Delivered"):
                raise ApiError(409, f"sales order {number} cannot be invoiced from {status}")
            order.documents["InvoiceId"] = f"CIV-{self.ids.next('invoice'):06d}"
            self._set_status(order, "Invoiced")
            net = sum((Decimal(str(line["LineAmount"])) for line in order.lines), Decimal(0))
            tax = (net * Decimal(self.settings.tax_rate)).quantize(Decimal("0.01"))
            fields = {
                "InvoiceAccount": order.header["InvoiceCustomerAccountNumber"],
                "InvoiceId": order.documents["InvoiceId"],
                "SalesOrderId": number,
                "InvoiceDate": _date_value(now),
                "InvoiceDueDate": _date_value(now + timedelta(days=30)),
                "InvoiceAmountInAccountingCurrency": float(net + tax),
                "InvoiceTaxAmount": float(tax),
                "LegalEntity": company,
            }
        else:
            raise ApiError(400, 'to must be "picked", "packed" or "invoiced"')
        order.version += 1
        return self.business_event(order, EVENTS[to], fields) if emit else None

    def _set_status(self, order: SalesOrder, status: str) -> None:
        order.header["SalesOrderStatus"] = status
        for line in order.lines:
            line["SalesOrderLineStatus"] = status

    def dual_write(self, order: SalesOrder, operation: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "entity": "salesorders",
            "operation": operation,
            "EventId": self.ids.uuid("dual-write"),
            "EventTimeIso8601": iso(self.clock.now()),
            **order.header,
            "lines": [dict(line) for line in order.lines],
        }
        url = self.settings.dualwrite_url or self.settings.webhook_url
        self.emit(f"dualwrite.salesorders.{operation}", payload["EventId"], payload, RETRY_SCHEDULE, url=url)
        return payload

    # -- control plane --

    def _find(self, request: web.Request) -> SalesOrder:
        number = request.match_info["number"]
        company = request.query.get("company", "").lower()
        found = [
            o
            for o in self.store.orders.values()
            if o.key[1] == number and (not company or o.key[0] == company)
        ]
        if not found:
            raise ApiError(404, f"no sales order {number}")
        if len(found) > 1:
            raise ApiError(409, f"sales order {number} exists in several companies: give ?company=")
        return found[0]

    def _view(self, order: SalesOrder) -> dict[str, Any]:
        return {
            "header": dict(order.header),
            "lines": [dict(line) for line in order.lines],
            "origin": order.origin,
            "confirmed": order.confirmed,
            "documents": dict(order.documents),
            "events": list(order.events),
        }

    def _new_order_with_lines(self, spec: dict[str, Any], lines: list[Any]) -> SalesOrder:
        order = self.new_order(spec, origin="sim")
        for line in lines:
            if not isinstance(line, dict):
                raise ApiError(400, "each line must be an object")
            self.add_line(
                {
                    "ShippingSiteId": order.header.get("DefaultShippingSiteId"),
                    "ShippingWarehouseId": order.header.get("DefaultShippingWarehouseId"),
                    **line,
                    "dataAreaId": order.key[0],
                    "SalesOrderNumber": order.key[1],
                }
            )
        return order

    async def sim_create_order(self, request: web.Request) -> web.Response:
        spec = await json_body(request)
        lines = spec.pop("lines", [])
        if not isinstance(lines, list):
            raise ApiError(400, "lines must be a list")
        try:
            with self._all_or_nothing() as undo:
                try:
                    order = self._new_order_with_lines(spec, lines)
                except ApiError:
                    undo()
                    raise
        except ApiError as error:
            inner = _odata_error(error)["error"]["innererror"]["message"]
            raise ApiError(error.status, inner or error.message) from error
        fields = {"SalesOrderId": order.key[1], "LegalEntity": order.key[0]}
        self.business_event(order, EVENTS["created"], fields)
        return web.json_response(self._view(order), status=201)

    async def sim_list_orders(self, request: web.Request) -> web.Response:
        views = [self._view(o) for o in self.store.orders.values()]
        return web.json_response({"count": len(views), "salesorders": views})

    async def sim_get_order(self, request: web.Request) -> web.Response:
        return web.json_response(self._view(self._find(request)))

    async def sim_confirm(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if not order.lines:
            raise ApiError(409, f"sales order {order.key[1]} has no lines")
        order.confirmed = True
        fields = {"SalesOrderId": order.key[1], "LegalEntity": order.key[0]}
        self.business_event(order, EVENTS["confirmed"], fields)
        event = self.dual_write(order, "confirmed")
        return web.json_response({**self._view(order), "event": event})

    async def sim_advance(self, request: web.Request) -> web.Response:
        order = self._find(request)
        spec = await json_body(request)
        emit = spec.get("emit", True)
        if not isinstance(emit, bool):
            raise ApiError(400, "emit must be a boolean")
        event = self.advance(order, str(spec.get("to", "")), emit)
        return web.json_response({**self._view(order), "event": event})

    async def sim_expire_tokens(self, request: web.Request) -> web.Response:
        count = len(self.store.tokens)
        self.store.tokens.clear()
        return web.json_response({"expired": count})


# --- helpers -------------------------------------------------------------------------


def _parsed(key_text: str, fields: Sequence[str], entity_set: str) -> dict[str, str]:
    try:
        key = parse_key(key_text)
    except FilterError as exc:
        raise ApiError(400, str(exc)) from exc
    if set(key) != set(fields):
        raise ApiError(400, f"All key fields ({', '.join(fields)}) must be given for {entity_set}.")
    return key


def _entity_type(entity_set: str) -> str:
    if entity_set == HEADERS_SET:
        return "SalesOrderHeaderV2"
    return "SalesOrderLine" if entity_set == "SalesOrderLines" else entity_set.removesuffix("s")


def _key_text(entity_set: str, entity: Mapping[str, Any]) -> str:
    second = "SalesOrderNumber" if entity_set == HEADERS_SET else "InventoryLotId"
    return f"dataAreaId='{entity['dataAreaId']}',{second}='{entity[second]}'"


def _odata_error(error: ApiError) -> dict[str, Any]:
    """Section 3.3: ``{"error": {"code", "message", "innererror": {...}}}``."""
    write_failure = error.code == WRITE_EXCEPTION
    return {
        "error": {
            "code": "",
            "message": "An error has occurred." if write_failure else error.message,
            "innererror": {
                "message": error.message,
                "type": error.code or f"System.Web.Http.HttpResponseException:{error.status}",
                "stacktrace": "",
            },
        }
    }


def _entra_error(error: ApiError) -> web.Response:
    name, _, number = error.code.partition(":")
    code = int(number) if number.isdigit() else 0
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    body = {
        "error": name or "server_error",
        "error_description": f"AADSTS{code}: {error.message}\r\nTimestamp: {now}",
        "error_codes": [code],
        "timestamp": now,
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return web.json_response(body, status=error.status, headers=error.headers)


def _write_error(entity: str, *messages: str) -> ApiError:
    infolog = " ".join(f"Error: {m}" for m in messages)
    return ApiError(
        400, f"Write failed for table row of type '{entity}'. Infolog: {infolog}", code=WRITE_EXCEPTION
    )


def _must_be_filled(name: str) -> str:
    return f"Field '{LABELS.get(name, name)}' must be filled in."


def _check_properties(body: Mapping[str, Any], fields: Sequence[str], entity: str) -> None:
    for name in body:
        if name not in fields and not name.startswith("@"):
            raise ApiError(
                400,
                f"The property '{name}' does not exist on type '{ENUM_NAMESPACE}.{entity}'. "
                "Make sure to only use property names that are defined by the type.",
                code="Microsoft.OData.ODataException",
            )


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ApiError(400, f"Cannot convert the literal '{value}' for {name}.") from exc


def _line_number(value: Any) -> Decimal:
    """LineNumber is a real in F&O: ``1``, ``1.0`` and ``"1"`` are the same line."""
    return _decimal(value, "LineNumber")


def _date_value(value: datetime) -> str:
    """Dates in business event payloads: ``/Date(ms)/`` of midnight UTC."""
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    return f"/Date({ms_since_epoch(midnight)})/"


def _order_by(rows: list[tuple[dict[str, Any], int]], spec: str) -> list[tuple[dict[str, Any], int]]:
    """``$orderby=A desc,B``: a stable sort per clause, last clause first."""
    for clause in reversed([c.strip() for c in spec.split(",") if c.strip()]):
        name, _, direction = clause.partition(" ")

        def value(row: tuple[dict[str, Any], int], name: str = name) -> tuple[int, float, str]:
            field = row[0].get(name)
            if isinstance(field, int | float) and not isinstance(field, bool):
                return (1, float(field), "")
            return (0, 0.0, "") if field is None else (2, 0.0, str(field))

        rows = sorted(rows, key=value, reverse=direction.strip() == "desc")
    return rows


def _to_http(result: ODataResult) -> web.Response:
    headers = {"OData-Version": "4.0", **result.headers}
    if result.body is None:
        return web.Response(status=result.status, headers=headers)
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return web.Response(status=result.status, body=json.dumps(result.body).encode(), headers=headers)


def _error_result(error: ApiError) -> ODataResult:
    return ODataResult(error.status, _odata_error(error), dict(error.headers))


async def _odata_body(request: web.Request) -> dict[str, Any]:
    return _json_object(await request.read())


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"null")
    except ValueError as exc:
        raise ApiError(
            400, f"The request body is not valid JSON: {exc}", code="Microsoft.OData.ODataException"
        ) from exc
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="Microsoft.OData.ODataException")
    return value


def _boundary(content_type: str) -> str | None:
    message = Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) else None


def _header_lines(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", errors="replace").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _split_headers(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-cased names) and body of a MIME part or an HTTP message."""
    normalized = raw.replace(b"\r\n", b"\n")
    if normalized.startswith(b"\n"):
        return {}, normalized[1:]
    head, _, body = normalized.partition(b"\n\n")
    return _header_lines(head), body


def _split_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + boundary.encode()
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        chunk = chunk.removesuffix(b"\r\n").removesuffix(b"\n")
        parts.append(_split_headers(chunk))
    return parts


def _parse_http_request(raw: bytes) -> tuple[str, str, dict[str, str], bytes]:
    """``METHOD url HTTP/1.1``, headers, blank line, body: one request inside a batch."""
    first, _, rest = raw.replace(b"\r\n", b"\n").lstrip(b"\n").partition(b"\n")
    pieces = first.decode("utf-8", errors="replace").split(" ")
    if len(pieces) < 2:
        raise ValueError(f"bad request line {first!r}")
    headers, body = _split_headers(rest)
    return pieces[0].upper(), pieces[1], headers, body.strip()


def _http_part(result: ODataResult, content_id: str | None) -> bytes:
    reason = HTTPStatus(result.status).phrase
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        head.append(f"Content-ID: {content_id}")
    inner = [f"HTTP/1.1 {result.status} {reason}", "OData-Version: 4.0"]
    inner += [f"{k}: {v}" for k, v in result.headers.items()]
    body = b""
    if result.body is not None:
        inner.append(f"Content-Type: {JSON_CONTENT_TYPE}")
        body = json.dumps(result.body).encode()
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(inner) + "\r\n\r\n").encode() + body


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m simulators.fno`` (``oms simulator fno``): ``--help`` lists its settings."""
    return run(
        FnoSimulator,
        FnoSettings,
        "fno",
        8102,
        "Dynamics 365 F&O simulator: Entra token, OData sales orders, $batch, business events, dual-write.",
        argv,
        prog,
    )


if __name__ == "__main__":
    raise SystemExit(main())
