"""Flexe connector: outbound orders out, shipments in (provider-apis.md sections 2 and 6).

Flexe's reference is not public; the wire format here is the ASSUMED one of section 6,
kept in this one module so that it can be replaced when the real one is known.

- ``send_to_fulfillment``: ``POST /outbound_orders {ownerId, externalId, shipTo, lines,
  shippingMethod}`` with ``externalId`` = our order id, the idempotency key: Flexe
  answers the existing order for a known externalId (200, ASSUMED) instead of creating
  another, so no retry (of a try, of an attempt, of a whole step run) and no redelivery
  makes a second one; the existing order's id is the result's ``provider_order_id``. A 422
  fails the action with Flexe's field errors.
- ``POST /webhooks/flexe`` (optionally ``?key=<FLEXE_WEBHOOK_KEY>``; Flexe webhooks are
  unsigned): ``order_shipped`` -> ``RecordShipped`` with the tracking number and carrier,
  for the order named by ``externalId``; deduplicated by ``eventId``. Every shipment of a
  partial delivery is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connectors import config
from connectors.actions import ActionFailed, ActionOutcome, Publisher, envelope, unsupported
from connectors.base import HttpConnector
from connectors.http import ProviderHttp, ProviderHttpError, StaticAuth
from connectors.state import ConnectorStore
from connectors.webhooks import (
    acknowledged,
    check_shared_key,
    json_object,
    read_body,
    require,
)
from streams.domain.commands import ProviderActionRequest, RecordShipped
from streams.domain.snapshot import OrderSnapshot

PROVIDER = "flexe"
WEBHOOK_PATH = "/webhooks/flexe"


@dataclass(frozen=True)
class FlexeOptions:
    owner_id: str
    shipping_method: str = "ground"


class FlexeConnector(HttpConnector[FlexeOptions, config.Secret]):
    provider = PROVIDER
    webhook_path = WEBHOOK_PATH

    async def perform(
        self, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        if request.action in ("cancel_order", "cancel_lines"):
            return await self.cancel(order, request, deadline)
        if request.action != "send_to_fulfillment":
            return unsupported(request)
        ship_to = order.ship_to
        body = {
            "ownerId": self.options.owner_id,
            "externalId": order.order_id,
            "shipTo": {
                "name": ship_to.name,
                "line1": ship_to.line1,
                "line2": ship_to.line2,
                "city": ship_to.city,
                "state": ship_to.state,
                "postalCode": ship_to.postal_code,
                "country": ship_to.country,
                "phone": ship_to.phone,
                "email": ship_to.email,
            },
            "lines": [
                {"lineId": line.line_id, "sku": line.sku, "quantity": line.quantity}
                for line in order.lines
                if line.status != "Canceled"
            ],
            "shippingMethod": self.options.shipping_method,
        }
        try:
            reply = await self.api.request("POST", "outbound_orders", json_body=body, deadline=deadline)
        except ProviderHttpError as exc:
            if exc.status == 422:
                raise ActionFailed(f"Flexe refused the outbound order: {exc.detail}") from exc
            raise
        created = reply.json()
        flexe_id = str(created.get("id", ""))
        already = " (already there)" if reply.status == 200 else ""
        return ActionOutcome.done(f"outbound order {flexe_id}{already}", provider_order_id=flexe_id)

    async def cancel(
        self, order: OrderSnapshot, request: ProviderActionRequest, deadline: float
    ) -> ActionOutcome:
        """Cancel the outbound order (or the lines named) found by our order id (its
        ``externalId``); none there, or cancelled already: done; shipped: refused."""
        reply = await self.api.request(
            "GET", "outbound_orders", params={"externalId": order.order_id}, deadline=deadline
        )
        found = reply.json().get("outbound_orders", [])
        if not found:
            return ActionOutcome.done("Flexe has no outbound order for it: nothing to cancel")
        outbound = found[0]
        if outbound.get("status") == "cancelled":
            return ActionOutcome.done(f"outbound order {outbound['id']} is cancelled already")
        body: dict[str, Any] = {}
        if request.action == "cancel_lines":
            body["lineIds"] = [x for x in request.params.get("line_ids", "").split(",") if x]
        try:
            await self.api.request(
                "POST", f"outbound_orders/{outbound['id']}/cancel", json_body=body, deadline=deadline
            )
        except ProviderHttpError as exc:
            if exc.status == 409:
                raise ActionFailed(f"Flexe refused the cancel: {exc.detail}") from exc
            raise
        return ActionOutcome.done(
            f"outbound order {outbound['id']} cancelled", provider_order_id=str(outbound["id"])
        )

    async def webhook(self, request: web.Request) -> web.Response:
        check_shared_key(request, self._webhook_key)
        data = json_object(await read_body(request))
        require(data, ("eventId", str), ("eventType", str))
        if data["eventType"] != "order_shipped":
            return acknowledged()
        require(data, ("externalId", str), ("orderId", str), ("shipment", dict))
        shipment = data["shipment"]
        tracking = shipment.get("trackingNumber")
        command = RecordShipped(
            envelope=envelope(
                PROVIDER, data["externalId"], f"event/{data['eventId']}", f"flexe/{data['orderId']}"
            ),
            provider=PROVIDER,
            shipment_id=f"{data['orderId']}/{tracking}" if tracking else data["orderId"],
            carrier=str(shipment.get("carrier") or "") or None,
            tracking_number=str(tracking) if tracking else None,
        )
        return await self.take_once(
            "event",
            data["eventId"],
            lambda: self.publisher.publish(command),
            f"shipment of {data['externalId']}",
        )


def start(settings: config.FlexeSettings) -> int:
    """Run the Flexe connector with these settings until stopped (``oms connector flexe``)."""
    from connectors.runtime import run

    token = settings.required_secret("api_token")
    webhook_key = settings.secret("webhook_key")
    runtime = config.runtime_config(settings)
    options = FlexeOptions(owner_id=settings.owner_id, shipping_method=settings.shipping_method)

    def make(publisher: Publisher, store: ConnectorStore) -> FlexeConnector:
        auth = StaticAuth({"Authorization": f"Bearer {token.reveal()}"})
        api = ProviderHttp(settings.api_url, PROVIDER, runtime.http, auth)
        return FlexeConnector(api, store, publisher, options, webhook_key)

    return run(runtime, make)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m connectors.flexe``: the same as ``oms connector flexe``."""
    from connectors.cli import main as connector_main

    return connector_main(PROVIDER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
