"""SAP S/4HANA connector: sales orders for billing, billing documents back
(provider-apis.md section 4).

- ``send_to_billing``: one sales order per order, however often it is asked. First
  ``A_SalesOrder?$filter=PurchaseOrderByCustomer eq '<order id>'`` (whether the API has
  Gateway's idempotent services switched on is not documented): a sales order found is the
  answer. Else a deep insert ``POST A_SalesOrder`` with ``to_Item`` (material = SKU) and
  ``PurchaseOrderByCustomer`` = our order id, as a **repeatable request**: ``RequestID`` =
  :func:`request_id` of the action (the same for every attempt of one step run) and
  ``RepeatabilityCreation`` = when this connector first sent it (kept in its store, so a
  retry sends the same pair and Gateway answers the first execution's result with
  ``RepeatabilityResult: accepted`` instead of creating again). Where Gateway refuses it
  as ``unsupported`` (nothing ran), the connector stops sending the headers and posts
  plainly, then **once**: no HTTP-level retry after a lost answer, the flow's next
  attempt looks up first. Writes carry the CSRF token fetched with ``X-CSRF-Token:
  Fetch`` and its session cookies (kept by a cookie jar that also accepts IP hosts); a 403
  with ``X-CSRF-Token: Required`` fetches a new token and sends the write again, once.
- ``POST /webhooks/sap`` (optionally ``?key=<SAP_WEBHOOK_KEY>``): the CloudEvent
  ``sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1`` (structured mode), deduped
  by its ``id``. The billing document is read with its items; every sales order it bills
  (``SalesDocument``) that we created becomes ``RecordInvoiced`` (provider ``sap``,
  invoice id = ``BillingDocument``, amount = the gross amount of that order's items).
  A cancelled billing document is ignored.
- ``cancel_order`` / ``cancel_lines``: the billing documents of our sales order are
  cancelled (the ``Cancel`` function import of API_BILLING_DOCUMENT_SRV: a credit where
  billed); an order SAP never got is done; one not billed yet is refused (its items need a
  rejection reason, which only SAP's own UI sets here).
- ``issue_credit_note``: a credit memo request (API_CREDIT_MEMO_REQUEST_SRV) for a
  return's units, referring to the billing document; its number is the credit note id.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from connectors import config
from connectors.actions import ActionFailed, ActionOutcome, Publisher, envelope, unsupported
from connectors.base import HttpConnector
from connectors.http import ProviderHttp, ProviderHttpError, Reply, error_detail
from connectors.odata import literal
from connectors.state import ConnectorStore
from connectors.webhooks import (
    acknowledged,
    check_shared_key,
    json_object,
    read_body,
    refused,
    require,
)
from streams.domain.commands import ProviderActionRequest, RecordInvoiced
from streams.domain.snapshot import OrderSnapshot

log = logging.getLogger(__name__)

PROVIDER = "sap"
WEBHOOK_PATH = "/webhooks/sap"
SALES = "sap/opu/odata/sap/API_SALES_ORDER_SRV"
BILLING = "sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"
CREDITS = "sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV"
BILLING_CREATED = "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"
_REQUEST_IDS = uuid.UUID("3b6f6c0e-8e53-4d59-a7c4-1f2d7a9e0b51")


def request_id(request: ProviderActionRequest) -> str:
    """Gateway's ``RequestID`` of an action: a 32-character GUID (uuid5, upper-case hex
    without dashes) of its idempotency key, our order id + the action id, so that every
    attempt of one step run carries the same one and nothing else ever does."""
    return uuid.uuid5(_REQUEST_IDS, f"{request.order_id}/{request.action_id}").hex.upper()


def first_sent(now: datetime) -> str:
    """``RepeatabilityCreation``: ISO 8601 in UTC to the second, as SAP's own clients write it."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class SapOptions:
    sales_organization: str = "1710"
    distribution_channel: str = "10"
    division: str = "00"
    order_type: str = "OR"
    sold_to_party: str = "17100001"
    sold_to: Mapping[str, str] = field(default_factory=dict)
    """Our invoice customer -> SAP customer number; others get ``sold_to_party``."""


class SapSession:
    """Credentials plus the CSRF token that every write needs (fetched lazily, once per
    session, and again when SAP says ``X-CSRF-Token: Required``)."""

    def __init__(self, http: ProviderHttp, authorization: config.Secret) -> None:
        self._http = http
        self._authorization = authorization
        self._token: str | None = None

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": self._authorization.reveal()}

    async def csrf(self, deadline: float | None = None) -> Mapping[str, str]:
        if self._token is None:
            reply = await self._http.request(
                "GET", f"{SALES}/", headers={"X-CSRF-Token": "Fetch"}, deadline=deadline
            )
            self._token = reply.headers.get("X-CSRF-Token")
            if not self._token:
                raise ProviderHttpError("GET", f"/{SALES}/", reply.status, 1, "no X-CSRF-Token in the answer")
        return {"X-CSRF-Token": self._token}

    async def renew(self, reply: Reply) -> bool:
        if reply.status == 403 and reply.headers.get("X-CSRF-Token", "").lower() == "required":
            self._token = None
            return True
        return False


def basic(user: str, password: config.Secret) -> config.Secret:
    token = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
    return config.Secret("SAP_PASSWORD", f"Basic {token}")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


class SapConnector(HttpConnector[SapOptions, config.Secret]):
    provider = PROVIDER
    webhook_path = WEBHOOK_PATH

    def __init__(
        self,
        api: ProviderHttp,
        session: SapSession,
        store: ConnectorStore,
        publisher: Publisher,
        options: SapOptions,
        webhook_key: config.Secret | None = None,
    ) -> None:
        """``api`` is rooted at the S/4HANA host, keeps cookies, and has ``session`` as auth."""
        super().__init__(api, store, publisher, options, webhook_key)
        self.session = session
        self.repeatable = True
        """False once Gateway has said its idempotent services are not configured."""

    # -- billing --

    async def perform(
        self, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        if request.action in ("cancel_order", "cancel_lines"):
            return await self.cancel(order, deadline)
        if request.action == "issue_credit_note":
            return await self.credit_memo(order, request.params, deadline)
        if request.action != "send_to_billing":
            return unsupported(request)
        existing = await self._find(order.order_id, deadline)
        if existing is not None:
            self.store.put("order", existing, order.order_id)
            return ActionOutcome.done(f"sales order {existing} already exists", provider_order_id=existing)
        reply = await self._create(request, self._sales_order(order), deadline)
        number = str(reply.json()["d"]["SalesOrder"])
        self.store.put("order", number, order.order_id)
        again = " (the first answer again)" if reply.headers.get("RepeatabilityResult") == "accepted" else ""
        return ActionOutcome.done(f"sales order {number}{again}", provider_order_id=number)

    async def _billing_documents(self, sales_order: str, deadline: float) -> list[str]:
        reply = await self.api.request(
            "GET",
            f"{BILLING}/A_BillingDocumentItem",
            params={"$filter": f"SalesDocument eq {literal(sales_order)}", "$format": "json"},
            deadline=deadline,
        )
        return sorted({str(i["BillingDocument"]) for i in reply.json()["d"]["results"]})

    async def cancel(self, order: OrderSnapshot, deadline: float) -> ActionOutcome:
        """A billed order is cancelled by cancelling its billing documents (the ``Cancel``
        function import: a credit for what was billed); a cancelled one is done. An order
        SAP does not have needs nothing; one not billed yet is refused, its items must be
        rejected in SAP (``SalesDocumentRjcnReason``), which this connector does not do."""
        sales_order = await self._find(order.order_id, deadline)
        if sales_order is None:
            return ActionOutcome.done("SAP has no sales order for it: nothing to cancel")
        documents = await self._billing_documents(sales_order, deadline)
        if not documents:
            raise ActionFailed(f"sales order {sales_order} is not billed: reject its items in SAP")
        said = []
        for document in documents:
            reply = await self.api.request(
                "GET",
                f"{BILLING}/A_BillingDocument({literal(document)})",
                params={"$format": "json"},
                deadline=deadline,
            )
            header = reply.json()["d"]
            if header.get("BillingDocumentIsCancelled") or header.get("BillingDocumentType") == "S1":
                continue
            path = f"{BILLING}/Cancel?BillingDocument={literal(document)}"
            result = (await self._write("POST", path, None, deadline, once=True)).json()["d"]["Cancel"]
            said.append(f"{document} cancelled by {result['CancellationBillingDocument']}")
        return ActionOutcome.done("; ".join(said) or f"the billing of {sales_order} is cancelled already")

    async def credit_memo(
        self, order: OrderSnapshot, params: Mapping[str, str], deadline: float
    ) -> ActionOutcome:
        """A credit memo request for a return's units, referring to the order's billing
        document; ``PurchaseOrderByCustomer`` = ``<order id>/<rma id>`` finds it again."""
        reference = f"{order.order_id}/{params.get('rma_id', '')}"
        found = await self.api.request(
            "GET",
            f"{CREDITS}/A_CreditMemoRequest",
            params={"$filter": f"PurchaseOrderByCustomer eq {literal(reference)}", "$format": "json"},
            deadline=deadline,
        )
        for row in found.json()["d"]["results"]:
            return ActionOutcome.done(
                f"credit memo request {row['CreditMemoRequest']} exists",
                credit_note_id=str(row["CreditMemoRequest"]),
            )
        sales_order = await self._find(order.order_id, deadline)
        documents = await self._billing_documents(sales_order, deadline) if sales_order else []
        if not documents:
            raise ActionFailed(f"order {order.order_id} has no SAP billing document to credit")
        skus = {line.line_id: line.sku for line in order.lines}
        items = [
            {"Material": skus.get(line_id, ""), "RequestedQuantity": units}
            for line_id, _, units in (
                x.partition(":") for x in params.get("return_lines", "").split(",") if x
            )
        ]
        customer = order.invoice_customer or order.customer_id
        body = {
            "CreditMemoRequestType": "CR",
            "SalesOrganization": self.options.sales_organization,
            "SoldToParty": self.options.sold_to.get(customer, self.options.sold_to_party),
            "PurchaseOrderByCustomer": reference,
            "ReferenceSDDocument": documents[0],
            "SDDocumentReason": "RET",
            "to_Item": items,
        }
        memo = (
            await self._write("POST", f"{CREDITS}/A_CreditMemoRequest", body, deadline, once=True)
        ).json()["d"]
        number = str(memo["CreditMemoRequest"])
        return ActionOutcome.done(f"credit memo request {number} for {reference}", credit_note_id=number)

    def _sales_order(self, order: OrderSnapshot) -> dict[str, Any]:
        customer = order.invoice_customer or order.customer_id
        return {
            "SalesOrderType": self.options.order_type,
            "SalesOrganization": self.options.sales_organization,
            "DistributionChannel": self.options.distribution_channel,
            "OrganizationDivision": self.options.division,
            "SoldToParty": self.options.sold_to.get(customer, self.options.sold_to_party),
            "PurchaseOrderByCustomer": order.order_id,
            "TransactionCurrency": order.currency,
            "to_Item": [
                {
                    "Material": line.sku,
                    "RequestedQuantity": str(line.quantity),
                    "PurchaseOrderByCustomer": order.order_id,
                }
                for line in order.lines
                if line.status != "Canceled"
            ],
        }

    async def _create(self, request: ProviderActionRequest, body: Any, deadline: float) -> Reply:
        """POST the sales order as a repeatable request, or plainly (and once) where Gateway
        does not support that."""
        path = f"{SALES}/A_SalesOrder"
        if self.repeatable:
            reply = await self._write(
                "POST", path, body, deadline, self._repeatability(request), accept=(400,)
            )
            if reply.status != 400:
                return reply
            if reply.headers.get("RepeatabilityResult", "").lower() != "unsupported":
                raise ProviderHttpError("POST", f"/{path}", 400, 1, error_detail(reply.body))
            log.warning("sap: Gateway's idempotent services are not configured; creating without RequestID")
            self.repeatable = False
        return await self._write("POST", path, body, deadline, once=True)

    def _repeatability(self, request: ProviderActionRequest) -> dict[str, str]:
        """``RequestID`` and ``RepeatabilityCreation``: both the same on every attempt."""
        rid = request_id(request)
        created = self.store.get("repeatability", rid)
        if created is None:
            created = first_sent(datetime.now(UTC))
            self.store.put("repeatability", rid, created)
        return {"RequestID": rid, "RepeatabilityCreation": created}

    async def _write(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: float,
        headers: Mapping[str, str] | None = None,
        *,
        accept: tuple[int, ...] = (),
        once: bool = False,
    ) -> Reply:
        for attempt in (1, 2):
            csrf = await self.session.csrf(deadline)
            reply = await self.api.request(
                method,
                path,
                json_body=body,
                headers={**csrf, **(headers or {})},
                deadline=deadline,
                accept=(403, *accept),
                once=once,
            )
            if reply.status != 403:
                return reply
            if attempt == 1 and await self.session.renew(reply):
                continue
            raise ProviderHttpError(
                method, f"/{path}", 403, attempt, reply.body.decode(errors="replace")[:200]
            )
        raise AssertionError("unreachable")

    async def _find(self, order_id: str, deadline: float | None = None) -> str | None:
        reply = await self.api.request(
            "GET",
            f"{SALES}/A_SalesOrder",
            params={
                "$filter": f"PurchaseOrderByCustomer eq {literal(order_id)}",
                "$select": "SalesOrder,PurchaseOrderByCustomer",
                "$format": "json",
            },
            deadline=deadline,
        )
        for row in reply.json()["d"]["results"]:
            if row.get("PurchaseOrderByCustomer") == order_id:
                return str(row["SalesOrder"])
        return None

    # -- billing documents --

    async def webhook(self, request: web.Request) -> web.Response:
        check_shared_key(request, self._webhook_key)
        if request.content_type not in ("application/cloudevents+json", "application/json"):
            raise refused(415, "send a structured-mode CloudEvent (application/cloudevents+json)")
        event = json_object(await read_body(request))
        require(event, ("specversion", str), ("id", str), ("type", str), ("source", str))
        if event["type"] != BILLING_CREATED:
            return acknowledged()
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("BillingDocument"), str):
            raise refused(422, "missing or invalid: data.BillingDocument")
        document: str = data["BillingDocument"]
        return await self.take_once(
            "event",
            event["id"],
            lambda: self._invoiced(document, event["id"]),
            f"billing document {document}",
        )

    async def _invoiced(self, document: str, event_id: str) -> None:
        reply = await self.api.request(
            "GET",
            f"{BILLING}/A_BillingDocument({literal(document)})",
            params={"$expand": "to_Item", "$format": "json"},
        )
        billing = reply.json()["d"]
        if billing.get("BillingDocumentIsCancelled"):
            log.info("sap: billing document %s is cancelled; nothing to report", document)
            return
        items = billing.get("to_Item", {}).get("results", [])
        gross: dict[str, Decimal] = defaultdict(Decimal)
        for item in items:
            if item.get("SalesDocument"):
                gross[str(item["SalesDocument"])] += _decimal(item.get("GrossAmount", item.get("NetAmount")))
        for sales_order, amount in gross.items():
            order_id = await self._our_order(sales_order)
            if order_id is None:
                log.info("sap: billing document %s bills sales order %s, not ours", document, sales_order)
                continue
            await self.publisher.publish(
                RecordInvoiced(
                    envelope=envelope(
                        PROVIDER, order_id, f"event/{event_id}/{sales_order}", f"sap/{sales_order}"
                    ),
                    provider=PROVIDER,
                    invoice_id=document,
                    amount=amount.quantize(Decimal("0.0001")),
                )
            )

    async def _our_order(self, sales_order: str) -> str | None:
        mapped = self.store.get("order", sales_order)
        if mapped is not None:
            return mapped
        try:
            reply = await self.api.request(
                "GET",
                f"{SALES}/A_SalesOrder({literal(sales_order)})",
                params={"$select": "SalesOrder,PurchaseOrderByCustomer", "$format": "json"},
            )
        except ProviderHttpError as exc:
            if exc.status == 404:
                return None
            raise
        reference = reply.json()["d"].get("PurchaseOrderByCustomer")
        return str(reference) if reference else None


def start(settings: config.SapSettings) -> int:
    """Run the S/4HANA connector until stopped (``oms connector sap``)."""
    from connectors.runtime import run

    bearer = settings.secret("bearer_token")
    if bearer is not None:
        authorization = config.Secret("SAP_BEARER_TOKEN", f"Bearer {bearer.reveal()}")
    else:
        assert settings.user is not None  # the settings' validator made sure
        authorization = basic(settings.user, settings.required_secret("password"))
    webhook_key = settings.secret("webhook_key")
    runtime = config.runtime_config(settings)
    options = SapOptions(
        sales_organization=settings.sales_organization,
        distribution_channel=settings.distribution_channel,
        division=settings.division,
        order_type=settings.order_type,
        sold_to_party=settings.sold_to_party,
    )

    def make(publisher: Publisher, store: ConnectorStore) -> SapConnector:
        api = ProviderHttp(settings.api_url, PROVIDER, runtime.http, unsafe_cookies=True)
        session = SapSession(api, authorization)
        api.auth = session
        return SapConnector(api, session, store, publisher, options, webhook_key)

    return run(runtime, make)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connectors.sap``: the same as ``oms connector sap``."""
    from connectors.cli import main as connector_main

    return connector_main(PROVIDER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
