"""The composition root: the one place that turns settings into wired components.

Processes and tests build what they need here; tests swap settings (a topic prefix, a
temporary state dir), never library internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import yaml

from streams.adapters.avro import AvroCodec, SchemaCatalog
from streams.adapters.config_files import load_order_handling, load_products
from streams.adapters.topics import TopicRegistry
from streams.domain.order_handling import OrderHandling
from streams.domain.preorders import ProductCatalog
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable
from streams.settings import Settings


def load_transitions(settings: Settings) -> TransitionTable:
    """The built-in table, or the one in ``OMS_TRANSITIONS_FILE`` (YAML: ``transitions: [...]``)."""
    if settings.transitions_file is None:
        return DEFAULT_TRANSITIONS
    data = yaml.safe_load(settings.transitions_file.read_text())
    return TransitionTable.model_validate(data)


@dataclass
class Components:
    settings: Settings

    @cached_property
    def topics(self) -> TopicRegistry:
        return TopicRegistry(prefix=self.settings.topic_prefix, partitions=self.settings.partitions)

    @cached_property
    def catalog(self) -> SchemaCatalog:
        return SchemaCatalog(self.settings.schemas_dir)

    @cached_property
    def codec(self) -> AvroCodec:
        registry = None
        if self.settings.schema_registry_url:
            from streams.adapters.schema_registry import ConfluentSchemaIds

            registry = ConfluentSchemaIds(self.settings.schema_registry_url)
        return AvroCodec(self.catalog, self.topics.value_models(), registry)

    @cached_property
    def transitions(self) -> TransitionTable:
        return load_transitions(self.settings)

    @cached_property
    def order_handling(self) -> OrderHandling:
        return load_order_handling(self.settings.order_handling_file)

    @cached_property
    def products(self) -> ProductCatalog:
        return load_products(self.settings.products_file)


def bootstrap(settings: Settings | None = None) -> Components:
    return Components(settings or Settings.from_env())
