"""Released history stays readable: every schema version is locked, and today's reads all."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from streams.adapters.avro import SINGLE_OBJECT_MAGIC, AvroCodec, SchemaCatalog
from streams.adapters.schema_lock import can_read, load_lock, lock_path, unlocked
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import CommandEnvelope, CreateOrder, ProviderActionRequest, RecordActionResult
from streams.domain.decider import decide
from streams.domain.events import OrderCreated
from streams.domain.order import OrderState, fold, order_of
from streams.domain.sourcing import FulfillmentPlan
from streams.domain.values import Address, OrderLine
from streams.settings import Settings

CATALOG = SchemaCatalog(Settings().schemas_dir)
LOCK = load_lock(lock_path(CATALOG))


def _created() -> OrderState:
    at = datetime(2026, 11, 28, tzinfo=UTC)
    create = CreateOrder(
        envelope=CommandEnvelope(command_id="k", order_id="O1", issued_at=at, correlation_id="c", source="t"),
        channel="bigcommerce",
        customer_id="C",
        currency="USD",
        ship_to=Address(name="n", line1="l", city="c", postal_code="1", country="US"),
        lines=(OrderLine(line_id="1", sku="TEE", quantity=1, unit_price=Decimal("5")),),
    )
    state = fold(decide(create, None))
    assert state is not None
    return state


def test_every_schema_is_locked_so_no_change_goes_unchecked() -> None:
    assert unlocked(CATALOG, LOCK) == [], "run `oms schemas lock` (it checks compatibility first)"


@pytest.mark.parametrize("name", sorted(LOCK), ids=str)
def test_todays_schema_reads_every_earlier_version(name: str) -> None:
    current = json.loads(CATALOG.definitions[name])
    for version in LOCK[name]:
        assert can_read(current, version["schema"]) == [], version["fingerprint"]


def test_an_order_created_before_attributes_existed_decodes_with_empty_attributes() -> None:
    earlier = next(v for v in LOCK["oms.events.OrderCreated"] if "attributes" not in json.dumps(v["schema"]))
    writer = fastavro.parse_schema(earlier["schema"])
    datum = {
        "envelope": {
            "event_id": "e1",
            "order_id": "O1",
            "seq": 1,
            "occurred_at": datetime(2026, 11, 28, tzinfo=UTC),
            "correlation_id": "c",
            "causation_id": "k",
            "source": "s",
            "status": "New",
            "status_reason": "Created",
        },
        "channel": "bigcommerce",
        "customer_id": "C",
        "currency": "USD",
        "ship_to": {"name": "n", "line1": "l", "city": "c", "postal_code": "1", "country": "US"},
        "lines": [],
        "external_refs": [],
        "company": None,
        "invoice_customer": None,
    }
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, datum)
    data = SINGLE_OBJECT_MAGIC + bytes.fromhex(earlier["fingerprint"]) + body.getvalue()

    event = AvroCodec(CATALOG, TopicRegistry().value_models()).decode(data)

    assert isinstance(event, OrderCreated)
    assert event.attributes == {} and event.envelope.order_id == "O1"


def test_compatibility_rules() -> None:
    old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    added_with_default = {**old, "fields": [*old["fields"], {"name": "b", "type": "string", "default": ""}]}
    added_without = {**old, "fields": [*old["fields"], {"name": "b", "type": "string"}]}
    widened = {**old, "fields": [{"name": "a", "type": "long"}]}
    narrowed = {**old, "fields": [{"name": "a", "type": "boolean"}]}
    optional = {**old, "fields": [{"name": "a", "type": ["null", "int"]}]}
    assert can_read(added_with_default, old) == []
    assert can_read(added_without, old) == ["b: new field without a default"]
    assert can_read(widened, old) == []
    assert can_read(narrowed, old) == ["a: int cannot be read as boolean"]
    assert can_read(optional, old) == []
    assert can_read(old, optional) != []  # a null cannot become an int


def _first_version(name: str, datum: dict[str, Any]) -> bytes:
    """``datum`` written with the first locked version of ``name``, single-object framed."""
    earliest = LOCK[name][0]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(earliest["schema"]), datum)
    return SINGLE_OBJECT_MAGIC + bytes.fromhex(earliest["fingerprint"]) + body.getvalue()


def test_a_request_written_with_the_order_as_json_is_still_answered_with_its_order() -> None:
    state = _created()
    at = datetime(2026, 11, 28, tzinfo=UTC)
    datum = {
        **{"action_id": "a", "order_id": "O1", "provider": "fno", "action": "send_to_fulfillment"},
        **{"step": "send", "attempt": 1, "params": {}, "not_before": at, "deadline": at},
        **{"correlation_id": "c", "order_json": state.model_dump_json()},
    }

    request = AvroCodec(CATALOG, TopicRegistry().value_models()).decode(
        _first_version("oms.ProviderActionRequest", datum)
    )

    assert isinstance(request, ProviderActionRequest) and request.order is None
    assert order_of(request) == state.snapshot()


def test_a_dom_answer_written_with_its_plan_as_json_decodes_with_the_json_kept() -> None:
    plan = FulfillmentPlan(order_id="O1", strategy="closest", outcome="not sourced", unsourced=("1",))
    envelope = {"command_id": "k", "order_id": "O1", "issued_at": datetime(2026, 11, 28, tzinfo=UTC)}
    datum = {
        "envelope": {**envelope, "correlation_id": "c", "source": "dom"},
        **{"action_id": "a", "success": True, "details": "", "data": {"plan": plan.model_dump_json()}},
    }

    result = AvroCodec(CATALOG, TopicRegistry().value_models()).decode(
        _first_version("oms.commands.RecordActionResult", datum)
    )

    # the decider reads either form (tests/unit/domain/sourcing/test_atp.py plays both)
    assert isinstance(result, RecordActionResult) and result.plan is None
    assert FulfillmentPlan.model_validate_json(result.data["plan"]) == plan
