"""SAP S/4HANA simulator: API_SALES_ORDER_SRV and API_BILLING_DOCUMENT_SRV (OData v2) and
the billing-document CloudEvent, as in provider-apis.md section 4 and the "SAP S/4HANA
sim" contract of section 6. Base path ``/sap/opu/odata/sap``.

- Auth (section 4.1): Basic (``--user``/``--password``) or ``Authorization: Bearer
  <--bearer-token>``; else 401 with ``WWW-Authenticate: Basic realm=...``.
- CSRF (section 4.1): any GET (or HEAD) with ``X-CSRF-Token: Fetch`` answers the token in
  ``X-CSRF-Token`` and sets the session cookies ``SAP_SESSIONID_<SID>_<client>`` and
  ``sap-usercontext``. POST, PUT, PATCH, MERGE and DELETE need that token *and* the
  session cookie, else 403, ``X-CSRF-Token: Required``, body ``CSRF token validation
  failed``. (aiohttp clients: the default cookie jar ignores cookies from IP hosts such as
  127.0.0.1; use ``aiohttp.CookieJar(unsafe=True)`` or send the ``Cookie`` header.)
- ``POST /API_SALES_ORDER_SRV/A_SalesOrder``: deep insert with ``to_Item`` (a list or
  ``{"results": [...]}``) and optionally ``to_Partner``; requires SalesOrderType,
  SalesOrganization, DistributionChannel, OrganizationDivision, SoldToParty and, per item,
  Material and RequestedQuantity; 201 ``{"d": {..., "SalesOrder", "OverallSDProcessStatus":
  "A", "to_Item": {"results": [...]}}}`` with ``Location`` and ``ETag``. Item prices come
  from ``--default-price`` or ``/_sim/prices``.
- ``GET A_SalesOrder`` (``$filter`` e.g. ``PurchaseOrderByCustomer eq '...'``,
  ``$expand=to_Item``, ``$select``, ``$top``, ``$skip``, ``$inlinecount=allpages``, server
  paging with ``__next``), ``GET A_SalesOrder('{id}')``, ``.../to_Item``,
  ``GET A_SalesOrderItem``; ``PATCH`` or ``MERGE A_SalesOrder('{id}')`` needs ``If-Match``
  (428 without, 412 when stale, ``*`` accepted) and answers 204.
- Idempotent services (section 4.4, [SAP-IDEM]): a write with ``RequestID`` and
  ``RepeatabilityCreation`` runs once, a repeat gets the first answer with
  ``RepeatabilityResult: accepted`` (see :meth:`SapSimulator.repeatable`);
  ``--no-idempotent-services`` plays a system where they are not configured.
- ``GET /API_BILLING_DOCUMENT_SRV/A_BillingDocument('{id}')?$expand=to_Item``,
  ``A_BillingDocument``, ``A_BillingDocumentItem?$filter=SalesDocument eq '{so}'``; every
  write to these sets is 405 (the service is read-only, section 4.3).
- V2 JSON throughout: ``d``, ``results``, ``__metadata``, ``__deferred``, dates
  ``/Date(ms)/``, date-times ``/Date(ms+0000)/``, decimals as strings; errors in the SAP
  Gateway shape ``{"error": {"code", "message": {"lang", "value"}, "innererror": {...}}}``
  (section 4.4). Message codes are plausible, not copied from a system.

Cancels and credits (section 8): ``POST /API_BILLING_DOCUMENT_SRV/Cancel?BillingDocument=
'<id>'`` (the function import; an S1 cancellation document, ``BillingDocumentIsCancelled``
set; a second cancel is 400), and ``POST|GET /API_CREDIT_MEMO_REQUEST_SRV/
A_CreditMemoRequest`` (a credit memo request referring to a billing document, deep insert
``to_Item``; ``$filter=PurchaseOrderByCustomer eq '...'`` finds one again).

Event (section 4.4, ASSUMED delivery): billing an order sends the CloudEvent
``{"specversion": "1.0", "type": "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1",
"source": "/default/sap.s4.beh/<SID>CLNT<client>", "id", "time", "datacontenttype":
"application/json", "data": {"BillingDocument", "BillingDocumentType": "F2"}}`` as
``application/cloudevents+json`` to ``--webhook-url``, at least once: retried after 1, 2,
4, 8, 16, 32 and 60 s (scaled), then parked; ``duplicate_webhook`` sends it twice.

Control plane (besides the common one):

- ``POST /_sim/salesorders/{so}/bill`` ``{"tax_rate": "0.1"}`` (optional): an F2 billing
  document for the whole order (items linked by SalesDocument/SalesDocumentItem), the
  order's and items' statuses set to ``C``, and the CloudEvent. Answers
  ``{"billing_document": <as the API shows it, with to_Item>, "event": <CloudEvent>}``;
  409 when already billed.
- ``GET /_sim/salesorders``, ``GET /_sim/salesorders/{so}`` (as the API, with to_Item),
  ``GET /_sim/billingdocuments``.
- ``PUT /_sim/prices`` ``{"<Material>": "12.50", ...}``: unit prices for new orders.
- ``POST /_sim/csrf/invalidate``: every session and token dies (test refetch-and-retry).
"""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from simulators.common import (
    ApiError,
    Holdings,
    Route,
    SimSettings,
    Simulator,
    iso,
    json_body,
    run,
    setting,
)
from simulators.odata import (
    FilterError,
    compile_filter,
    parse_key,
    query_int,
    select_fields,
    v2_date,
    v2_datetimeoffset,
)

BASE: Final = "/sap/opu/odata/sap"
SO: Final = f"{BASE}/API_SALES_ORDER_SRV"
BD: Final = f"{BASE}/API_BILLING_DOCUMENT_SRV"
CMR: Final = f"{BASE}/API_CREDIT_MEMO_REQUEST_SRV"
WRITES: Final = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})

ROUTES: Final = (
    *(Route(m, path, "service_root") for m in ("GET", "HEAD") for path in (SO, f"{SO}/", BD, f"{BD}/")),
    *(Route(m, f"{service}/$metadata", "metadata") for m in ("GET", "HEAD") for service in (SO, BD)),
    Route("GET", f"{SO}/A_SalesOrder", "list_sales_orders"),
    Route("POST", f"{SO}/A_SalesOrder", "create_sales_order"),
    Route("GET", f"{SO}/A_SalesOrder({{key}})", "get_sales_order"),
    Route("PATCH", f"{SO}/A_SalesOrder({{key}})", "update_sales_order"),
    Route("MERGE", f"{SO}/A_SalesOrder({{key}})", "update_sales_order"),
    Route("GET", f"{SO}/A_SalesOrder({{key}})/to_Item", "list_order_items"),
    Route("GET", f"{SO}/A_SalesOrderItem", "list_sales_order_items"),
    Route("GET", f"{SO}/A_SalesOrderItem({{key}})", "get_sales_order_item"),
    Route("GET", f"{BD}/A_BillingDocument", "list_billing_documents"),
    Route("GET", f"{BD}/A_BillingDocument({{key}})", "get_billing_document"),
    Route("GET", f"{BD}/A_BillingDocument({{key}})/to_Item", "list_billing_items_of"),
    Route("GET", f"{BD}/A_BillingDocumentItem", "list_billing_items"),
    Route("GET", f"{BD}/A_BillingDocumentItem({{key}})", "get_billing_item"),
    Route("POST", f"{BD}/Cancel", "cancel_billing_document"),
    Route("POST", f"{CMR}/A_CreditMemoRequest", "create_credit_memo_request"),
    Route("GET", f"{CMR}/A_CreditMemoRequest", "list_credit_memo_requests"),
    *(
        Route(method, f"{BD}/{path}", "read_only")
        for method in sorted(WRITES)
        for path in ("A_BillingDocument", "A_BillingDocument({key})", "A_BillingDocumentItem")
    ),
)

CONTROL_ROUTES: Final = (
    Route("GET", "/_sim/salesorders", "sim_list_orders"),
    Route("GET", "/_sim/salesorders/{so}", "sim_get_order"),
    Route("POST", "/_sim/salesorders/{so}/bill", "sim_bill"),
    Route("GET", "/_sim/billingdocuments", "sim_list_billing"),
    Route("PUT", "/_sim/prices", "sim_set_prices"),
    Route("POST", "/_sim/csrf/invalidate", "sim_invalidate_csrf"),
)

# Section 4.2 [SAP-SO]: the A_SalesOrder / A_SalesOrderItem properties served.
ORDER_INPUT: Final = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SalesGroup",
    "SalesOffice",
    "SoldToParty",
    "PurchaseOrderByCustomer",
    "CustomerPurchaseOrderType",
    "CustomerPurchaseOrderDate",
    "SalesOrderDate",
    "TransactionCurrency",
    "SDDocumentReason",
    "RequestedDeliveryDate",
    "ShippingCondition",
    "CompleteDeliveryIsDefined",
    "HeaderBillingBlockReason",
    "DeliveryBlockReason",
    "IncotermsClassification",
    "IncotermsLocation1",
    "CustomerPaymentTerms",
    "PaymentMethod",
    "ExternalDocumentID",
)
ORDER_STATUS: Final = (
    "OverallSDProcessStatus",
    "OverallTotalDeliveryStatus",
    "OverallDeliveryStatus",
    "OverallOrdReltdBillgStatus",
    "TotalCreditCheckStatus",
    "OverallSDDocumentRejectionSts",
    "SalesDocApprovalStatus",
)
ORDER_FIELDS: Final = (
    "SalesOrder",
    *ORDER_INPUT,
    "CreationDate",
    "CreatedByUser",
    "LastChangeDate",
    "LastChangeDateTime",
    "TotalNetAmount",
    *ORDER_STATUS,
)
ORDER_REQUIRED: Final = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
)
ITEM_INPUT: Final = (
    "SalesOrderItem",
    "HigherLevelItem",
    "SalesOrderItemCategory",
    "SalesOrderItemText",
    "PurchaseOrderByCustomer",
    "Material",
    "MaterialByCustomer",
    "RequestedQuantity",
    "RequestedQuantityUnit",
    "TransactionCurrency",
    "ProductionPlant",
    "StorageLocation",
    "ShippingPoint",
)
ITEM_STATUS: Final = ("SDProcessStatus", "DeliveryStatus", "OrderRelatedBillingStatus")
ITEM_FIELDS: Final = ("SalesOrder", *ITEM_INPUT, "NetAmount", *ITEM_STATUS)
BILLING_FIELDS: Final = (
    "BillingDocument",
    "SDDocumentCategory",
    "BillingDocumentCategory",
    "BillingDocumentType",
    "CreationDate",
    "LastChangeDate",
    "LastChangeDateTime",
    "SalesOrganization",
    "DistributionChannel",
    "Division",
    "BillingDocumentDate",
    "BillingDocumentIsCancelled",
    "CancelledBillingDocument",
    "TotalNetAmount",
    "TaxAmount",
    "TotalGrossAmount",
    "TransactionCurrency",
    "CompanyCode",
    "FiscalYear",
    "AccountingDocument",
    "OverallBillingStatus",
    "AccountingPostingStatus",
    "AccountingTransferStatus",
    "InvoiceClearingStatus",
    "OverallSDProcessStatus",
    "SoldToParty",
    "PayerParty",
    "PurchaseOrderByCustomer",
    "CustomerPaymentTerms",
    "IncotermsClassification",
)
BILLING_ITEM_FIELDS: Final = (
    "BillingDocument",
    "BillingDocumentItem",
    "SalesDocumentItemCategory",
    "Material",
    "BillingDocumentItemText",
    "BillingQuantity",
    "BillingQuantityUnit",
    "NetAmount",
    "TaxAmount",
    "GrossAmount",
    "TransactionCurrency",
    "Plant",
    "ReferenceSDDocument",
    "ReferenceSDDocumentItem",
    "ReferenceSDDocumentCategory",
    "SalesDocument",
    "SalesDocumentItem",
)
DATE_FIELDS: Final = frozenset(
    {
        "CreationDate",
        "LastChangeDate",
        "SalesOrderDate",
        "CustomerPurchaseOrderDate",
        "RequestedDeliveryDate",
        "BillingDocumentDate",
    }
)
DATETIMEOFFSET_FIELDS: Final = frozenset({"LastChangeDateTime"})
AMOUNTS: Final = frozenset({"TotalNetAmount", "NetAmount", "TaxAmount", "TotalGrossAmount", "GrossAmount"})
QUANTITIES: Final = frozenset({"RequestedQuantity", "BillingQuantity"})
NAVIGATION: Final = {"A_SalesOrder": ("to_Item", "to_Partner", "to_PricingElement", "to_Text")}
EVENT_TYPE: Final = "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"
RETRY_SCHEDULE: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)


@dataclass
class SapSettings(SimSettings):
    user: str = setting("SIM_USER", "the Basic auth communication user")
    password: str = setting("sim-sap-password", "the Basic auth password")
    bearer_token: str = setting("sim-sap-bearer", "an accepted OAuth bearer token")
    system_id: str = setting("SIM", "SID in cookies and the event source")
    client: str = setting("100", "the SAP client (sap-client)")
    default_price: str = setting("10.00", "unit price of a material")
    page_size: int = setting(1000, "server-driven page size")
    idempotent_services: bool = setting(
        True,
        "Gateway's idempotent services configured (RequestID + RepeatabilityCreation honoured); "
        "off, such a request is refused with RepeatabilityResult: unsupported",
    )


@dataclass
class Document:
    """A sales order or a billing document: header and items, in Python values."""

    header: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FirstAnswer:
    """The answer a repeatable request got when it was executed, kept under its RequestID."""

    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class SapStore:
    orders: dict[str, Document] = field(default_factory=dict)
    billing: dict[str, Document] = field(default_factory=dict)
    credit_memo_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    answers: dict[str, FirstAnswer] = field(default_factory=dict)
    """Repeatable requests by RequestID (SAP Gateway idempotent services)."""


class SapSimulator(Simulator):
    name = "sap"
    vendor_routes = ROUTES
    control_routes = CONTROL_ROUTES
    settings: SapSettings

    def __init__(self, settings: SapSettings | None = None) -> None:
        self.store = SapStore()
        self._last_change = datetime.min
        super().__init__(settings or SapSettings())

    def reset_state(self) -> None:
        self.store = SapStore()

    def holdings(self) -> Holdings:
        return Holdings(
            "sales orders",
            "PurchaseOrderByCustomer",
            Counter(str(o.header["PurchaseOrderByCustomer"]) for o in self.store.orders.values()),
        )

    @property
    def _cookie(self) -> str:
        return f"SAP_SESSIONID_{self.settings.system_id}_{self.settings.client}"

    def _stamp(self) -> datetime:
        """A LastChangeDateTime that always moves forward (the ETag depends on it)."""
        now = self.clock.now()
        if self._last_change.tzinfo is not None and now <= self._last_change:
            now = self._last_change + timedelta(microseconds=1)
        self._last_change = now
        return now

    # -- auth and CSRF (section 4.1) --

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        if not self._authenticated(request.headers.get("Authorization", "")):
            system = f"{self.settings.system_id}/{self.settings.client}"
            realm = f'Basic realm="SAP NetWeaver Application Server [{system}]"'
            return web.Response(
                status=401,
                text="<html><body><h1>Logon failed</h1></body></html>",
                content_type="text/html",
                headers={"WWW-Authenticate": realm},
            )
        if request.method in WRITES:
            session = request.cookies.get(self._cookie, "")
            token = self.store.sessions.get(session)
            if token is None or request.headers.get("X-CSRF-Token") != token:
                return web.Response(
                    status=403, text="CSRF token validation failed", headers={"X-CSRF-Token": "Required"}
                )
        return None

    def _authenticated(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value, self.settings.bearer_token)
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return user == self.settings.user and secrets.compare_digest(password, self.settings.password)
        return False

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        if response.content_type == "application/json":
            response.headers["dataserviceversion"] = "2.0"
        wants = request.headers.get("X-CSRF-Token", "").lower() == "fetch"
        if request.method not in ("GET", "HEAD") or not wants or response.status >= 400:
            return
        session = request.cookies.get(self._cookie, "")
        if session not in self.store.sessions:
            session = self.ids.uuid("session").replace("-", "").upper()
            self.store.sessions[session] = base64.b64encode(self.ids.uuid("csrf").encode()[:16]).decode()
            response.set_cookie(self._cookie, session, path="/", httponly=True)
            response.set_cookie("sap-usercontext", f"sap-client={self.settings.client}", path="/")
        response.headers["X-CSRF-Token"] = self.store.sessions[session]

    # -- errors (section 4.4) --

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        service = (
            "API_BILLING_DOCUMENT_SRV"
            if "/API_BILLING_DOCUMENT_SRV" in request.path
            else "API_SALES_ORDER_SRV"
        )
        code = error.code or "/IWBEP/CM_MGW_RT/000"
        stamp = self.clock.now().strftime("%Y%m%d%H%M%S.%f") + "0"
        body = {
            "error": {
                "code": code,
                "message": {"lang": "en", "value": error.message},
                "innererror": {
                    "application": {
                        "component_id": "SD-BIL-API" if "BILLING" in service else "SD-SLS-API",
                        "service_namespace": "/SAP/",
                        "service_id": service,
                        "service_version": "0001",
                    },
                    "transactionid": self.ids.uuid("transaction").replace("-", "").upper(),
                    "timestamp": stamp,
                    "Error_Resolution": {
                        "SAP_Transaction": "Run transaction /IWFND/ERROR_LOG on SAP Gateway hub system "
                        "and search for entries with the timestamp above for more details",
                        "SAP_Note": "See SAP Note 1797736 for error analysis "
                        "(https://service.sap.com/sap/support/notes/1797736)",
                    },
                    "errordetails": [
                        {
                            "code": code,
                            "message": error.message,
                            "propertyref": "",
                            "severity": "error",
                            "target": "",
                        }
                    ],
                },
            }
        }
        return web.json_response(body, status=error.status, headers=error.headers)

    # -- service documents --

    async def service_root(self, request: web.Request) -> web.Response:
        sets = (
            ["A_BillingDocument", "A_BillingDocumentItem"]
            if "/API_BILLING_DOCUMENT_SRV" in request.path
            else ["A_SalesOrder", "A_SalesOrderItem"]
        )
        return web.json_response({"d": {"EntitySets": sets}})

    async def metadata(self, request: web.Request) -> web.Response:
        billing = "/API_BILLING_DOCUMENT_SRV" in request.path
        service = "API_BILLING_DOCUMENT_SRV" if billing else "API_SALES_ORDER_SRV"
        sets = (
            (("A_BillingDocument", BILLING_FIELDS), ("A_BillingDocumentItem", BILLING_ITEM_FIELDS))
            if billing
            else (("A_SalesOrder", ORDER_FIELDS), ("A_SalesOrderItem", ITEM_FIELDS))
        )
        flags = ' sap:creatable="false" sap:updatable="false" sap:deletable="false"' if billing else ""
        types = "".join(
            f'<EntityType Name="{name}Type">'
            + "".join(f'<Property Name="{f}" Type="Edm.String"/>' for f in fields)
            + "</EntityType>"
            for name, fields in sets
        )
        containers = "".join(
            f'<EntitySet Name="{name}" EntityType="{service}.{name}Type"{flags}/>' for name, _ in sets
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
            'xmlns:sap="http://www.sap.com/Protocols/SAPData">'
            '<edmx:DataServices m:DataServiceVersion="2.0" '
            'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
            f'<Schema Namespace="{service}" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">{types}'
            f'<EntityContainer Name="{service}_Entities" m:IsDefaultEntityContainer="true">{containers}'
            "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
        )
        return web.Response(text=xml, content_type="application/xml")

    # -- sales orders (section 4.2) --

    def _base(self, request: web.Request, service: str = SO) -> str:
        return f"{request.scheme}://{request.host}{service}"

    def _sales_order(self, key_text: str) -> Document:
        key = _key(key_text)
        number = key.get("") or key.get("SalesOrder", "")
        order = self.store.orders.get(number)
        if order is None:
            raise ApiError(
                404, "Resource not found for segment 'A_SalesOrderType'", code="/IWBEP/CM_MGW_RT/020"
            )
        return order

    # -- idempotent services (section 4.4) --

    async def repeatable(
        self, request: web.Request, run: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        """SAP Gateway's idempotent services: a write with ``RequestID`` (32-character
        GUID) and ``RepeatabilityCreation`` runs once; the same RequestID again gets the
        first answer (success or failure) with ``RepeatabilityResult: accepted``, and
        nothing runs. Kept by RequestID alone (ASSUMED: what a differing creation time
        does is not documented). With ``idempotent_services`` off the request is refused
        with ``RepeatabilityResult: unsupported`` and nothing runs (the documented meaning;
        the status 400 and message are ASSUMED)."""
        request_id = request.headers.get("RequestID", "")
        creation = request.headers.get("RepeatabilityCreation", "")
        if not request_id or not creation:
            return await run()
        if not self.settings.idempotent_services:
            raise ApiError(
                400,
                "NetWeaver Idempotent Service Framework error: Check configuration",
                code="/IWBEP/CM_COS/001",
                headers={"RepeatabilityResult": "unsupported"},
            )
        if not _is_request_id(request_id) or not _is_timestamp(creation):
            raise ApiError(
                400,
                "RequestID must be a 32-character GUID and RepeatabilityCreation a date and time",
                code="/IWBEP/CM_COS/000",
            )
        first = self.store.answers.get(request_id.upper())
        if first is None:
            try:
                response = await run()
            except ApiError as error:
                response = self.error_response(request, error)
            raw = response.body
            first = FirstAnswer(
                response.status,
                raw if isinstance(raw, bytes) else b"",
                {k: v for k, v in response.headers.items() if k.lower() != "content-length"},
            )
            self.store.answers[request_id.upper()] = first
        headers = {**first.headers, "RepeatabilityResult": "accepted"}
        return web.Response(status=first.status, body=first.body, headers=headers)

    async def create_sales_order(self, request: web.Request) -> web.Response:
        return await self.repeatable(request, lambda: self._create_sales_order(request))

    async def _create_sales_order(self, request: web.Request) -> web.Response:
        body = await _v2_body(request)
        order = self.new_sales_order(body)
        number = order.header["SalesOrder"]
        base = self._base(request)
        entity = self._order_json(order, base, expand=True)
        location = f"{base}/A_SalesOrder('{number}')"
        return web.json_response(
            {"d": entity}, status=201, headers={"Location": location, "ETag": _etag(order.header)}
        )

    def new_sales_order(self, body: Mapping[str, Any]) -> Document:
        unknown = [
            k for k in body if k not in (*ORDER_FIELDS, *NAVIGATION["A_SalesOrder"]) and k != "__metadata"
        ]
        if unknown:
            raise ApiError(400, f"Property '{unknown[0]}' is invalid", code="/IWBEP/CM_MGW_RT/022")
        missing = [f for f in ORDER_REQUIRED if not body.get(f)]
        if missing:
            raise ApiError(400, f"Enter a value for field {missing[0]}", code="V1/384")
        raw_items = _results(body.get("to_Item"), "to_Item")
        if not raw_items:
            raise ApiError(400, "Sales document contains no items", code="V1/555")
        now = self._stamp()
        number = str(self.ids.next("sales-order"))
        currency = str(body.get("TransactionCurrency") or "USD")
        header: dict[str, Any] = {name: "" for name in ORDER_FIELDS}
        header.update({k: _input_value(k, v) for k, v in body.items() if k in ORDER_INPUT})
        header.update(
            {
                "SalesOrder": number,
                "TransactionCurrency": currency,
                "SalesOrderDate": header["SalesOrderDate"] or now.date(),
                "RequestedDeliveryDate": header["RequestedDeliveryDate"] or now.date(),
                "CustomerPurchaseOrderDate": header["CustomerPurchaseOrderDate"] or None,
                "CompleteDeliveryIsDefined": bool(body.get("CompleteDeliveryIsDefined", False)),
                "CreationDate": now.date(),
                "CreatedByUser": self.settings.user,
                "LastChangeDate": now.date(),
                "LastChangeDateTime": now,
                "OverallSDProcessStatus": "A",
                "OverallTotalDeliveryStatus": "A",
                "OverallDeliveryStatus": "A",
                "OverallOrdReltdBillgStatus": "A",
                "TotalCreditCheckStatus": "",
                "OverallSDDocumentRejectionSts": "A",
                "SalesDocApprovalStatus": "",
            }
        )
        order = Document(header=header, partners=_results(body.get("to_Partner"), "to_Partner"))
        for index, raw in enumerate(raw_items, start=1):
            order.items.append(
                self._item(raw, number, index, currency, str(body.get("PurchaseOrderByCustomer", "")))
            )
        header["TotalNetAmount"] = sum((i["NetAmount"] for i in order.items), Decimal(0))
        self.store.orders[number] = order
        return order

    def _item(self, raw: Any, number: str, index: int, currency: str, po: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise ApiError(400, "Each entry of to_Item must be an object")
        unknown = [k for k in raw if k not in ITEM_FIELDS and k != "__metadata"]
        if unknown:
            raise ApiError(400, f"Property '{unknown[0]}' is invalid", code="/IWBEP/CM_MGW_RT/022")
        if not raw.get("Material"):
            raise ApiError(400, f"Enter a material for item {index * 10}", code="V1/384")
        quantity = _decimal(raw.get("RequestedQuantity"), "RequestedQuantity")
        if quantity <= 0:
            raise ApiError(400, f"Enter a quantity for item {index * 10}", code="V1/384")
        price = self.store.prices.get(str(raw["Material"]), Decimal(self.settings.default_price))
        item: dict[str, Any] = {name: "" for name in ITEM_FIELDS}
        item.update({k: _input_value(k, v) for k, v in raw.items() if k in ITEM_INPUT})
        item.update(
            {
                "SalesOrder": number,
                "SalesOrderItem": str(raw.get("SalesOrderItem") or index * 10),
                "SalesOrderItemCategory": raw.get("SalesOrderItemCategory") or "TAN",
                "PurchaseOrderByCustomer": raw.get("PurchaseOrderByCustomer") or po,
                "RequestedQuantity": quantity,
                "RequestedQuantityUnit": raw.get("RequestedQuantityUnit") or "PC",
                "TransactionCurrency": currency,
                "NetAmount": (quantity * price).quantize(Decimal("0.01")),
                "SDProcessStatus": "A",
                "DeliveryStatus": "A",
                "OrderRelatedBillingStatus": "A",
            }
        )
        return item

    async def get_sales_order(self, request: web.Request) -> web.Response:
        order = self._sales_order(request.match_info["key"])
        expand = _expand(request.query, "A_SalesOrder")
        entity = self._order_json(order, self._base(request), expand="to_Item" in expand)
        entity = select_fields(entity, request.query.get("$select"))
        return web.json_response({"d": entity}, headers={"ETag": _etag(order.header)})

    async def list_sales_orders(self, request: web.Request) -> web.Response:
        expand = "to_Item" in _expand(request.query, "A_SalesOrder")
        base = self._base(request)
        rows = [o.header for o in self.store.orders.values()]
        return self._collection(
            request,
            rows,
            ORDER_FIELDS,
            "A_SalesOrderType",
            lambda h: self._order_json(self.store.orders[h["SalesOrder"]], base, expand=expand),
        )

    async def list_order_items(self, request: web.Request) -> web.Response:
        order = self._sales_order(request.match_info["key"])
        base = self._base(request)
        return self._collection(
            request, order.items, ITEM_FIELDS, "A_SalesOrderItemType", lambda i: _item_json(i, base)
        )

    async def list_sales_order_items(self, request: web.Request) -> web.Response:
        base = self._base(request)
        rows = [i for o in self.store.orders.values() for i in o.items]
        return self._collection(
            request, rows, ITEM_FIELDS, "A_SalesOrderItemType", lambda i: _item_json(i, base)
        )

    async def get_sales_order_item(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        order = self.store.orders.get(key.get("SalesOrder", ""))
        for item in order.items if order else []:
            if item["SalesOrderItem"] == key.get("SalesOrderItem"):
                return web.json_response({"d": _item_json(item, self._base(request))})
        raise ApiError(
            404, "Resource not found for segment 'A_SalesOrderItemType'", code="/IWBEP/CM_MGW_RT/020"
        )

    async def update_sales_order(self, request: web.Request) -> web.Response:
        return await self.repeatable(request, lambda: self._update_sales_order(request))

    async def _update_sales_order(self, request: web.Request) -> web.Response:
        order = self._sales_order(request.match_info["key"])
        match = request.headers.get("If-Match")
        if not match:
            raise ApiError(
                428,
                'The Data Service Request is required to be conditional. Try using the "If-Match" header.',
                code="/IWBEP/CM_MGW_RT/004",
            )
        if match != "*" and match != _etag(order.header):
            raise ApiError(
                412,
                "Precondition failed: the entity was changed by someone else",
                code="/IWBEP/CM_MGW_RT/003",
            )
        body = await _v2_body(request)
        unknown = [k for k in body if k not in ORDER_FIELDS and k != "__metadata"]
        if unknown:
            raise ApiError(400, f"Property '{unknown[0]}' is invalid", code="/IWBEP/CM_MGW_RT/022")
        for name, value in body.items():
            if name in ORDER_INPUT:
                order.header[name] = _input_value(name, value)
        now = self._stamp()
        order.header["LastChangeDate"] = now.date()
        order.header["LastChangeDateTime"] = now
        return web.Response(status=204, headers={"ETag": _etag(order.header)})

    # -- billing documents (section 4.3) --

    def _billing(self, key_text: str) -> Document:
        key = _key(key_text)
        document = self.store.billing.get(key.get("") or key.get("BillingDocument", ""))
        if document is None:
            raise ApiError(
                404, "Resource not found for segment 'A_BillingDocumentType'", code="/IWBEP/CM_MGW_RT/020"
            )
        return document

    async def get_billing_document(self, request: web.Request) -> web.Response:
        document = self._billing(request.match_info["key"])
        expand = "to_Item" in _expand(request.query, "A_BillingDocument")
        entity = self._billing_json(document, self._base(request, BD), expand=expand)
        return web.json_response({"d": select_fields(entity, request.query.get("$select"))})

    async def list_billing_documents(self, request: web.Request) -> web.Response:
        expand = "to_Item" in _expand(request.query, "A_BillingDocument")
        base = self._base(request, BD)
        rows = [d.header for d in self.store.billing.values()]
        return self._collection(
            request,
            rows,
            BILLING_FIELDS,
            "A_BillingDocumentType",
            lambda h: self._billing_json(self.store.billing[h["BillingDocument"]], base, expand=expand),
        )

    async def list_billing_items_of(self, request: web.Request) -> web.Response:
        document = self._billing(request.match_info["key"])
        base = self._base(request, BD)
        return self._collection(
            request,
            document.items,
            BILLING_ITEM_FIELDS,
            "A_BillingDocumentItemType",
            lambda i: _billing_item_json(i, base),
        )

    async def list_billing_items(self, request: web.Request) -> web.Response:
        base = self._base(request, BD)
        rows = [i for d in self.store.billing.values() for i in d.items]
        return self._collection(
            request,
            rows,
            BILLING_ITEM_FIELDS,
            "A_BillingDocumentItemType",
            lambda i: _billing_item_json(i, base),
        )

    async def get_billing_item(self, request: web.Request) -> web.Response:
        key = _key(request.match_info["key"])
        document = self.store.billing.get(key.get("BillingDocument", ""))
        for item in document.items if document else []:
            if item["BillingDocumentItem"] == key.get("BillingDocumentItem"):
                return web.json_response({"d": _billing_item_json(item, self._base(request, BD))})
        raise ApiError(
            404, "Resource not found for segment 'A_BillingDocumentItemType'", code="/IWBEP/CM_MGW_RT/020"
        )

    async def cancel_billing_document(self, request: web.Request) -> web.Response:
        """The ``Cancel`` function import (section 8): an S1 cancellation document reverses
        the billing document; a cancelled one cannot be cancelled again."""
        number = request.query.get("BillingDocument", "").strip("'")
        document = self._billing(f"'{number}'")
        if document.header["BillingDocumentIsCancelled"]:
            raise ApiError(400, f"Billing document {number} is already cancelled", code="VF/058")
        reversal = str(self.ids.next("billing-document", start=90000001))
        now = self._stamp()
        header = {**document.header, "BillingDocument": reversal, "BillingDocumentType": "S1"}
        header.update(
            {"CancelledBillingDocument": number, "LastChangeDateTime": now, "CreationDate": now.date()}
        )
        self.store.billing[reversal] = Document(
            header=header, items=[{**i, "BillingDocument": reversal} for i in document.items]
        )
        document.header["BillingDocumentIsCancelled"] = True
        result = {
            "BillingDocument": number,
            "CancellationBillingDocument": reversal,
            "SystemMessageType": "S",
            "SystemMessageText": f"Document {reversal} has been saved",
        }
        return web.json_response({"d": {"Cancel": result}})

    async def create_credit_memo_request(self, request: web.Request) -> web.Response:
        """API_CREDIT_MEMO_REQUEST_SRV: a credit memo request (type CR) referring to a
        billing document, with its items (deep insert ``to_Item``)."""
        body = await _v2_body(request)
        missing = [f for f in ("SalesOrganization", "SoldToParty", "ReferenceSDDocument") if not body.get(f)]
        if missing:
            raise ApiError(400, f"Fill in the required fields: {', '.join(missing)}", code="V1/384")
        if body["ReferenceSDDocument"] not in self.store.billing:
            raise ApiError(
                400, f"Billing document {body['ReferenceSDDocument']} does not exist", code="VF/010"
            )
        raw = body.get("to_Item", [])
        items = raw.get("results", []) if isinstance(raw, dict) else raw
        if not isinstance(items, list) or not items:
            raise ApiError(400, "A credit memo request needs at least one item", code="V1/385")
        number = str(self.ids.next("credit-memo-request", start=60000001))
        memo = {
            "CreditMemoRequest": number,
            "CreditMemoRequestType": str(body.get("CreditMemoRequestType") or "CR"),
            "SalesOrganization": body["SalesOrganization"],
            "SoldToParty": body["SoldToParty"],
            "PurchaseOrderByCustomer": str(body.get("PurchaseOrderByCustomer") or ""),
            "ReferenceSDDocument": body["ReferenceSDDocument"],
            "SDDocumentReason": str(body.get("SDDocumentReason") or ""),
            "to_Item": {
                "results": [{"CreditMemoRequestItem": str(10 * n), **i} for n, i in enumerate(items, 1)]
            },
        }
        self.store.credit_memo_requests[number] = memo
        return web.json_response({"d": memo}, status=201)

    async def list_credit_memo_requests(self, request: web.Request) -> web.Response:
        rows = list(self.store.credit_memo_requests.values())
        wanted = request.query.get("$filter", "")
        if "PurchaseOrderByCustomer eq " in wanted:
            ref = wanted.split("PurchaseOrderByCustomer eq ", 1)[1].strip().strip("'").replace("''", "'")
            rows = [r for r in rows if r["PurchaseOrderByCustomer"] == ref]
        return web.json_response({"d": {"results": rows}})

    async def read_only(self, request: web.Request) -> web.Response:
        raise ApiError(
            405,
            "The service API_BILLING_DOCUMENT_SRV is read-only: the operation is not supported",
            code="/IWBEP/CM_MGW_RT/021",
        )

    def _collection(
        self,
        request: web.Request,
        rows: list[dict[str, Any]],
        fields: Sequence[str],
        entity_type: str,
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> web.Response:
        q = request.query
        try:
            if q.get("$filter"):
                keep = compile_filter(q["$filter"], fields, entity=entity_type)
                rows = [r for r in rows if keep(r)]
            skip = query_int(q, "$skip") or 0
            top = query_int(q, "$top")
        except FilterError as exc:
            raise ApiError(400, str(exc), code="/IWBEP/CM_MGW_RT/001") from exc
        window = rows[skip:]
        limit = min(top, self.settings.page_size) if top is not None else self.settings.page_size
        page = window[:limit]
        body: dict[str, Any] = {}
        if q.get("$inlinecount") == "allpages":
            body["__count"] = str(len(rows))
        body["results"] = [select_fields(render(r), q.get("$select")) for r in page]
        if len(page) < min(top if top is not None else len(window), len(window)):
            body["__next"] = f"{request.scheme}://{request.host}{request.path}?$skiptoken={skip + len(page)}"
        return web.json_response({"d": body})

    # -- V2 JSON shapes --

    def _order_json(self, order: Document, base: str, *, expand: bool) -> dict[str, Any]:
        number = order.header["SalesOrder"]
        uri = f"{base}/A_SalesOrder('{number}')"
        out: dict[str, Any] = {
            "__metadata": {
                "id": uri,
                "uri": uri,
                "type": "API_SALES_ORDER_SRV.A_SalesOrderType",
                "etag": _etag(order.header),
            }
        }
        out.update(_v2_values(order.header))
        for nav in NAVIGATION["A_SalesOrder"]:
            out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        if expand:
            out["to_Item"] = {"results": [_item_json(i, base) for i in order.items]}
        return out

    def _billing_json(self, document: Document, base: str, *, expand: bool) -> dict[str, Any]:
        number = document.header["BillingDocument"]
        uri = f"{base}/A_BillingDocument('{number}')"
        out: dict[str, Any] = {
            "__metadata": {"id": uri, "uri": uri, "type": "API_BILLING_DOCUMENT_SRV.A_BillingDocumentType"}
        }
        out.update(_v2_values(document.header))
        for nav in ("to_Item", "to_Partner", "to_PricingElement", "to_Text"):
            out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        if expand:
            out["to_Item"] = {"results": [_billing_item_json(i, base) for i in document.items]}
        return out

    # -- billing and the CloudEvent (sections 4.3, 4.4) --

    def bill(self, order: Document, tax_rate: Decimal) -> tuple[Document, dict[str, Any]]:
        header = order.header
        if header["OverallOrdReltdBillgStatus"] == "C":
            raise ApiError(409, f"sales order {header['SalesOrder']} is already billed")
        now = self._stamp()
        number = str(self.ids.next("billing-document", start=90000001))
        items = [
            _billing_item(number, index, item, header, tax_rate)
            for index, item in enumerate(order.items, start=1)
        ]
        billing = Document(header=self._billing_header(number, header, items, now), items=items)
        self.store.billing[number] = billing
        _mark_billed(order, now)
        event_id = self.ids.uuid("cloudevent")
        event = {
            "specversion": "1.0",
            "type": EVENT_TYPE,
            "source": f"/default/sap.s4.beh/{self.settings.system_id}CLNT{self.settings.client}",
            "id": event_id,
            "time": iso(now.replace(microsecond=0)),
            "datacontenttype": "application/json",
            "data": {"BillingDocument": number, "BillingDocumentType": "F2"},
        }
        self.emit(EVENT_TYPE, event_id, event, RETRY_SCHEDULE, content_type="application/cloudevents+json")
        return billing, event

    def _billing_header(
        self, number: str, header: dict[str, Any], items: list[dict[str, Any]], now: datetime
    ) -> dict[str, Any]:
        """A billing document's header: the sales order's parties and terms, the items' totals."""
        net = sum((i["NetAmount"] for i in items), Decimal(0))
        tax_total = sum((i["TaxAmount"] for i in items), Decimal(0))
        return {
            "BillingDocument": number,
            "SDDocumentCategory": "M",
            "BillingDocumentCategory": "L",
            "BillingDocumentType": "F2",
            "CreationDate": now.date(),
            "LastChangeDate": now.date(),
            "LastChangeDateTime": now,
            "SalesOrganization": header["SalesOrganization"],
            "DistributionChannel": header["DistributionChannel"],
            "Division": header["OrganizationDivision"],
            "BillingDocumentDate": now.date(),
            "BillingDocumentIsCancelled": False,
            "CancelledBillingDocument": "",
            "TotalNetAmount": net,
            "TaxAmount": tax_total,
            "TotalGrossAmount": net + tax_total,
            "TransactionCurrency": header["TransactionCurrency"],
            "CompanyCode": header["SalesOrganization"],
            "FiscalYear": str(now.year),
            "AccountingDocument": f"94{self.ids.next('accounting-document'):08d}",
            "OverallBillingStatus": "C",
            "AccountingPostingStatus": "C",
            "AccountingTransferStatus": "C",
            "InvoiceClearingStatus": "A",
            "OverallSDProcessStatus": "C",
            "SoldToParty": header["SoldToParty"],
            "PayerParty": header["SoldToParty"],
            "PurchaseOrderByCustomer": header["PurchaseOrderByCustomer"],
            "CustomerPaymentTerms": header["CustomerPaymentTerms"],
            "IncotermsClassification": header["IncotermsClassification"],
        }

    # -- control plane --

    async def sim_list_orders(self, request: web.Request) -> web.Response:
        base = self._base(request)
        orders = [self._order_json(o, base, expand=True) for o in self.store.orders.values()]
        return web.json_response({"count": len(orders), "salesorders": orders})

    async def sim_get_order(self, request: web.Request) -> web.Response:
        order = self.store.orders.get(request.match_info["so"])
        if order is None:
            raise ApiError(404, f"no sales order {request.match_info['so']}")
        return web.json_response(self._order_json(order, self._base(request), expand=True))

    async def sim_bill(self, request: web.Request) -> web.Response:
        order = self.store.orders.get(request.match_info["so"])
        if order is None:
            raise ApiError(404, f"no sales order {request.match_info['so']}")
        spec = await json_body(request, default={})
        billing, event = self.bill(order, _decimal(spec.get("tax_rate", "0"), "tax_rate"))
        entity = self._billing_json(billing, self._base(request, BD), expand=True)
        return web.json_response({"billing_document": entity, "event": event})

    async def sim_list_billing(self, request: web.Request) -> web.Response:
        base = self._base(request, BD)
        documents = [self._billing_json(d, base, expand=True) for d in self.store.billing.values()]
        return web.json_response({"count": len(documents), "billingdocuments": documents})

    async def sim_set_prices(self, request: web.Request) -> web.Response:
        spec = await json_body(request)
        for material, price in spec.items():
            self.store.prices[str(material)] = _decimal(price, f"price of {material}")
        return web.json_response({k: str(v) for k, v in self.store.prices.items()})

    async def sim_invalidate_csrf(self, request: web.Request) -> web.Response:
        count = len(self.store.sessions)
        self.store.sessions.clear()
        return web.json_response({"invalidated": count})


# --- helpers -------------------------------------------------------------------------


def _key(text: str) -> dict[str, str]:
    try:
        return parse_key(text)
    except FilterError as exc:
        raise ApiError(400, str(exc), code="/IWBEP/CM_MGW_RT/022") from exc


def _is_request_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)


def _is_timestamp(value: str) -> bool:
    """An ISO 8601 date-time (as SAP's own clients send it) or an HTTP date."""
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return False
    return True


def _etag(header: Mapping[str, Any]) -> str:
    """``W/"datetimeoffset'2019-01-09T08%3A41%3A03.68Z'"`` from LastChangeDateTime."""
    stamp = header["LastChangeDateTime"].strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return f"W/\"datetimeoffset'{quote(stamp, safe='')}'\""


def _v2_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in DATETIMEOFFSET_FIELDS and isinstance(value, datetime):
        return v2_datetimeoffset(value)
    if name in DATE_FIELDS and isinstance(value, date):
        return v2_date(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}" if name in AMOUNTS else _plain(value)
    return value


def _v2_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _v2_value(name, value) for name, value in row.items()}


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _item_json(item: Mapping[str, Any], base: str) -> dict[str, Any]:
    key = f"SalesOrder='{item['SalesOrder']}',SalesOrderItem='{item['SalesOrderItem']}'"
    uri = f"{base}/A_SalesOrderItem({key})"
    out: dict[str, Any] = {
        "__metadata": {"id": uri, "uri": uri, "type": "API_SALES_ORDER_SRV.A_SalesOrderItemType"}
    }
    out.update(_v2_values(item))
    for nav in ("to_Partner", "to_PricingElement", "to_SalesOrder", "to_ScheduleLine", "to_Text"):
        out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
    return out


def _billing_item(
    number: str, index: int, item: dict[str, Any], header: dict[str, Any], tax_rate: Decimal
) -> dict[str, Any]:
    """One billing document item for one sales order item, taxed at ``tax_rate``."""
    tax = (item["NetAmount"] * tax_rate).quantize(Decimal("0.01"))
    return {
        "BillingDocument": number,
        "BillingDocumentItem": str(index * 10),
        "SalesDocumentItemCategory": item["SalesOrderItemCategory"],
        "Material": item["Material"],
        "BillingDocumentItemText": item["SalesOrderItemText"] or item["Material"],
        "BillingQuantity": item["RequestedQuantity"],
        "BillingQuantityUnit": item["RequestedQuantityUnit"],
        "NetAmount": item["NetAmount"],
        "TaxAmount": tax,
        "GrossAmount": item["NetAmount"] + tax,
        "TransactionCurrency": item["TransactionCurrency"],
        "Plant": item["ProductionPlant"],
        "ReferenceSDDocument": header["SalesOrder"],
        "ReferenceSDDocumentItem": item["SalesOrderItem"],
        "ReferenceSDDocumentCategory": "C",
        "SalesDocument": header["SalesOrder"],
        "SalesDocumentItem": item["SalesOrderItem"],
    }


def _mark_billed(order: Document, now: datetime) -> None:
    """A billed sales order is complete: every header and item status "C"."""
    header = order.header
    for name in (
        "OverallSDProcessStatus",
        "OverallTotalDeliveryStatus",
        "OverallDeliveryStatus",
        "OverallOrdReltdBillgStatus",
    ):
        header[name] = "C"
    for item in order.items:
        for name in ITEM_STATUS:
            item[name] = "C"
    header["LastChangeDate"] = now.date()
    header["LastChangeDateTime"] = now


def _billing_item_json(item: Mapping[str, Any], base: str) -> dict[str, Any]:
    key = f"BillingDocument='{item['BillingDocument']}',BillingDocumentItem='{item['BillingDocumentItem']}'"
    uri = f"{base}/A_BillingDocumentItem({key})"
    out: dict[str, Any] = {
        "__metadata": {"id": uri, "uri": uri, "type": "API_BILLING_DOCUMENT_SRV.A_BillingDocumentItemType"}
    }
    out.update(_v2_values(item))
    return out


def _input_value(name: str, value: Any) -> Any:
    """A property as given on create/update, parsed into the stored Python value."""
    if value is None:
        return None
    if name in QUANTITIES:
        return _decimal(value, name)
    if name in DATE_FIELDS:
        return _parse_v2_date(value, name)
    return value


def _parse_v2_date(value: Any, name: str) -> date:
    text = str(value)
    if text.startswith("/Date("):
        millis = int(text[6:].split(")", 1)[0].split("+", 1)[0].split("-", 1)[0])
        return datetime.fromtimestamp(millis / 1000, tz=UTC).date()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError as exc:
        raise ApiError(
            400, f"Invalid value '{text}' for property {name}", code="/IWBEP/CM_MGW_RT/022"
        ) from exc


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ApiError(
            400, f"Invalid value '{value}' for property {name}", code="/IWBEP/CM_MGW_RT/022"
        ) from exc


def _results(value: Any, name: str) -> list[dict[str, Any]]:
    """A deep-insert navigation: a list, or ``{"results": [...]}`` (both seen in clients)."""
    if value is None:
        return []
    if isinstance(value, dict) and isinstance(value.get("results"), list):
        value = value["results"]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiError(
            400, f"Navigation property {name} must be a list of entities", code="/IWBEP/CM_MGW_RT/022"
        )
    return list(value)


def _expand(query: Mapping[str, str], entity_set: str) -> set[str]:
    wanted = {e.strip() for e in query.get("$expand", "").split(",") if e.strip()}
    allowed = set(NAVIGATION.get(entity_set, ())) | {"to_Item"}
    unknown = wanted - allowed
    if unknown:
        raise ApiError(400, f"Property '{sorted(unknown)[0]}' is invalid", code="/IWBEP/CM_MGW_RT/022")
    return wanted


async def _v2_body(request: web.Request) -> dict[str, Any]:
    try:
        return await json_body(request)
    except ApiError as error:
        raise ApiError(
            400, "Malformed request body: " + error.message, code="/IWBEP/CM_MGW_RT/000"
        ) from error


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m simulators.sap`` (``oms simulator sap``): ``--help`` lists its settings."""
    return run(
        SapSimulator,
        SapSettings,
        "sap",
        8104,
        "SAP S/4HANA simulator: sales orders, billing documents (OData v2, CSRF), billing CloudEvents.",
        argv,
        prog,
    )


if __name__ == "__main__":
    raise SystemExit(main())
