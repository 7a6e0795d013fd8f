"""What the simulators' /_sim state says: copies per order, and each webhook's order and the
event it must have caused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.fno import INVOICED, PICKED
from connectors.sap import BILLING_CREATED
from devkit.soak.evidence import Prefixes, SimState, copies_of, faults_fired, webhooks_of

PREFIXES = Prefixes(bigcommerce="SBC-", fno="SFNO-")


def _delivery(dlv_id: str, event_id: str, payload: Any, state: str = "delivered") -> dict[str, Any]:
    return {"id": dlv_id, "event_id": event_id, "state": state, "payload": payload}


def _sims() -> SimState:
    return SimState(
        fno_orders=[
            {
                "header": {
                    "dataAreaId": "usmf",
                    "SalesOrderNumber": "SBC-100",
                    "CustomersOrderReference": "SBC-100",
                }
            },
            {"header": {"dataAreaId": "usmf", "SalesOrderNumber": "000007"}},
        ],
        flexe_orders=[
            {"id": "F1", "externalId": "SFNO-USMF-000007"},
            {"id": "F2", "externalId": "SFNO-USMF-000007"},
        ],
        sap_orders=[{"SalesOrder": "1", "PurchaseOrderByCustomer": "SFNO-USMF-000009"}],
        sap_billing=[{"BillingDocument": "90000001", "PurchaseOrderByCustomer": "SFNO-USMF-000009"}],
        deliveries={
            "bigcommerce": [
                _delivery("b1", "h1", {"scope": "store/order/created", "data": {"id": 100}}),
                _delivery("b2", "h2", {"scope": "store/order/statusUpdated", "data": {"id": 100}}),
            ],
            "fno": [
                _delivery(
                    "f1",
                    "E1",
                    {"BusinessEventId": PICKED, "SalesOrderId": "SBC-100", "LegalEntity": "usmf"},
                    "parked",
                ),
                _delivery(
                    "f2", "E2", {"BusinessEventId": INVOICED, "SalesOrderId": "000007", "LegalEntity": "usmf"}
                ),
                _delivery(
                    "f3",
                    "D1",
                    {
                        "entity": "salesorders",
                        "operation": "confirmed",
                        "dataAreaId": "usmf",
                        "SalesOrderNumber": "7",
                    },
                ),
            ],
            "flexe": [
                _delivery(
                    "x1", "S1", {"eventType": "order_shipped", "externalId": "SFNO-USMF-000007"}, "pending"
                ),
                _delivery("x2", "S1", {"eventType": "order_shipped", "externalId": "SFNO-USMF-000007"}),
            ],
            "sap": [
                _delivery("s1", "C1", {"type": BILLING_CREATED, "data": {"BillingDocument": "90000001"}})
            ],
        },
    )


def test_copies_count_the_provider_orders_that_name_each_of_ours() -> None:
    assert copies_of(_sims()) == {
        "fno": {"SBC-100": 1},
        "flexe": {"SFNO-USMF-000007": 2},
        "sap": {"SFNO-USMF-000009": 1},
    }


def test_each_webhook_names_its_order_and_the_event_it_must_cause() -> None:
    hooks = {(h.provider, h.event_id): h for h in webhooks_of(_sims(), PREFIXES, resent={"f1"})}

    assert (hooks["bigcommerce", "h1"].order_id, hooks["bigcommerce", "h1"].effect) == (
        "SBC-100",
        "OrderCreated",
    )
    assert hooks["bigcommerce", "h2"].effect is None  # an echo of our own status write
    picked = hooks["fno", "E1"]
    assert (picked.order_id, picked.effect, picked.delivered, picked.resent) == (
        "SBC-100",
        "FulfillmentPicked",
        False,
        True,
    )
    assert (hooks["fno", "E2"].order_id, hooks["fno", "E2"].effect) == ("SFNO-USMF-000007", "OrderInvoiced")
    assert (hooks["fno", "D1"].order_id, hooks["fno", "D1"].effect) == ("SFNO-USMF-7", "OrderCreated")
    shipped = hooks["flexe", "S1"]
    assert (shipped.copies, shipped.delivered, shipped.effect) == (2, True, "OrderShipped")
    assert (hooks["sap", "C1"].order_id, hooks["sap", "C1"].effect) == ("SFNO-USMF-000009", "OrderInvoiced")


def test_faults_fired_count_vendor_requests_but_not_the_parts_of_a_batch() -> None:
    requests = {
        "fno": [
            {"fault": "5xx", "via_batch": None, "at": "2026-01-05T09:00:01+00:00"},
            {"fault": None, "via_batch": None, "at": "2026-01-05T09:00:02+00:00"},
            {"fault": None, "via_batch": 2, "at": "2026-01-05T09:00:02+00:00"},
            {"fault": "timeout", "via_batch": None, "at": "2026-01-05T09:00:03+00:00"},
            {"fault": None, "via_batch": None, "at": "2026-01-05T09:01:00+00:00"},
        ]
    }

    fired = faults_fired(requests, until=datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC))["fno"]

    assert (fired["total"], fired["5xx"], fired["timeout"], fired["429"]) == (3, 1, 1, 0)
    assert faults_fired(requests)["fno"]["total"] == 4
