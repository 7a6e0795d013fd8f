"""What the four HTTP connectors share: their wiring (the provider's API, the store, where
commands go, the webhook route and key) and how a webhook is taken in once.

Each provider module keeps only its actions, its webhook's wire format and its ``main``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

from aiohttp import web

from connectors.actions import Publisher
from connectors.http import ProviderHttp
from connectors.state import ConnectorStore, KeyedLocks
from connectors.webhooks import acknowledged, unavailable
from streams.shell.metrics import WebhookOutcome, mark_webhook

OptionsT = TypeVar("OptionsT")
KeyT = TypeVar("KeyT")


class HttpConnector(ABC, Generic[OptionsT, KeyT]):
    """A :class:`~connectors.actions.ProviderConnector` over the provider's HTTP API, with
    the provider's webhooks at ``webhook_path``; subclasses add ``perform`` and ``webhook``."""

    provider: str
    webhook_path: ClassVar[str]

    def __init__(
        self,
        api: ProviderHttp,
        store: ConnectorStore,
        publisher: Publisher,
        options: OptionsT,
        webhook_key: KeyT | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.publisher = publisher
        self.options = options
        self._webhook_key = webhook_key
        self._locks = KeyedLocks()

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(self.webhook_path, self.webhook)]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.api.close()

    @abstractmethod
    async def webhook(self, request: web.Request) -> web.Response: ...

    @contextmanager
    def sent_again_on_failure(self, what: str) -> Iterator[None]:
        """A failure on our side (the provider's API or Kafka) answers 503, so that the
        provider delivers the message again; refusals (4xx) pass as they are."""
        try:
            yield
        except web.HTTPException:
            raise
        except Exception as exc:
            logging.getLogger(type(self).__module__).warning(
                "%s: %s not taken now: %s", self.provider, what, exc
            )
            raise unavailable("could not take the event now; send it again") from exc

    async def take_once(
        self, kind: str, message_id: str, take: Callable[[], Awaitable[None]], what: str
    ) -> web.Response:
        """Run ``take`` (which publishes) once per provider message *in this instance*: two
        copies delivered at once wait for each other, and the message is remembered only
        after ``take`` succeeded. A fast path only (see ``connectors.state``): another
        instance, or this one after a crash, publishes the message again under the same
        command id, which the order writer refuses."""
        async with self._locks.hold(f"{kind}/{message_id}"):
            if self.store.seen(kind, message_id):
                mark_webhook(WebhookOutcome.DUPLICATE)
                return acknowledged()
            with self.sent_again_on_failure(what):
                await take()
            self.store.remember(kind, message_id)
        return acknowledged()
