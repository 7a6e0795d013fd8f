"""BigCommerce connector: order intake, and the order's status written back to the store.

Intake (provider-apis.md section 1):

- **Webhooks** ``store/order/created`` and ``store/order/statusUpdated`` at
  ``POST /webhooks/bigcommerce``, verified by their Standard Webhooks signature (secret
  ``base64(client secret)``, timestamps within 5 minutes) and deduplicated on the payload's
  ``hash``. The payload is light: the order, its products and its shipping addresses are
  fetched over the V2 API. A ``statusUpdated`` takes in an order that was incomplete at
  creation; our own status updates echo back as ``statusUpdated`` and are ignored by the
  instance that made them (another instance takes the order in again: the same
  ``CreateOrder`` id, a no-op at the writer).
- **Polling** (``--poll``) instead or as well: ``GET /v2/orders?min_date_modified=<checkpoint>
  &sort=date_modified:asc``, page by page, the checkpoint kept in the connector's store.
- Orders in status 0 Incomplete, 1 Pending or 7 Awaiting Payment are not orders yet, and
  4 Refunded, 5 Cancelled or 6 Declined never will be: they are skipped. An order is taken
  in once (``CreateOrder`` with a command id per BigCommerce order, so even a duplicate
  the store missed is a no-op at the writer).

The ``CreateOrder``: order id ``<prefix><BigCommerce id>`` (``--order-id-prefix``, default
``BC-``), channel ``bigcommerce``, external ref ``bigcommerce=<id>``, the first shipping
address as ship-to, one line per order product (line id = the order product id, price ex
tax), and **attributes from the order's staff notes**: every ``key=value`` in
``staff_notes``, separated by ``;`` or new lines (other text is ignored), over the
defaults of ``--default-attributes``. The merchant picks a journey that way, e.g.
``fulfillment=fno`` (journey 1), ``fulfillment=flexe`` (2), ``fulfillment=dom`` (6).

Inbound cancel: a ``statusUpdated`` to 5 Cancelled that is not our own echo, of an order
taken in, becomes ``CancelOrder`` (reason "Cancelled in BigCommerce"; the OMS does not
echo it back).

Returns: a shopper's return request in the store (V3 returns, provider-apis.md section 8
and the simulator's notes: ``x-private`` in the vendor's spec) becomes ``RequestReturn``
(RMA ``BC-RMA-<return id>``, ``return_source`` bigcommerce, the order products as lines,
the reasons and comment as the reason, a replacement when an item's preferred outcome says
Replace). No webhook scope tells of returns, so ``--returns-poll-interval`` seconds apart
the connector reads ``GET /v3/orders/returns?sort=id&direction=desc`` down to the newest
return it took (its checkpoint); each return is taken once, and its command id comes
from the return's id, so two instances publish one. The writer checks the return (what
shipped, the window) like any other; a refusal is on ``order.command-rejected``.

Actions ``cancel_order`` (status 5 Cancelled, once), ``cancel_lines`` (BigCommerce has no
line cancel: done, the order's status follows when it ends), ``refund_payment`` (a V3
refund of a return's units: ``refund_quotes`` then ``refunds``, looked up first by the RMA
id its reason starts with), each done without a call for an order the store never had
(a manual order, a clone, a replacement).

Action ``update_channel_status`` (param ``status_id``): ``PUT /v2/orders/{id}
{"status_id": n}``, idempotent by nature (the same status again changes nothing), so every
attempt writes it, unless the order is further along already (``FULFILMENT_PROGRESS``: a
retry of "Shipped" that comes after "Completed" was written is done without writing, and
reports the store's status). For Shipped (2), Partially Shipped (3) and Completed (10), when
the order has a tracking number and the store has no shipment with it yet, a shipment with
that tracking number is created first (``POST /v2/orders/{id}/shipments``). Shipments have
no idempotency key: the tracking number is ours, looked up per shipping address before
the create, and a create refused because nothing is left to ship is done when our
shipment is there.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from connectors import config
from connectors.actions import ActionFailed, ActionOutcome, Publisher, envelope, unsupported
from connectors.base import HttpConnector
from connectors.http import ProviderHttp, ProviderHttpError, StaticAuth
from connectors.state import ConnectorStore
from connectors.webhooks import (
    SignatureError,
    json_object,
    read_body,
    refused,
    require,
    verify_standard_webhook,
)
from streams.domain.commands import CancelOrder, CreateOrder, ProviderActionRequest, RequestReturn
from streams.domain.snapshot import OrderSnapshot
from streams.domain.values import Address, ExternalRef, LineQuantity, OrderLine

log = logging.getLogger(__name__)

PROVIDER = "bigcommerce"
WEBHOOK_PATH = "/webhooks/bigcommerce"
NOT_ORDERS = {
    0: "Incomplete",
    1: "Pending",
    7: "Awaiting Payment",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
}
SHIPMENT_STATUSES = frozenset({2, 3, 10})
CANCELLED = 5
ACTIONS = frozenset({"update_channel_status", "cancel_order", "cancel_lines", "refund_payment"})
FULFILMENT_PROGRESS = {11: 1, 9: 2, 8: 2, 3: 3, 2: 4, 10: 5}
"""How far along an order is: Awaiting Fulfillment, Awaiting Shipment or Pickup,
Partially Shipped, Shipped, Completed. A status write never moves an order back."""


def behind(status_id: int, current: int) -> bool:
    """Whether writing ``status_id`` would move an order that is at ``current`` back."""
    progress = FULFILMENT_PROGRESS
    return status_id in progress and current in progress and progress[current] > progress[status_id]


PAGE = 250
_PAIR = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*=\s*(.*?)\s*$")


def parse_attributes(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by ``;`` or new lines; anything else is ignored."""
    found: dict[str, str] = {}
    for part in re.split(r"[;\n]", text):
        match = _PAIR.match(part)
        if match and match.group(2):
            found[match.group(1)] = match.group(2)
    return found


def bigcommerce_webhook_key(client_secret: str) -> Webhook:
    """BigCommerce signs with the Standard Webhooks secret ``base64(client secret)``."""
    return Webhook(base64.b64encode(client_secret.encode()).decode())


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


SHIPPING_PROVIDERS = frozenset(
    {
        "auspost",
        "canadapost",
        "endicia",
        "usps",
        "fedex",
        "royalmail",
        "ups",
        "upsready",
        "upsonline",
        "shipperhq",
    }
)


def _shipping_provider(carrier: str | None, tracking_number: str) -> str:
    """BigCommerce wants one of its lower-case provider names or ``""``: the carrier the
    fulfillment provider named, else what a UPS tracking number says."""
    named = (carrier or "").strip().lower()
    if named in SHIPPING_PROVIDERS:
        return named
    return "ups" if tracking_number.upper().startswith("1Z") else ""


@dataclass(frozen=True)
class BigCommerceOptions:
    order_id_prefix: str = "BC-"
    default_attributes: Mapping[str, str] = field(default_factory=dict)
    poll: bool = False
    poll_interval: float = 30.0
    poll_since: str | None = None
    """The first ``min_date_modified`` (RFC 2822 or ISO 8601); None: every order."""
    returns_poll_interval: float = 0.0
    """Seconds between reads of the store's return requests; 0: never."""


class BigCommerceConnector(HttpConnector[BigCommerceOptions, Webhook]):
    provider = PROVIDER
    webhook_path = WEBHOOK_PATH

    def __init__(
        self,
        api: ProviderHttp,
        store: ConnectorStore,
        publisher: Publisher,
        options: BigCommerceOptions,
        webhook_key: Webhook | None,
    ) -> None:
        """``api`` is rooted at ``.../stores/{store_hash}``; ``webhook_key`` None: no webhooks."""
        super().__init__(api, store, publisher, options, webhook_key)
        self._pollers: list[asyncio.Task[None]] = []

    # -- lifecycle --

    def routes(self) -> Sequence[web.RouteDef]:
        return super().routes() if self._webhook_key is not None else []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.options.poll:
            self._pollers.append(loop.create_task(self._poll_forever()))
        if self.options.returns_poll_interval > 0:
            self._pollers.append(loop.create_task(self._poll_returns_forever()))

    async def close(self) -> None:
        for poller in self._pollers:
            poller.cancel()
        await asyncio.gather(*self._pollers, return_exceptions=True)
        await super().close()

    # -- intake by webhook --

    async def webhook(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        assert self._webhook_key is not None
        try:
            verify_standard_webhook(self._webhook_key, request.headers, body)
        except SignatureError as exc:
            raise refused(401, str(exc)) from exc
        data = json_object(body)
        require(data, ("scope", str), ("hash", str), ("data", dict))
        payload: dict[str, Any] = data["data"]
        require(payload, ("id", int))
        return await self.take_once(
            "hash",
            data["hash"],
            lambda: self._on_event(data["scope"], payload),
            f"{data['scope']} {payload['id']}",
        )

    async def _on_event(self, scope: str, payload: Mapping[str, Any]) -> None:
        bc_id: int = payload["id"]
        if scope == "store/order/created":
            await self.take_in(bc_id)
        elif scope == "store/order/statusUpdated":
            status = payload.get("status")
            new = status.get("new_status_id") if isinstance(status, dict) else None
            if self.store.seen("echo", f"{bc_id}:{new}"):
                log.debug("bigcommerce order %s: our own status update %s", bc_id, new)
            elif new == CANCELLED:
                await self._canceled_in_store(bc_id)
            elif new not in NOT_ORDERS:
                await self.take_in(bc_id)

    async def _canceled_in_store(self, bc_id: int) -> None:
        """The merchant cancelled an order we took in: cancel it in the OMS too (the writer
        refuses it, with the reason, once a line is picked or shipped)."""
        order_id = self.store.get("intake", str(bc_id))
        if order_id is None:
            log.info("bigcommerce order %s cancelled before it was taken in: nothing to cancel", bc_id)
            return
        cancel = CancelOrder(
            envelope=envelope(PROVIDER, order_id, f"order/{bc_id}/cancel", f"bigcommerce/{bc_id}"),
            reason="Cancelled in BigCommerce",
            requested_by=PROVIDER,
        )
        await self.publisher.publish(cancel)
        log.info("bigcommerce order %s cancelled in the store: %s cancel sent", bc_id, order_id)

    async def take_in(self, bc_id: int, order: Mapping[str, Any] | None = None) -> CreateOrder | None:
        """Publish the ``CreateOrder`` of a BigCommerce order once; None if skipped or done."""
        async with self._locks.hold(f"order/{bc_id}"):
            if self.store.seen("intake", str(bc_id)):
                return None
            if order is None:
                try:
                    order = (await self.api.request("GET", f"v2/orders/{bc_id}")).json()
                except ProviderHttpError as exc:
                    if exc.status == 404:
                        log.warning("bigcommerce order %s is gone; not taken in", bc_id)
                        return None
                    raise
            assert order is not None
            status_id = order.get("status_id")
            if status_id in NOT_ORDERS:
                log.info("bigcommerce order %s skipped: %s", bc_id, NOT_ORDERS[status_id])
                return None
            products = await self._products(bc_id)
            addresses = (await self.api.request("GET", f"v2/orders/{bc_id}/shipping_addresses")).json()
            command = self.create_order(order, products, addresses)
            await self.publisher.publish(command)
            self.store.put("intake", str(bc_id), command.envelope.order_id)
            log.info("bigcommerce order %s taken in as %s", bc_id, command.envelope.order_id)
            return command

    def create_order(
        self, order: Mapping[str, Any], products: Sequence[Mapping[str, Any]], addresses: Sequence[Any]
    ) -> CreateOrder:
        bc_id = order["id"]
        order_id = f"{self.options.order_id_prefix}{bc_id}"
        billing = order.get("billing_address") or {}
        where = addresses[0] if addresses else billing

        def text(name: str) -> str:
            value = where.get(name)
            return "" if value is None else str(value)

        ship_to = Address(
            name=" ".join(p for p in (text("first_name"), text("last_name")) if p) or text("company"),
            line1=text("street_1"),
            line2=text("street_2") or None,
            city=text("city"),
            state=text("state") or None,
            postal_code=text("zip"),
            country=text("country_iso2"),
            phone=text("phone") or None,
            email=text("email") or None,
        )
        lines = tuple(
            OrderLine(
                line_id=str(p["id"]),
                sku=str(p.get("sku") or f"BC-PRODUCT-{p.get('product_id')}"),
                quantity=int(p["quantity"]),
                unit_price=_money(p.get("price_ex_tax", p.get("base_price", "0"))),
            )
            for p in products
        )
        customer = order.get("customer_id")
        attributes = {
            **self.options.default_attributes,
            **parse_attributes(str(order.get("staff_notes") or "")),
        }
        return CreateOrder(
            envelope=envelope(PROVIDER, order_id, f"order/{bc_id}/create", f"bigcommerce/{bc_id}"),
            channel=PROVIDER,
            customer_id=str(customer) if customer else f"guest:{billing.get('email') or bc_id}",
            currency=str(order.get("currency_code") or order.get("default_currency_code") or "USD"),
            ship_to=ship_to,
            lines=lines,
            external_refs=(ExternalRef(system=PROVIDER, ref=str(bc_id)),),
            attributes=attributes,
        )

    async def _products(self, bc_id: int | str, deadline: float | None = None) -> list[dict[str, Any]]:
        products: list[dict[str, Any]] = []
        page = 1
        while True:
            reply = await self.api.request(
                "GET",
                f"v2/orders/{bc_id}/products",
                params={"page": str(page), "limit": str(PAGE)},
                accept=(204,),
                deadline=deadline,
            )
            batch = reply.json() if reply.status == 200 else []
            products += batch
            if len(batch) < PAGE:
                return products
            page += 1

    # -- intake by polling --

    async def _poll_forever(self) -> None:
        while True:
            try:
                taken = await self.poll_once()
                if taken:
                    log.info("bigcommerce poll took in %d orders", taken)
            except Exception as exc:
                log.warning("bigcommerce poll failed (will try again): %s", exc)
            await asyncio.sleep(self.options.poll_interval)

    async def poll_once(self) -> int:
        """One pass over the orders modified since the checkpoint; the number taken in."""
        checkpoint = self.store.get("poll", "min_date_modified") or self.options.poll_since
        newest = checkpoint
        taken = 0
        page = 1
        while True:
            params = {"sort": "date_modified:asc", "page": str(page), "limit": str(PAGE)}
            if checkpoint:
                params["min_date_modified"] = checkpoint
            reply = await self.api.request("GET", "v2/orders", params=params, accept=(204,))
            orders: list[dict[str, Any]] = reply.json() if reply.status == 200 else []
            for order in orders:
                if order.get("status_id") not in NOT_ORDERS and not self.store.seen(
                    "intake", str(order["id"])
                ):
                    taken += await self.take_in(order["id"], order) is not None
                newest = order.get("date_modified") or newest
            if len(orders) < PAGE:
                break
            page += 1
        if newest and newest != checkpoint:
            self.store.put("poll", "min_date_modified", newest)
        return taken

    # -- returns: the shopper's return requests, read from the store --

    async def _poll_returns_forever(self) -> None:
        while True:
            try:
                taken = await self.poll_returns_once()
                if taken:
                    log.info("bigcommerce: %d return requests taken", taken)
            except Exception as exc:
                log.warning("bigcommerce returns poll failed (will try again): %s", exc)
            await asyncio.sleep(self.options.returns_poll_interval)

    async def poll_returns_once(self) -> int:
        """The returns made since the newest one taken, newest first; the number taken.
        The checkpoint moves only after every newer return is taken, so a failed publish
        is tried again on the next pass."""
        checkpoint = int(self.store.get("returns", "newest") or 0)
        newest, taken, page = checkpoint, 0, 1
        while True:
            params = {"sort": "id", "direction": "desc", "page": str(page), "limit": str(PAGE)}
            found = (await self.api.request("GET", "v3/orders/returns", params=params)).json()["data"]
            fresh = [r for r in found if int(r["id"]) > checkpoint]
            for requested in fresh:
                taken += await self._take_return(requested)
                newest = max(newest, int(requested["id"]))
            if len(fresh) < len(found) or len(found) < PAGE:
                break
            page += 1
        if newest > checkpoint:
            self.store.put("returns", "newest", str(newest))
        return taken

    async def _take_return(self, requested: Mapping[str, Any]) -> bool:
        """Publish the ``RequestReturn`` of one store return, once; False if skipped or done."""
        return_id = str(requested["id"])
        if self.store.seen("return", return_id):
            return False
        command = self.return_request(requested)
        if command is None:
            log.info("bigcommerce return %s skipped: removed, or names no order product", return_id)
        else:
            await self.publisher.publish(command)
            log.info(
                "bigcommerce return %s taken as %s of %s",
                return_id,
                command.rma_id,
                command.envelope.order_id,
            )
        self.store.remember("return", return_id)
        return command is not None

    def return_request(self, requested: Mapping[str, Any]) -> RequestReturn | None:
        """The ``RequestReturn`` of a store return (``Return_Full``); None for a removed one."""
        bc_id = requested.get("order_id")
        if requested.get("status") == "REMOVED" or not isinstance(bc_id, int):
            return None
        units: dict[str, int] = {}
        reasons: list[str] = []
        replacement = False
        for item in requested.get("items") or []:
            ref = item.get("reference_id") or {}
            if ref.get("type") != "ORDER_PRODUCT":
                continue
            line_id = str(ref["value"])
            units[line_id] = units.get(line_id, 0) + int(item["quantity"])
            reason = str((item.get("reason") or {}).get("label") or "")
            if reason and reason not in reasons:
                reasons.append(reason)
            outcome = str((item.get("preferred_outcome") or {}).get("label") or "")
            replacement = replacement or "replace" in outcome.lower()
        if not units:
            return None
        comment = str(requested.get("comment") or "").strip()
        reason = "; ".join(reasons) or "returned in BigCommerce"
        customer = (requested.get("customer") or {}).get("id")
        return RequestReturn(
            envelope=envelope(
                PROVIDER,
                self.store.get("intake", str(bc_id)) or f"{self.options.order_id_prefix}{bc_id}",
                f"return/{requested['id']}",
                f"bigcommerce/{bc_id}",
            ),
            rma_id=f"BC-RMA-{requested['id']}",
            lines=tuple(LineQuantity(line_id=k, quantity=v) for k, v in units.items()),
            reason=f"{reason}: {comment}" if comment else reason,
            return_source=PROVIDER,
            requested_by=f"customer:{customer}" if customer else PROVIDER,
            replacement=replacement,
        )

    # -- status write-back --

    async def perform(
        self, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        if request.action not in ACTIONS:
            return unsupported(request)
        bc_id = order.external_ref(PROVIDER)
        if bc_id is None:  # a manual order, a clone, a replacement: the store never had it
            return ActionOutcome.done(
                "not a BigCommerce order (no external ref 'bigcommerce'): nothing to tell"
            )
        if request.action == "cancel_order":
            return await self._cancel(bc_id, deadline)
        if request.action == "cancel_lines":
            return ActionOutcome.done(
                "BigCommerce cancels whole orders only: the store hears when the order ends"
            )
        if request.action == "refund_payment":
            return await self._refund(bc_id, request, deadline)
        return await self._write_status(bc_id, request, order, deadline)

    async def _write_status(
        self, bc_id: str, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        raw = request.params.get("status_id", "")
        if not raw.isdigit():
            raise ActionFailed(f"the step's status_id {raw!r} is not a BigCommerce status id")
        status_id = int(raw)
        current = (await self.api.request("GET", f"v2/orders/{bc_id}", deadline=deadline)).json()
        if behind(status_id, int(current.get("status_id", -1))):
            return ActionOutcome.done(
                f"BigCommerce order {bc_id} is already {current.get('status')} ({current['status_id']}): "
                f"status {status_id} not written back",
                channel_status=str(current["status_id"]),
            )
        self.store.remember("echo", f"{bc_id}:{status_id}")
        details = ""
        if status_id in SHIPMENT_STATUSES and order.tracking_number:
            details = await self._ensure_shipment(bc_id, order.tracking_number, order.carrier, deadline)
        await self.api.request(
            "PUT", f"v2/orders/{bc_id}", json_body={"status_id": status_id}, deadline=deadline
        )
        return ActionOutcome.done(details, channel_status=str(status_id))

    async def _cancel(self, bc_id: str, deadline: float) -> ActionOutcome:
        """Status 5 Cancelled, once: a store order cancelled already (by the merchant) is done."""
        current = (await self.api.request("GET", f"v2/orders/{bc_id}", deadline=deadline)).json()
        if current.get("status_id") == CANCELLED:
            return ActionOutcome.done(f"BigCommerce order {bc_id} is cancelled already", channel_status="5")
        self.store.remember("echo", f"{bc_id}:{CANCELLED}")
        await self.api.request(
            "PUT", f"v2/orders/{bc_id}", json_body={"status_id": CANCELLED}, deadline=deadline
        )
        return ActionOutcome.done(f"BigCommerce order {bc_id} cancelled", channel_status="5")

    async def _refund(self, bc_id: str, request: ProviderActionRequest, deadline: float) -> ActionOutcome:
        """A V3 refund of a return's units: a quote says how much and how, the refund pays
        it. Refunds have no idempotency key: the reason starts with the RMA id, and a refund
        with it already there is done (a try whose answer was lost)."""
        rma = request.params.get("rma_id", "")
        listing = await self.api.request(
            "GET", "v3/orders/payment_actions/refunds", params={"order_id:in": bc_id}, deadline=deadline
        )
        for refund in listing.json().get("data", []):
            if str(refund.get("reason", "")).startswith(f"{rma}:"):
                return ActionOutcome.done(
                    f"refund {refund['id']} of {rma} exists", refund_id=str(refund["id"])
                )
        items = [
            {"item_type": "PRODUCT", "item_id": int(line), "quantity": int(units)}
            for line, _, units in (
                x.partition(":") for x in request.params.get("return_lines", "").split(",") if x
            )
            if line.isdigit() and units.isdigit()
        ]
        if not items:
            raise ActionFailed(f"return {rma} names no BigCommerce order products to refund")
        path = f"v3/orders/{bc_id}/payment_actions"
        quote = (
            await self.api.request(
                "POST", f"{path}/refund_quotes", json_body={"items": items}, deadline=deadline
            )
        ).json()
        method = quote["data"]["refund_methods"][0][0]
        payment = {
            "provider_id": method["provider_id"],
            "amount": method["amount"],
            "offline": method.get("offline", False),
        }
        body = {"items": items, "payments": [payment], "reason": f"{rma}: return refunded"}
        refund = (
            await self.api.request("POST", f"{path}/refunds", json_body=body, once=True, deadline=deadline)
        ).json()
        return ActionOutcome.done(
            f"refunded {method['amount']} for {rma}", refund_id=str(refund["data"]["id"])
        )

    async def _ensure_shipment(
        self, bc_id: str, tracking_number: str, carrier: str | None, deadline: float
    ) -> str:
        """A shipment carrying the tracking number, per shipping address, unless one exists.

        BigCommerce has no idempotency key on shipments; the tracking number is ours. An
        address that has a shipment with it is done; a create refused because nothing is
        left to ship there (a try whose answer was lost got through) is done if that
        shipment is there now."""
        done = await self._shipped_addresses(bc_id, tracking_number, deadline)
        addresses = (
            await self.api.request("GET", f"v2/orders/{bc_id}/shipping_addresses", deadline=deadline)
        ).json()
        if done and all(a["id"] in done for a in addresses):
            return f"shipment {tracking_number} already recorded"
        products = await self._products(bc_id, deadline)
        created = []
        for address in addresses:
            items = [
                {"order_product_id": p["id"], "quantity": p["quantity"] - p.get("quantity_shipped", 0)}
                for p in products
                if p.get("order_address_id") == address["id"] and p["quantity"] > p.get("quantity_shipped", 0)
            ]
            if address["id"] in done or not items:
                continue
            body = {
                "order_address_id": address["id"],
                "items": items,
                "tracking_number": tracking_number[:50],
                "shipping_provider": _shipping_provider(carrier, tracking_number),
            }
            try:
                shipment = (
                    await self.api.request(
                        "POST", f"v2/orders/{bc_id}/shipments", json_body=body, deadline=deadline
                    )
                ).json()
            except ProviderHttpError as exc:
                if exc.status != 400 or address["id"] not in await self._shipped_addresses(
                    bc_id, tracking_number, deadline
                ):
                    raise
                continue
            created.append(str(shipment.get("id")))
        return f"shipment {', '.join(created)} with tracking {tracking_number}" if created else ""

    async def _shipped_addresses(self, bc_id: str, tracking_number: str, deadline: float) -> set[int]:
        """The addresses that have a shipment with this tracking number."""
        reply = await self.api.request(
            "GET", f"v2/orders/{bc_id}/shipments", accept=(204,), deadline=deadline
        )
        existing = reply.json() if reply.status == 200 else []
        return {s["order_address_id"] for s in existing if s.get("tracking_number") == tracking_number[:50]}


def start(settings: config.BigCommerceSettings) -> int:
    """Run the BigCommerce connector until stopped (``oms connector bigcommerce``)."""
    from connectors.runtime import run

    token = settings.required_secret("access_token")
    secret = settings.secret("client_secret")
    runtime = config.runtime_config(settings)
    options = BigCommerceOptions(
        order_id_prefix=settings.order_id_prefix,
        default_attributes=parse_attributes(settings.default_attributes),
        poll=settings.poll,
        poll_interval=settings.poll_interval,
        poll_since=settings.poll_since,
        returns_poll_interval=settings.returns_poll_interval,
    )

    def make(publisher: Publisher, store: ConnectorStore) -> BigCommerceConnector:
        api = ProviderHttp(
            f"{settings.api_url.rstrip('/')}/stores/{settings.store_hash}",
            PROVIDER,
            runtime.http,
            StaticAuth({"X-Auth-Token": token.reveal()}),
        )
        key = bigcommerce_webhook_key(secret.reveal()) if secret is not None else None
        return BigCommerceConnector(api, store, publisher, options, key)

    return run(runtime, make)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connectors.bigcommerce``: the same as ``oms connector bigcommerce``."""
    from connectors.cli import main as connector_main

    return connector_main(PROVIDER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
