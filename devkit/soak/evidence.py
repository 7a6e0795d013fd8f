"""Gathering what the audit judges: every event topic read from the first offset and folded
through ``OrderHistories``, the dead-letter and rejection topics, and the simulators'
``/_sim`` state (their orders and documents, and every webhook they sent); on a cluster,
each topic's replicas and ``min.insync.replicas``.

Until the simulators report copies per order themselves, copies are counted from their
listings: F&O sales orders by ``CustomersOrderReference``, Flexe outbound orders by
``externalId``, SAP sales orders by ``PurchaseOrderByCustomer`` (each our order id).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout
from confluent_kafka import Message
from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

from connectors.fno import INVOICED, PACKED, PICKED
from connectors.sap import BILLING_CREATED
from devkit.soak.audit import DeadLetter, OrderFacts, Webhook, facts_of
from devkit.world import World
from streams.adapters.avro import AvroCodec
from streams.adapters.kafka import admin
from streams.adapters.kafka_loop import models, read_to_end
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import CommandRejected
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState
from streams.settings import Settings

FNO_EFFECTS = {PICKED: "FulfillmentPicked", PACKED: "OrderShipped", INVOICED: "OrderInvoiced"}


@dataclass
class Histories:
    facts: dict[str, OrderFacts]
    states: dict[str, OrderState]
    gaps: dict[str, list[int]]
    seq_conflicts: dict[str, list[int]]
    repeats: int
    undecodable: int


def _raw(msg: Message) -> Message:
    return msg


def read_histories(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> Histories:
    """Every order's state and history from the event topics, the seqs that two different
    events claim, and the records read twice."""
    states: dict[str, OrderState] = {}
    timelines: dict[str, list[Event]] = {}

    def note(event: Event, state: OrderState, origin: object) -> None:
        timelines.setdefault(state.order_id, []).append(event)

    histories = OrderHistories(states, on_applied=note)
    claimed: dict[tuple[str, int], set[str]] = {}
    repeats = undecodable = 0
    start = {(t, p): 0 for t in topics.event_topics() for p in range(topics.partitions)}
    for batch in read_to_end(settings, start, models(codec, Event)):
        undecodable += len(batch.rejects)
        for event in batch.records:
            env = event.envelope
            ids = claimed.setdefault((env.order_id, env.seq), set())
            repeats += env.event_id in ids
            ids.add(env.event_id)
            histories.add(event)
    conflicts: dict[str, list[int]] = {}
    for (order_id, seq), ids in sorted(claimed.items()):
        if len(ids) > 1:
            conflicts.setdefault(order_id, []).append(seq)
    facts = {o: facts_of(s, timelines.get(o, [])) for o, s in states.items()}
    return Histories(facts, states, histories.held_orders(), conflicts, repeats, undecodable)


def read_replication(settings: Settings, timeout: float = 30.0) -> dict[str, tuple[int, str]]:
    """Topic -> (fewest replicas of its partitions, its ``min.insync.replicas``), for every
    topic but the broker's own (``__consumer_offsets``...): the OMS's and the connectors'."""
    client = admin(settings)
    topics = {
        name: topic
        for name, topic in client.list_topics(timeout=timeout).topics.items()
        if not name.startswith("__")
    }
    configs = client.describe_configs([ConfigResource("topic", name) for name in topics])
    out = {}
    for resource, future in configs.items():
        replicas = min(len(p.replicas) for p in topics[resource.name].partitions.values())
        out[resource.name] = (replicas, future.result(timeout)["min.insync.replicas"].value)
    return out


def read_dead_letters(settings: Settings, topics: TopicRegistry) -> list[DeadLetter]:
    topic = topics.dead_letters
    found = []
    for batch in read_to_end(settings, {(topic, p): 0 for p in range(topics.partitions)}, _raw):
        for msg in batch.records:
            raw = msg.headers() or []
            pairs = raw.items() if isinstance(raw, dict) else raw
            headers = {k: _text(v) for k, v in pairs}
            key = _text(msg.key())
            found.append(DeadLetter(key, headers.get("dlq.topic", ""), headers.get("dlq.reason", "")))
    return found


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


_IDS = re.compile(r"'[^']*(BC|FNO)-[^']*'|\b[\w.-]*(BC|FNO)-[\w-]+")


def read_rejections(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> Counter[str]:
    """Why the writer refused commands, the order ids taken out so that reasons group."""
    reasons: Counter[str] = Counter()
    start = {(topics.rejections, p): 0 for p in range(topics.partitions)}
    for batch in read_to_end(settings, start, models(codec, CommandRejected)):
        for rejected in batch.records:
            reasons[f"{rejected.command_type}: {_IDS.sub('<order>', rejected.error)}"] += 1
    return reasons


# --- the simulators' side ----------------------------------------------------------------


@dataclass
class SimState:
    """What the four simulators hold at the end (the JSON of their ``/_sim`` listings)."""

    fno_orders: list[dict[str, Any]] = field(default_factory=list)
    flexe_orders: list[dict[str, Any]] = field(default_factory=list)
    sap_orders: list[dict[str, Any]] = field(default_factory=list)
    sap_billing: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


async def read_sims(world: World, with_requests: bool = True) -> SimState:
    async with ClientSession(timeout=ClientTimeout(total=120)) as http:

        async def get(provider: str, path: str) -> Any:
            async with http.get(world.simulators[provider] + path) as reply:
                reply.raise_for_status()
                return await reply.json()

        state = SimState(
            fno_orders=(await get("fno", "/_sim/salesorders"))["salesorders"],
            flexe_orders=(await get("flexe", "/_sim/outbound_orders"))["outbound_orders"],
            sap_orders=(await get("sap", "/_sim/salesorders"))["salesorders"],
            sap_billing=(await get("sap", "/_sim/billingdocuments"))["billingdocuments"],
        )
        for provider in world.simulators:
            state.deliveries[provider] = (await get(provider, "/_sim/deliveries"))["deliveries"]
            if with_requests:
                state.requests[provider] = (await get(provider, "/_sim/requests"))["requests"]
        return state


_LOGGED = ("seq", "at", "method", "path", "status", "fault", "duration_ms", "via_batch")


def keep_request_logs(sims: SimState, directory: Path) -> None:
    """Each simulator's vendor requests (no headers or bodies) as ``requests-<sim>.jsonl``
    beside the process logs: when an order stalls, its requests show whether the
    provider answered slowly, refused, or never heard of it."""
    directory.mkdir(parents=True, exist_ok=True)
    for provider, entries in sims.requests.items():
        with (directory / f"requests-{provider}.jsonl").open("w") as out:
            for entry in entries:
                out.write(json.dumps({k: entry.get(k) for k in _LOGGED}) + "\n")


def copies_of(sims: SimState) -> dict[str, dict[str, int]]:
    """Provider -> our order id -> how many of the provider's orders carry it."""
    return {
        "fno": dict(
            Counter(str(r) for o in sims.fno_orders if (r := o["header"].get("CustomersOrderReference")))
        ),
        "flexe": dict(Counter(str(r) for o in sims.flexe_orders if (r := o.get("externalId")))),
        "sap": dict(Counter(str(r) for o in sims.sap_orders if (r := o.get("PurchaseOrderByCustomer")))),
    }


@dataclass(frozen=True)
class Prefixes:
    bigcommerce: str
    fno: str


def webhooks_of(sims: SimState, prefixes: Prefixes, resent: Iterable[str] = ()) -> list[Webhook]:
    """Every outbound event of the four simulators (its copies merged by event id), the
    order it is about and the event it must have caused there."""
    again = set(resent)
    fno_refs = {
        (str(o["header"]["dataAreaId"]).lower(), str(o["header"]["SalesOrderNumber"])): o["header"].get(
            "CustomersOrderReference"
        )
        for o in sims.fno_orders
    }
    billed = {str(d["BillingDocument"]): d.get("PurchaseOrderByCustomer") for d in sims.sap_billing}
    hooks = []
    for provider, deliveries in sims.deliveries.items():
        by_event: dict[str, list[dict[str, Any]]] = {}
        for delivery in deliveries:
            by_event.setdefault(str(delivery["event_id"]), []).append(delivery)
        for event_id, copies in by_event.items():
            payload = copies[0]["payload"]
            order_id, effect = _target(provider, payload, prefixes, fno_refs, billed)
            hooks.append(
                Webhook(
                    provider=provider,
                    event_id=event_id,
                    order_id=order_id,
                    effect=effect,
                    delivered=any(c["state"] == "delivered" for c in copies),
                    copies=len(copies),
                    resent=any(c["id"] in again for c in copies),
                )
            )
    return hooks


def _target(
    provider: str,
    payload: Any,
    prefixes: Prefixes,
    fno_refs: Mapping[tuple[str, str], Any],
    billed: Mapping[str, Any],
) -> tuple[str | None, str | None]:
    """(our order id, the event type it must cause) of one webhook payload."""
    if not isinstance(payload, dict):
        return None, None
    if provider == "bigcommerce":
        if payload.get("scope") == "store/order/created":
            return f"{prefixes.bigcommerce}{payload['data']['id']}", "OrderCreated"
        return None, None  # status updates: echoes of our own writes
    if provider == "flexe":
        if payload.get("eventType") == "order_shipped":
            return str(payload["externalId"]), "OrderShipped"
        return None, None
    if provider == "sap":
        if payload.get("type") == BILLING_CREATED:
            ours = billed.get(str(payload["data"]["BillingDocument"]))
            return (str(ours) if ours else None), "OrderInvoiced"
        return None, None
    return _fno_target(payload, prefixes, fno_refs)


def _fno_target(
    payload: Mapping[str, Any], prefixes: Prefixes, fno_refs: Mapping[tuple[str, str], Any]
) -> tuple[str | None, str | None]:
    if payload.get("entity") == "salesorders":
        if payload.get("operation") != "confirmed":
            return None, None
        company, number = str(payload["dataAreaId"]), str(payload["SalesOrderNumber"])
        return f"{prefixes.fno}{company.upper()}-{number}", "OrderCreated"
    effect = FNO_EFFECTS.get(str(payload.get("BusinessEventId")))
    if effect is None:
        return None, None
    company, number = str(payload.get("LegalEntity", "")), str(payload.get("SalesOrderId", ""))
    reference = fno_refs.get((company.lower(), number))
    return (str(reference) if reference else f"{prefixes.fno}{company.upper()}-{number}"), effect


def faults_fired(
    requests: Mapping[str, list[dict[str, Any]]], until: datetime | None = None
) -> dict[str, Counter[str]]:
    """Provider -> fault kind -> vendor requests it hit (``total``: every vendor request),
    counting the requests received before ``until`` (while the faults were armed)."""
    out: dict[str, Counter[str]] = {}
    for provider, entries in requests.items():
        received = [
            e
            for e in entries
            if e.get("via_batch") is None  # not the parts of an F&O $batch
            and (until is None or datetime.fromisoformat(str(e["at"])) <= until)
        ]
        counts: Counter[str] = Counter(str(e["fault"]) for e in received if e.get("fault"))
        counts["total"] = len(received)
        out[provider] = counts
    return out
