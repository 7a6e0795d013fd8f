"""Dynamics 365 Finance + Operations connector (provider-apis.md section 3).

Calls go to the OData root ``<FNO_URL>/data`` with an Entra ID client-credentials token
(``scope=<FNO_URL>/.default``), cached until a minute before it expires and fetched again
when F&O answers 401.

Actions:

- ``send_to_fulfillment``, and ``send_to_billing`` of an order that did not come from F&O:
  **the sales order and its lines** — header and lines in one ``$batch`` changeset (all or
  nothing), with an explicit ``SalesOrderNumber`` (our order id when it fits F&O's 20
  characters, else ``IOM`` + a hash of it), ``CustomersOrderReference`` = our order id, and
  each line's ``LineNumber`` = its position in our order. Idempotent, F&O having no key on
  OData writes: the ``SalesOrderNumber`` is the key. It is read by key first; an existing
  order gets only the lines it lacks (by ``LineNumber``), and F&O's duplicate-key refusal
  ("The record already exists") of a create counts as done. The lines: those the flow names
  (param ``lines``, journey 6: what DOM sourced and no earlier sync sent, so lines
  released from Backorder hold follow later), else every line not canceled (with
  ``sync_lines: with_warehouse`` only those with a shipping warehouse). Company = the
  order's company (``dataAreaId``), customer = its invoice customer.
- ``send_to_billing`` of an order that came from F&O (channel ``fno``, journeys 3 and 4):
  **send the order's status to F&O**: ``PATCH SalesOrderHeadersV2(dataAreaId,
  SalesOrderNumber)`` setting ``--status-field`` to the order's status reason, e.g.
  ``Packed``. No standard entity field holds an IOM status (``CustomerRequisitionNumber``,
  used before, is the customer's requisition and means something else), so the default is
  the extension field ``IOMOrderStatus``, which an installation adds to
  ``SalesOrderHeaderV2Entity`` (as dual-write maps IOM's status in a Dataverse setup);
  ``--status-field`` / ``FNO_STATUS_FIELD`` names another field where one exists.
- ``cancel_order`` / ``cancel_lines`` (param ``line_ids``): the sales order holding the
  order (its own for an F&O order, else ours by :func:`sales_order_number`) is canceled
  through the bound actions ``SalesOrderHeadersV2(<key>)/Microsoft.Dynamics.DataEntities.
  cancel`` and ``SalesOrderLines(<key>)/...cancelRemainder`` (ASSUMED: F&O's "deliver
  remainder -> cancel quantity" has no documented OData form; a custom service action is
  the usual way). A sales order F&O does not have, or canceled already, is done; one
  delivered is refused with F&O's words. Our own cancel's event is not a cancel from F&O.
- ``create_return``: a return order (RMA) in F&O, ``ReturnOrderHeaders`` with the explicit
  ``ReturnOrderNumber`` derived from the RMA id (its idempotency key, as for sales
  orders), ``RMANumber``, ``CustomersOrderReference`` = our order id, then one
  ``ReturnOrderLines`` per returned line (by ``LineNumber``; a line that exists is done).
  Entity names are ASSUMED (``ReturnOrderHeaderEntity`` exists since 10.0.13; read the
  public names from ``$metadata``).
- ``issue_credit_note``: the return order's invoice (``ReturnOrderHeaders(<key>)/...
  postCreditNote``, ASSUMED); the credit note id is the refund's.

Inbound, at ``POST /webhooks/fno`` (optionally ``?key=<FNO_WEBHOOK_KEY>``: F&O HTTPS
endpoints carry no signature, the key in the URL is the documented protection):

- **Business events** (``BusinessEventId`` in the body): picked
  (``SalesOrderPickingListPostedBusinessEvent``) -> ``RecordPicked``, packed
  (``SalesOrderPackingSlipPostedBusinessEvent``) -> ``RecordShipped``, invoiced
  (``SalesInvoicePostedBusinessEvent``) -> ``RecordInvoiced``, command id from ``EventId``
  (so every instance publishes the same id); deduplicated by ``EventId`` in the store, and
  per sales order an event whose ``ControlNumber`` is not above the last one this instance
  applied is older than what it knows and is dropped (fast paths: another instance
  publishes it, and the transition table refuses a status older than the order's).
- **Dual-write** of orders confirmed in F&O (``"entity": "salesorders", "operation":
  "confirmed"``) -> ``CreateOrder``: order id ``<prefix><COMPANY>-<SalesOrderNumber>``
  (``--order-id-prefix``, default ``FNO-``), channel ``fno``, company ``dataAreaId``,
  invoice customer, one line per sales order line with its site and warehouse, external
  ref ``fno=<SalesOrderNumber>``. Attributes come from the order's **sales origin**
  (``SalesOrderOriginCode``), mapped by ``--origin-attributes`` (default ``FNO`` ->
  fulfillment=fno, ``FLEXE-FNO`` -> fulfillment=flexe + billing=fno, ``FLEXE-SAP`` ->
  fulfillment=flexe + billing=sap), plus ``origin=<code>``.
- **Two steps, as F&O makes an order** (created, then confirmed): ``SalesOrderCreatedBusinessEvent``
  and ``SalesOrderConfirmedBusinessEvent`` (ASSUMED custom events in the documented
  envelope; section 3.4 documents the extension, and the OOB catalog has no sales order
  events) carry the keys; the connector reads the order over OData and publishes
  ``CreateOrder`` marked awaiting confirmation (New / Created, no flow yet), then
  ``ConfirmOrder`` (New / Confirmed: the flow starts). Why business events: dual-write is a
  Dataverse feature (section 3.5) and F&O's OData has no change feed for sales orders
  (change tracking serves data-management exports), while business events are what F&O
  pushes. The dual-write style feed below is still taken (an order confirmed at once).
- **Canceled in F&O** (``SalesOrderCanceledBusinessEvent``, ASSUMED custom) of an order of
  ours -> ``CancelOrder`` (reason "Canceled in F&O"), unless it is our own cancel's echo.
- **Return order made in F&O** (``ReturnOrderCreatedBusinessEvent``, ASSUMED custom, keys
  only) against a sales order of ours -> ``RequestReturn`` (RMA = F&O's return order
  number, ``return_source`` fno): the header and lines are read over OData, each return line
  numbered as the sales order line it returns, which is our line id for an order made in
  F&O and the line's position for an order we sent (the connector keeps each sync's line
  ids). A return order that names our order in ``CustomersOrderReference`` is one we made:
  no return to take. The return flow's ``create_return`` then finds F&O's return order
  and adds nothing to it.
- **Return received** (``ReturnOrderReceivedBusinessEvent``, ASSUMED custom) ->
  ``RecordReturnReceived`` for the RMA, with the receiving warehouse.

Events name the sales order; our order id comes from the connector's store (written when
we create or take in an order), else from the order's ``CustomersOrderReference``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from connectors import config
from connectors.actions import ActionFailed, ActionOutcome, Publisher, envelope, unsupported
from connectors.base import HttpConnector
from connectors.http import ProviderHttp, ProviderHttpError, Reply, error_detail
from connectors.odata import BatchRequest, batch_answers, changeset, key, literal
from connectors.state import ConnectorStore
from connectors.webhooks import (
    acknowledged,
    check_shared_key,
    json_object,
    read_body,
    refused,
    require,
)
from streams.domain.commands import (
    CancelOrder,
    Command,
    ConfirmOrder,
    CreateOrder,
    ProviderActionRequest,
    RecordInvoiced,
    RecordPicked,
    RecordReturnReceived,
    RecordShipped,
    RequestReturn,
)
from streams.domain.snapshot import LineSnapshot, OrderSnapshot
from streams.domain.values import Address, ExternalRef, LineQuantity, OrderLine, OrderStatus
from streams.shell.commands import CommandFailed

log = logging.getLogger(__name__)

PROVIDER = "fno"
WEBHOOK_PATH = "/webhooks/fno"
HEADERS = "SalesOrderHeadersV2"
RETURNS = "ReturnOrderHeaders"
RETURN_LINES = "ReturnOrderLines"
ACTION = "Microsoft.Dynamics.DataEntities"
CANCELED = "SalesOrderCanceledBusinessEvent"
CREATED = "SalesOrderCreatedBusinessEvent"
CONFIRMED = "SalesOrderConfirmedBusinessEvent"
RETURN_RECEIVED = "ReturnOrderReceivedBusinessEvent"
RETURN_CREATED = "ReturnOrderCreatedBusinessEvent"
STATUS_FIELD = "IOMOrderStatus"
PICKED = "SalesOrderPickingListPostedBusinessEvent"
PACKED = "SalesOrderPackingSlipPostedBusinessEvent"
INVOICED = "SalesInvoicePostedBusinessEvent"
DEFAULT_ORIGINS = (
    "FNO=fulfillment:fno;FLEXE-FNO=fulfillment:flexe,billing:fno;FLEXE-SAP=fulfillment:flexe,billing:sap"
)
_ISO3 = {
    "USA": "US", "CAN": "CA", "MEX": "MX", "GBR": "GB", "DEU": "DE", "FRA": "FR", "NLD": "NL",
    "BEL": "BE", "DNK": "DK", "SWE": "SE", "NOR": "NO", "FIN": "FI", "ESP": "ES", "ITA": "IT",
    "AUT": "AT", "CHE": "CH", "IRL": "IE", "POL": "PL", "AUS": "AU", "NZL": "NZ", "JPN": "JP",
    "CHN": "CN", "IND": "IN", "BRA": "BR",
}  # fmt: skip
_ISO2 = {two: three for three, two in _ISO3.items()}


def parse_origin_attributes(text: str) -> dict[str, dict[str, str]]:
    """``CODE=key:value,key:value;CODE2=...`` -> {code: attributes}."""
    table: dict[str, dict[str, str]] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        code, _, pairs = entry.partition("=")
        attributes = {}
        for pair in filter(None, (p.strip() for p in pairs.split(","))):
            name, sep, value = pair.partition(":")
            if not sep or not name.strip():
                raise ValueError(f"origin attributes: {pair!r} is not key:value")
            attributes[name.strip()] = value.strip()
        table[code.strip().upper()] = attributes
    return table


SALES_ID_LENGTH = 20
"""SalesOrderNumber (EDT SalesId) holds 20 characters."""


def sales_order_number(order_id: str) -> str:
    """The explicit SalesOrderNumber of our order: its idempotency key at F&O, which has
    none on OData writes, so a second create of the same order is refused as a duplicate
    key instead of making another order.

    Derived from the order id alone, so every attempt of every step (and every connector
    instance) names the same sales order: the order id itself when it fits the field (at
    most 20 of ``A-Z a-z 0-9 _ -``), else ``IOM`` + the first 17 hex digits (upper case)
    of the SHA-1 of the order id (68 bits; a collision is caught by the
    ``CustomersOrderReference`` check, see :meth:`FnoConnector.sync_sales_order`).
    """
    if re.fullmatch(rf"[A-Za-z0-9_-]{{1,{SALES_ID_LENGTH}}}", order_id):
        return order_id
    return "IOM" + hashlib.sha1(order_id.encode()).hexdigest()[: SALES_ID_LENGTH - 3].upper()


def already_exists(failure: str) -> bool:
    """F&O's duplicate-key refusal (``... The record already exists.`` in the infolog)."""
    return "record already exists" in failure.lower()


def lines_to_send(order: OrderSnapshot, params: Mapping[str, str]) -> list[tuple[int, LineSnapshot]]:
    """The lines a sync sends, each with its position in the order (1-based). The flow
    names them (``lines``, journey 6: those DOM sourced and no earlier sync sent); else
    every line not canceled, and with ``sync_lines: with_warehouse`` only those that
    have a shipping warehouse."""
    numbered = list(enumerate(order.lines, start=1))
    if "lines" in params:
        named = {x.strip() for x in params["lines"].split(",")}
        return [(n, line) for n, line in numbered if line.line_id in named]
    chosen = [(n, line) for n, line in numbered if line.status != OrderStatus.CANCELED]
    if params.get("sync_lines") == "with_warehouse":
        chosen = [(n, line) for n, line in chosen if line.warehouse]
    return chosen


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError):
        return None


def _quantity(value: Any) -> int:
    number = float(value)
    if not number.is_integer() or number <= 0:
        raise ValueError(f"quantity {value!r} is not a positive whole number")
    return int(number)


@dataclass(frozen=True)
class FnoOptions:
    order_id_prefix: str = "FNO-"
    origin_attributes: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: parse_origin_attributes(DEFAULT_ORIGINS)
    )
    lines_collection: str = "SalesOrderLines"
    status_field: str = STATUS_FIELD
    default_company: str = "usmf"


class EntraToken:
    """An Entra ID client-credentials token for F&O, cached and renewed on a 401."""

    def __init__(self, http: ProviderHttp, token_url: str, client_id: str, secret: config.Secret, scope: str):
        self._http = http
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope}
        self._secret = secret
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self._current()}"}

    async def renew(self, reply: Reply) -> bool:
        if reply.status != 401:
            return False
        self._token = None
        return True

    async def _current(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                form = urlencode({**self._form, "client_secret": self._secret.reveal()}).encode()
                reply = await self._http.request(
                    "POST",
                    self._token_url,
                    data=form,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    use_auth=False,
                )
                answer = reply.json()
                self._token = str(answer["access_token"])
                self._expires = time.monotonic() + max(0.0, float(answer.get("expires_in", 3599)) - 60)
                log.info("fno: new access token, valid %ss", answer.get("expires_in"))
            return self._token


class FnoConnector(HttpConnector[FnoOptions, config.Secret]):
    """``api`` is rooted at the F&O environment URL, with an ``EntraToken`` as its auth."""

    provider = PROVIDER
    webhook_path = WEBHOOK_PATH

    # -- actions --

    async def perform(
        self, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        if request.action == "send_to_fulfillment":
            return await self.sync_sales_order(order, lines_to_send(order, request.params), deadline)
        if request.action == "send_to_billing":
            if order.channel == PROVIDER and order.external_ref(PROVIDER):
                return await self.send_status(order, deadline)
            return await self.sync_sales_order(order, lines_to_send(order, request.params), deadline)
        if request.action in ("cancel_order", "cancel_lines"):
            return await self.cancel(order, request, deadline)
        if request.action == "create_return":
            return await self.create_return(order, request.params, deadline)
        if request.action == "issue_credit_note":
            return await self.credit_note(order, request.params, deadline)
        return unsupported(request)

    def _sales_order(self, order: OrderSnapshot) -> tuple[str, str]:
        """(company, number) of the sales order that holds ``order`` at F&O."""
        company = (order.company or self.options.default_company).lower()
        own = order.external_ref(PROVIDER) if order.channel == PROVIDER else None
        return company, own or sales_order_number(order.order_id)

    async def cancel(
        self, order: OrderSnapshot, request: ProviderActionRequest, deadline: float
    ) -> ActionOutcome:
        company, number = self._sales_order(order)
        reply = await self.api.request(
            "GET",
            f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}",
            accept=(404,),
            deadline=deadline,
        )
        if reply.status == 404:
            return ActionOutcome.done(f"F&O has no sales order {number}: nothing to cancel")
        if reply.json().get("SalesOrderStatus") == "Canceled":
            return ActionOutcome.done(f"sales order {number} is canceled already")
        self.store.remember("echo", f"cancel/{company}/{number}")
        if request.action == "cancel_order":
            path = f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}/{ACTION}.cancel"
            await self.api.request("POST", path, json_body={}, deadline=deadline)
            return ActionOutcome.done(f"sales order {number} canceled", provider_order_id=number)
        wanted = self._line_numbers(order, request.params.get("line_ids", ""))
        rows = await self.api.request(
            "GET",
            f"data/{self.options.lines_collection}",
            params={
                "$filter": f"dataAreaId eq {literal(company)} and SalesOrderNumber eq {literal(number)}",
                "cross-company": "true",
            },
            deadline=deadline,
        )
        canceled = []
        for row in rows.json().get("value", []):
            if int(row.get("LineNumber") or 0) in wanted and row.get("SalesOrderLineStatus") != "Canceled":
                lot = key(dataAreaId=company, InventoryLotId=str(row["InventoryLotId"]))
                path = f"data/{self.options.lines_collection}{lot}/{ACTION}.cancelRemainder"
                await self.api.request("POST", path, json_body={}, deadline=deadline)
                canceled.append(str(int(row["LineNumber"])))
        return ActionOutcome.done(
            f"lines {', '.join(canceled) or 'none left'} of sales order {number} canceled"
        )

    @staticmethod
    def _line_numbers(order: OrderSnapshot, line_ids: str) -> set[int]:
        """F&O's LineNumber of our lines: an F&O order's line ids are its line numbers; the
        lines of an order we sent are numbered by their position in it."""
        ids = {x for x in line_ids.split(",") if x}
        if order.channel == PROVIDER:
            return {int(x) for x in ids if x.isdigit()}
        return {n for n, line in enumerate(order.lines, start=1) if line.line_id in ids}

    async def create_return(
        self, order: OrderSnapshot, params: Mapping[str, str], deadline: float
    ) -> ActionOutcome:
        company, number = self._sales_order(order)
        rma = params.get("rma_id", "")
        returned = sales_order_number(rma)
        header = {
            "dataAreaId": company,
            "ReturnOrderNumber": returned,
            "CustomerAccountNumber": order.invoice_customer or order.customer_id,
            "RMANumber": rma,
            "CustomersOrderReference": order.order_id,
            "OriginalSalesOrderNumber": number,
        }
        reply = await self.api.request(
            "POST", f"data/{RETURNS}", json_body=header, accept=(400,), once=True, deadline=deadline
        )
        if reply.status == 400 and not already_exists(error_detail(reply.body)):
            raise ActionFailed(error_detail(reply.body))
        if reply.status == 400 and await self._made_in_fno_return(company, returned, deadline):
            return ActionOutcome.done(f"return order {returned} was made in F&O", provider_order_id=returned)
        self.store.put("return", f"{company}/{returned}", f"{order.order_id}|{rma}")
        positions = {line.line_id: n for n, line in enumerate(order.lines, start=1)}
        skus = {line.line_id: line.sku for line in order.lines}
        for part in filter(None, params.get("return_lines", "").split(",")):
            line_id, _, units = part.partition(":")
            body = {
                "dataAreaId": company,
                "ReturnOrderNumber": returned,
                "LineNumber": positions.get(line_id, 0),
                "ItemNumber": skus.get(line_id, ""),
                "ReturnQuantity": -int(units),
            }
            line = await self.api.request(
                "POST", f"data/{RETURN_LINES}", json_body=body, accept=(400,), once=True, deadline=deadline
            )
            if line.status == 400 and not already_exists(error_detail(line.body)):
                raise ActionFailed(error_detail(line.body))
        return ActionOutcome.done(f"return order {returned} for {rma}", provider_order_id=returned)

    async def _made_in_fno_return(self, company: str, number: str, deadline: float) -> bool:
        """Whether return order ``number`` was made in F&O (no ``CustomersOrderReference``):
        its lines are F&O's, not to be added to."""
        reply = await self.api.request(
            "GET", f"data/{RETURNS}{key(dataAreaId=company, ReturnOrderNumber=number)}", deadline=deadline
        )
        return not reply.json().get("CustomersOrderReference")

    async def credit_note(
        self, order: OrderSnapshot, params: Mapping[str, str], deadline: float
    ) -> ActionOutcome:
        company, _ = self._sales_order(order)
        returned = sales_order_number(params.get("rma_id", ""))
        path = f"data/{RETURNS}{key(dataAreaId=company, ReturnOrderNumber=returned)}/{ACTION}.postCreditNote"
        reply = await self.api.request("POST", path, json_body={}, deadline=deadline)
        credit = str(reply.json().get("value", ""))
        return ActionOutcome.done(f"credit note {credit} for return order {returned}", credit_note_id=credit)

    async def sync_sales_order(
        self, order: OrderSnapshot, lines: Sequence[tuple[int, LineSnapshot]], deadline: float
    ) -> ActionOutcome:
        """Make F&O hold one sales order for our order, with these lines, however often
        it is asked (a retry, a redelivery, a lost answer, a later sync of released lines).

        The key is the explicit SalesOrderNumber (:func:`sales_order_number`), read first
        by key: absent, the header and lines go in one changeset; present, or refused as
        already existing (an earlier try got through and its answer was lost), only the
        lines it lacks are added (by ``LineNumber``). A sales order under our number that
        names another order in ``CustomersOrderReference`` fails the action.
        """
        if not lines:
            raise ActionFailed("no line to send")
        if not order.company:
            raise ActionFailed("the order has no company (dataAreaId)")
        company, number = order.company.lower(), sales_order_number(order.order_id)
        self.store.put("lines", f"{company}/{number}", ",".join(line.line_id for line in order.lines))
        if await self._holds(company, number, order.order_id, deadline):
            return await self._add_lines(order, company, number, lines, deadline)
        header_post = BatchRequest("POST", self.api.url(f"data/{HEADERS}"), _header(order, company, number))
        failure = await self._changeset([header_post, *self._line_posts(company, number, lines)], deadline)
        if failure is None:
            self._map(company, number, order.order_id)
            return ActionOutcome.done(
                f"sales order {number} with {len(lines)} lines", provider_order_id=number
            )
        if already_exists(failure) and await self._holds(company, number, order.order_id, deadline):
            return await self._add_lines(order, company, number, lines, deadline)
        raise ActionFailed(failure)

    async def _holds(self, company: str, number: str, order_id: str, deadline: float) -> bool:
        """Whether F&O holds our sales order ``number``; a sales order of that number made
        for another order (``CustomersOrderReference``) is a collision, never ours."""
        reply = await self.api.request(
            "GET",
            f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}",
            params={"$select": "SalesOrderNumber,CustomersOrderReference"},
            accept=(404,),
            deadline=deadline,
        )
        if reply.status == 404:
            return False
        reference = str(reply.json().get("CustomersOrderReference") or "")
        if reference.lower() != order_id.lower():  # F&O compares case-insensitively
            raise ActionFailed(
                f"sales order {number} in {company} belongs to {reference or 'no order'!r}, not {order_id}"
            )
        return True

    async def _add_lines(
        self,
        order: OrderSnapshot,
        company: str,
        number: str,
        lines: Sequence[tuple[int, LineSnapshot]],
        deadline: float,
    ) -> ActionOutcome:
        self._map(company, number, order.order_id)
        missing = await self._missing(company, number, lines, deadline)
        if not missing:
            return ActionOutcome.done(
                f"sales order {number} already has these lines", provider_order_id=number
            )
        failure = await self._changeset(self._line_posts(company, number, missing), deadline)
        # refused as existing and none missing now: another try got them in first
        if failure is not None and (
            not already_exists(failure) or await self._missing(company, number, missing, deadline)
        ):
            raise ActionFailed(failure)
        return ActionOutcome.done(
            f"{len(missing)} lines added to sales order {number}", provider_order_id=number
        )

    async def _missing(
        self, company: str, number: str, lines: Sequence[tuple[int, LineSnapshot]], deadline: float
    ) -> list[tuple[int, LineSnapshot]]:
        """Those of ``lines`` the sales order does not have yet (by ``LineNumber``)."""
        reply = await self.api.request(
            "GET",
            f"data/{self.options.lines_collection}",
            params={
                "$filter": f"dataAreaId eq {literal(company)} and SalesOrderNumber eq {literal(number)}",
                "cross-company": "true",
                "$select": "LineNumber",
            },
            deadline=deadline,
        )
        there = {int(row["LineNumber"]) for row in reply.json().get("value", []) if row.get("LineNumber")}
        return [(n, line) for n, line in lines if n not in there]

    def _line_posts(
        self, company: str, number: str, lines: Sequence[tuple[int, LineSnapshot]]
    ) -> list[BatchRequest]:
        """``LineNumber`` is the line's position in our order: it finds the line again."""
        url = self.api.url(f"data/{self.options.lines_collection}")
        return [
            BatchRequest(
                "POST",
                url,
                {
                    "dataAreaId": company,
                    "SalesOrderNumber": number,
                    "LineNumber": n,
                    "ItemNumber": line.sku,
                    "OrderedSalesQuantity": line.quantity,
                    "SalesPrice": float(line.unit_price),
                    "ShippingSiteId": line.site or "",
                    "ShippingWarehouseId": line.warehouse or "",
                },
            )
            for n, line in lines
        ]

    async def _changeset(self, requests: Sequence[BatchRequest], deadline: float) -> str | None:
        """Send ``requests`` as one all-or-nothing changeset; None, or why F&O refused it."""
        body, content_type = changeset(requests)
        reply = await self.api.request(
            "POST", "data/$batch", data=body, headers={"Content-Type": content_type}, deadline=deadline
        )
        try:
            answers = batch_answers(reply.headers.get("Content-Type", ""), reply.body)
        except ValueError as exc:
            return f"unreadable $batch answer: {exc}"
        failed = next((a for a in answers if a.status >= 400), None)
        if failed is not None:
            return f"HTTP {failed.status} from the $batch changeset: {error_detail(failed.body)}"
        if len(answers) != len(requests):
            return f"the $batch answered {len(answers)} of {len(requests)} requests"
        return None

    async def send_status(self, order: OrderSnapshot, deadline: float) -> ActionOutcome:
        number = order.external_ref(PROVIDER)
        assert number is not None
        company = (order.company or self.options.default_company).lower()
        value = order.status_reason[:20]
        await self.api.request(
            "PATCH",
            f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}",
            json_body={self.options.status_field: value},
            deadline=deadline,
        )
        return ActionOutcome.done(
            f"{self.options.status_field} of sales order {number} set to {value!r}", provider_order_id=number
        )

    def _map(self, company: str, number: str, order_id: str) -> None:
        self.store.put("order", f"{company.lower()}/{number}", order_id)

    # -- inbound --

    async def webhook(self, request: web.Request) -> web.Response:
        check_shared_key(request, self._webhook_key)
        data = json_object(await read_body(request))
        with self.sent_again_on_failure("event"):
            if "BusinessEventId" in data:
                await self._business_event(data)
            elif data.get("entity") == "salesorders":
                await self._dual_write(data)
            else:
                raise refused(422, "neither a business event nor a dual-write sales order")
        return acknowledged()

    async def _business_event(self, data: Mapping[str, Any]) -> None:
        require(data, ("BusinessEventId", str), ("EventId", str), ("ControlNumber", int))
        kind = data["BusinessEventId"]
        kinds = (PICKED, PACKED, INVOICED, CANCELED, RETURN_RECEIVED, RETURN_CREATED, CREATED, CONFIRMED)
        if kind not in kinds:
            log.debug("fno: business event %s is not ours", kind)
            return
        if kind == RETURN_RECEIVED:
            await self._return_received(data)
            return
        if kind == RETURN_CREATED:
            await self._return_created(data)
            return
        if kind in (CREATED, CONFIRMED):
            await self._made_in_fno(kind, data)
            return
        require(data, ("SalesOrderId", str))
        company = str(data.get("LegalEntity") or data.get("BusinessEventLegalEntity") or "").lower()
        if not company:
            raise refused(422, "missing or invalid: LegalEntity")
        number: str = data["SalesOrderId"]
        event_id: str = data["EventId"]
        control: int = data["ControlNumber"]
        async with self._locks.hold(f"{company}/{number}"):
            if self.store.seen("event", event_id):
                return
            last = self.store.get("control", f"{company}/{number}")
            if last is not None and control <= int(last):
                log.info(
                    "fno: %s %s of %s/%s is older than %s: dropped", kind, control, company, number, last
                )
                self.store.remember("event", event_id)
                return
            order_id = await self._our_order(company, number)
            if order_id is None:
                log.info("fno: %s for sales order %s/%s, which is not ours", kind, company, number)
            elif kind == CANCELED and self.store.seen("echo", f"cancel/{company}/{number}"):
                log.debug("fno: sales order %s/%s canceled by us", company, number)
            else:
                await self.publisher.publish(self._status_command(kind, data, order_id))
            self.store.put("control", f"{company}/{number}", str(control))
            self.store.remember("event", event_id)

    async def _made_in_fno(self, kind: str, data: Mapping[str, Any]) -> None:
        """F&O's two steps: an order made there is taken in when it is created (it waits,
        no flow runs) and confirmed when it is confirmed. Events carry keys only: the order
        is read over OData. A confirmation that comes first takes the order in too."""
        require(data, ("SalesOrderId", str))
        company = str(data.get("LegalEntity") or data.get("BusinessEventLegalEntity") or "").lower()
        number: str = data["SalesOrderId"]
        async with self._locks.hold(f"{company}/{number}"):
            if self.store.seen("event", data["EventId"]):
                return
            taken = self.store.seen("intake", f"{company}/{number}")
            if not taken and not await self._take_in_made(company, number):
                self.store.remember("event", data["EventId"])
                return
            if kind == CONFIRMED:
                order_id = self._order_id(company, number)
                confirm = ConfirmOrder(
                    envelope=envelope(
                        PROVIDER, order_id, f"salesorder/{company}/{number}/confirm", f"fno/{number}"
                    ),
                    confirmed_by=PROVIDER,
                )
                await self.publisher.publish(confirm)
            self.store.remember("event", data["EventId"])

    async def _take_in_made(self, company: str, number: str) -> bool:
        """Read an order made in F&O and publish its ``CreateOrder`` (awaiting confirmation);
        False if it is not one (made over OData by an OMS)."""
        reply = await self.api.request(
            "GET", f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}", accept=(404,)
        )
        if reply.status == 404:
            log.info("fno: sales order %s/%s is gone", company, number)
            return False
        header = reply.json()
        if header.get("CustomersOrderReference"):
            return False  # one of ours, sent by a sync: not an F&O order to take in
        lines = await self.api.request(
            "GET",
            f"data/{self.options.lines_collection}",
            params={
                "$filter": f"dataAreaId eq {literal(company)} and SalesOrderNumber eq {literal(number)}",
                "cross-company": "true",
            },
        )
        try:
            command = self.order_from_dual_write({**header, "lines": lines.json().get("value", [])})
        except (ValueError, KeyError, TypeError) as exc:
            raise refused(422, f"sales order {number}: {exc}") from exc
        await self.publisher.publish(command.model_copy(update={"awaiting_confirmation": True}))
        self._map(company, number, command.envelope.order_id)
        self.store.remember("intake", f"{company}/{number}")
        log.info(
            "fno: sales order %s/%s taken in as %s (awaiting confirmation)",
            company,
            number,
            command.envelope.order_id,
        )
        return True

    async def _return_received(self, data: Mapping[str, Any]) -> None:
        """A return order's goods arrived: its RMA in our order is received."""
        require(data, ("ReturnOrderNumber", str))
        company = str(data.get("LegalEntity") or data.get("BusinessEventLegalEntity") or "").lower()
        number: str = data["ReturnOrderNumber"]
        if self.store.seen("event", data["EventId"]):
            return
        mapped = self.store.get("return", f"{company}/{number}") or await self._mapped_return(company, number)
        if mapped is None:
            log.info("fno: return order %s/%s is not ours", company, number)
        else:
            order_id, _, rma = mapped.partition("|")
            received = RecordReturnReceived(
                envelope=envelope(PROVIDER, order_id, f"event/{data['EventId']}", f"fno/{number}"),
                rma_id=rma,
                provider=PROVIDER,
                warehouse=_text(data.get("WarehouseId")),
            )
            await self.publisher.publish(received)
        self.store.remember("event", data["EventId"])

    async def _mapped_return(self, company: str, number: str) -> str | None:
        """``<order id>|<rma>`` of a return order, read from F&O: ours name the order and
        the RMA; one made in F&O is its sales order's, under its own number."""
        reply = await self.api.request(
            "GET", f"data/{RETURNS}{key(dataAreaId=company, ReturnOrderNumber=number)}", accept=(404,)
        )
        found = reply.json() if reply.status == 200 else {}
        if found.get("CustomersOrderReference"):
            return f"{found['CustomersOrderReference']}|{found.get('RMANumber')}"
        sales = str(found.get("OriginalSalesOrderNumber") or "")
        order_id = await self._our_order(company, sales) if sales else None
        return f"{order_id}|{number}" if order_id else None

    async def _return_created(self, data: Mapping[str, Any]) -> None:
        """A return order made in F&O: the ``RequestReturn`` of our order, once."""
        require(data, ("ReturnOrderNumber", str))
        company = str(data.get("LegalEntity") or data.get("BusinessEventLegalEntity") or "").lower()
        number: str = data["ReturnOrderNumber"]
        async with self._locks.hold(f"return/{company}/{number}"):
            if self.store.seen("event", data["EventId"]):
                return
            command = await self._return_request(company, number)
            if command is not None:
                await self.publisher.publish(command)
                self.store.put("return", f"{company}/{number}", f"{command.envelope.order_id}|{number}")
                log.info(
                    "fno: return order %s/%s taken as a return of %s",
                    company,
                    number,
                    command.envelope.order_id,
                )
            self.store.remember("event", data["EventId"])

    async def _return_request(self, company: str, number: str) -> RequestReturn | None:
        """Read a return order made in F&O; None if it is ours, gone, or not of our orders."""
        reply = await self.api.request(
            "GET", f"data/{RETURNS}{key(dataAreaId=company, ReturnOrderNumber=number)}", accept=(404,)
        )
        header = reply.json() if reply.status == 200 else {}
        sales = str(header.get("OriginalSalesOrderNumber") or "")
        if not header or header.get("CustomersOrderReference") or not sales:
            return None  # gone, or made by an OMS over OData (ours), or of no sales order
        order_id = await self._our_order(company, sales)
        if order_id is None:
            log.info(
                "fno: return order %s/%s returns sales order %s, which is not ours", company, number, sales
            )
            return None
        rows = await self.api.request(
            "GET",
            f"data/{RETURN_LINES}",
            params={
                "$filter": f"dataAreaId eq {literal(company)} and ReturnOrderNumber eq {literal(number)}",
                "cross-company": "true",
            },
        )
        ids = self._line_ids(company, sales, order_id)
        units: dict[str, int] = {}
        for row in rows.json().get("value", []):
            position = int(Decimal(str(row.get("LineNumber") or 0)))
            line_id = ids(position)
            if line_id is None:
                log.warning(
                    "fno: return order %s/%s: line %s of %s is unknown here", company, number, position, sales
                )
                return None
            units[line_id] = units.get(line_id, 0) + abs(int(Decimal(str(row.get("ReturnQuantity") or 0))))
        if not units:
            return None
        reason = header.get("ReturnReasonCodeId")
        return RequestReturn(
            envelope=envelope(PROVIDER, order_id, f"returnorder/{company}/{number}/request", f"fno/{number}"),
            rma_id=number,
            lines=tuple(LineQuantity(line_id=k, quantity=v) for k, v in units.items()),
            reason=f"return order {number} made in F&O" + (f" (reason code {reason})" if reason else ""),
            return_source=PROVIDER,
            requested_by=PROVIDER,
        )

    def _line_ids(self, company: str, sales: str, order_id: str) -> Callable[[int], str | None]:
        """Our line id of a sales order line number: the number itself for an order made in
        F&O; for one we sent, the line at that position (kept by every sync)."""
        if order_id == self._order_id(company, sales):
            return lambda n: str(n) if n > 0 else None
        sent = (self.store.get("lines", f"{company}/{sales}") or "").split(",")
        return lambda n: sent[n - 1] if 0 < n <= len(sent) and sent[n - 1] else None

    def _status_command(self, kind: str, data: Mapping[str, Any], order_id: str) -> Command:
        env = envelope(PROVIDER, order_id, f"event/{data['EventId']}", f"fno/{data['SalesOrderId']}")
        if kind == CANCELED:
            return CancelOrder(envelope=env, reason="Canceled in F&O", requested_by=PROVIDER)
        if kind == PICKED:
            return RecordPicked(envelope=env, provider=PROVIDER, picking_id=_text(data.get("PickingRouteId")))
        if kind == PACKED:
            return RecordShipped(
                envelope=env, provider=PROVIDER, shipment_id=_text(data.get("PackingSlipId"))
            )
        invoice = _text(data.get("InvoiceId"))
        if invoice is None:
            raise refused(422, "missing or invalid: InvoiceId")
        return RecordInvoiced(
            envelope=env,
            provider=PROVIDER,
            invoice_id=invoice,
            amount=_amount(data.get("InvoiceAmountInAccountingCurrency")),
        )

    async def _our_order(self, company: str, number: str) -> str | None:
        mapped = self.store.get("order", f"{company}/{number}")
        if mapped is not None:
            return mapped
        try:
            reply = await self.api.request(
                "GET",
                f"data/{HEADERS}{key(dataAreaId=company, SalesOrderNumber=number)}",
                params={"$select": "CustomersOrderReference"},
            )
        except ProviderHttpError as exc:
            if exc.status == 404:
                return None
            raise
        reference = reply.json().get("CustomersOrderReference")
        order_id = str(reference) if reference else self._order_id(company, number)
        self._map(company, number, order_id)
        return order_id

    def _order_id(self, company: str, number: str) -> str:
        return f"{self.options.order_id_prefix}{company.upper()}-{number}"

    async def _dual_write(self, data: Mapping[str, Any]) -> None:
        require(data, ("operation", str), ("EventId", str))
        if data["operation"] != "confirmed":
            return  # only confirmed F&O orders come over (section 3.5)
        require(data, ("dataAreaId", str), ("SalesOrderNumber", str), ("lines", list))
        company = data["dataAreaId"].lower()
        number: str = data["SalesOrderNumber"]
        async with self._locks.hold(f"{company}/{number}"):
            if self.store.seen("event", data["EventId"]) or self.store.seen("intake", f"{company}/{number}"):
                return
            try:
                command = self.order_from_dual_write(data)
            except (ValueError, KeyError, TypeError) as exc:
                raise refused(422, f"sales order {number}: {exc}") from exc
            await self.publisher.publish(command)
            self._map(company, number, command.envelope.order_id)
            self.store.remember("intake", f"{company}/{number}")
            self.store.remember("event", data["EventId"])
            log.info("fno: sales order %s/%s taken in as %s", company, number, command.envelope.order_id)

    def order_from_dual_write(self, data: Mapping[str, Any]) -> CreateOrder:
        company = str(data["dataAreaId"]).lower()
        number = str(data["SalesOrderNumber"])
        order_id = self._order_id(company, number)
        street = str(data.get("DeliveryAddressStreet") or "").split("\n")
        country = str(data.get("DeliveryAddressCountryRegionId") or "").upper()
        customer = str(data.get("OrderingCustomerAccountNumber") or "")
        ship_to = Address(
            name=str(data.get("DeliveryAddressName") or customer),
            line1=street[0],
            line2="\n".join(street[1:]) or None,
            city=str(data.get("DeliveryAddressCity") or ""),
            state=str(data.get("DeliveryAddressStateId") or "") or None,
            postal_code=str(data.get("DeliveryAddressZipCode") or ""),
            country=_ISO3.get(country, country),
        )
        lines = []
        for index, line in enumerate(data["lines"], start=1):
            number_of_line = line.get("LineNumber")
            lines.append(
                OrderLine(
                    line_id=str(int(number_of_line)) if number_of_line else str(index),
                    sku=str(line["ItemNumber"]),
                    quantity=_quantity(line["OrderedSalesQuantity"]),
                    unit_price=_amount(line.get("SalesPrice", 0)) or Decimal(0),
                    site=_text(line.get("ShippingSiteId")),
                    warehouse=_text(line.get("ShippingWarehouseId")),
                )
            )
        if not lines:
            raise ValueError("no lines")
        origin = str(data.get("SalesOrderOriginCode") or "")
        attributes = dict(self.options.origin_attributes.get(origin.upper(), {}))
        if origin:
            attributes["origin"] = origin
        invoice = str(data.get("InvoiceCustomerAccountNumber") or customer) or None
        return CreateOrder(
            envelope=envelope(PROVIDER, order_id, f"salesorder/{company}/{number}/create", f"fno/{number}"),
            channel=PROVIDER,
            customer_id=customer,
            currency=str(data.get("CurrencyCode") or "USD"),
            ship_to=ship_to,
            lines=tuple(lines),
            external_refs=(ExternalRef(system=PROVIDER, ref=number),),
            attributes=attributes,
            company=company.upper(),
            invoice_customer=invoice,
        )


def _header(order: OrderSnapshot, company: str, number: str) -> dict[str, Any]:
    """The sales order header of our order: ``CustomersOrderReference`` names our order."""
    ship_to = order.ship_to
    customer = order.invoice_customer or order.customer_id
    return {
        "dataAreaId": company,
        "SalesOrderNumber": number,
        "OrderingCustomerAccountNumber": customer,
        "InvoiceCustomerAccountNumber": customer,
        "CurrencyCode": order.currency,
        "CustomersOrderReference": order.order_id,
        "DeliveryAddressName": ship_to.name,
        "DeliveryAddressStreet": "\n".join(p for p in (ship_to.line1, ship_to.line2) if p),
        "DeliveryAddressCity": ship_to.city,
        "DeliveryAddressStateId": ship_to.state or "",
        "DeliveryAddressZipCode": ship_to.postal_code,
        "DeliveryAddressCountryRegionId": _ISO2.get(ship_to.country.upper(), ship_to.country),
    }


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def start(settings: config.FnoSettings) -> int:
    """Run the F&O connector until stopped (``oms connector fno``)."""
    from connectors.runtime import run

    secret = settings.required_secret("client_secret")
    webhook_key = settings.secret("webhook_key")
    try:
        origins = parse_origin_attributes(settings.origin_attributes or DEFAULT_ORIGINS)
    except ValueError as exc:
        raise CommandFailed(f"--origin-attributes (FNO_ORIGIN_ATTRIBUTES): {exc}") from None
    runtime = config.runtime_config(settings)
    environment = settings.url.rstrip("/")
    options = FnoOptions(
        order_id_prefix=settings.order_id_prefix,
        origin_attributes=origins,
        lines_collection=settings.lines_collection,
        status_field=settings.status_field,
    )

    def make(publisher: Publisher, store: ConnectorStore) -> FnoConnector:
        api = ProviderHttp(environment, PROVIDER, runtime.http)
        api.auth = EntraToken(
            api, settings.token_endpoint, settings.client_id, secret, f"{environment}/.default"
        )
        return FnoConnector(api, store, publisher, options, webhook_key)

    return run(runtime, make)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connectors.fno``: the same as ``oms connector fno``."""
    from connectors.cli import main as connector_main

    return connector_main(PROVIDER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
