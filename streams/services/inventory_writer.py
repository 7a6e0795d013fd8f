"""The inventory writer: the one process that decides a SKU@source's commands.

The same transactional loop as the order writer (``transactional.py``) over
``inventory.commands``, keyed ``SKU@source``: one writer per partition, so every
reservation for a key is decided one after the other against the units it has, and the
grant, the refusal or the release is appended in the same transaction as the command's
offset. Run one per host (``oms inventory-writer``); the group shares the partitions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from streams.adapters.avro import AvroCodec
from streams.adapters.state_store import InventoryStore
from streams.adapters.topics import TopicRegistry
from streams.domain.history import StockHistories
from streams.domain.inventory import InventoryCommand, decide_inventory, evolve_inventory
from streams.services.transactional import Folder, TransactionalWriter
from streams.settings import Settings

INVENTORY_GROUP = "oms-inventory-writer"


class InventoryWriter(TransactionalWriter):
    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        store: InventoryStore,
        batch_size: int = 2000,
    ) -> None:
        super().__init__(
            settings,
            topics,
            codec,
            store,
            group=INVENTORY_GROUP,
            commands_topic=topics.inventory_commands,
            event_topics=topics.inventory_event_topics(),
            batch_size=batch_size,
        )
        self.store: InventoryStore = store

    def _accepts(self, record: BaseModel) -> bool:
        return isinstance(record, InventoryCommand)

    def _folder(self) -> Folder:
        return StockHistories(self.store)

    def _apply(self, command: Any, partition: int) -> None:
        key = command.envelope.key
        state = self.store.get(key)
        events = decide_inventory(command, state)
        for event in events:
            self._produce_event(self.topics.inventory_event_topic(type(event)), key, event, partition)
            state = evolve_inventory(state, event)
        if events and state is not None:
            self.store[key] = state
