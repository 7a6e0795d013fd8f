"""The order writer's provider requests: assembled without validation, they are the
requests validation builds, to the byte."""

from __future__ import annotations

import random

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.avro import AvroCodec, SchemaCatalog
from streams.adapters.config_files import load_order_handling, load_products
from streams.adapters.flow_files import load_flows
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import ProviderActionRequest
from streams.domain.events import ProviderActionRequested
from streams.domain.flows import FlowCatalog
from streams.domain.orchestration import FlowEngine, process
from streams.services.writer import provider_request
from streams.settings import REPO_ROOT, Settings

CODEC = AvroCodec(SchemaCatalog(Settings().schemas_dir), TopicRegistry().value_models())


def test_a_request_is_what_validation_builds() -> None:
    flows = [f.model_copy(update={"version": 1}) for f in load_flows(REPO_ROOT / "flows")]
    engine = FlowEngine(FlowCatalog(flows), load_order_handling(), load_products())
    factory, rng, checked = CommandFactory(), random.Random(5), 0
    for journey in (1, 2, 3, 4, 5, 6):
        outcome = process(journey_order(journey, factory, f"R-{journey}", rng), None, engine)
        assert outcome.state is not None
        for event in outcome.events:
            if not isinstance(event, ProviderActionRequested):
                continue
            pending = outcome.state.pending(event.action_id)
            assert pending is not None
            assembled = provider_request(event, pending, outcome.state)
            validated = ProviderActionRequest(
                **{name: getattr(assembled, name) for name in assembled.model_fields_set}
            )
            assert assembled == validated
            assert assembled.model_fields_set == validated.model_fields_set
            assert list(assembled.__dict__) == list(validated.__dict__)
            assert assembled.params is not pending.params
            assert CODEC.encode(assembled) == CODEC.encode(validated)
            assert CODEC.decode(CODEC.encode(assembled)) == assembled
            checked += 1
    assert checked >= 5
