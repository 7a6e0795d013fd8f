"""The JSON the API speaks: orders, their history, stats and live changes, built as the
body models of ``bodies.py`` (the OpenAPI document shows the same models).

Generic over event types: an event's payload is its model minus the envelope, so the
step-result events of later flows show up without a change here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from streams.adapters.http import bodies
from streams.adapters.http.read_model import Change, RecordedEvent, Stats

JSON = dict[str, Any]


def respond(body: BaseModel, status: int = 200) -> web.Response:
    """``body`` as the JSON answer (what the route declares it answers with)."""
    return web.json_response(body.model_dump(mode="json"), status=status)


def error(status: int, message: str, version: int | None = None) -> web.Response:
    """``{"error": message}`` (and the projection's ``version`` for read-your-writes)."""
    body = bodies.ErrorBody(error=message, version=version)
    return web.json_response(body.model_dump(mode="json", exclude_none=True), status=status)


def recorded_event(recorded: RecordedEvent) -> bodies.EventView:
    event = recorded.event
    env = event.envelope
    return bodies.EventView(
        seq=env.seq,
        type=type(event).__name__,
        business_event=event.business_event,
        topic=recorded.topic,
        occurred_at=env.occurred_at,
        status=env.status,
        status_reason=env.status_reason,
        event_id=env.event_id,
        correlation_id=env.correlation_id,
        causation_id=env.causation_id,
        source=env.source,
        payload=event.model_dump(mode="json", exclude={"envelope"}),
    )


def change(c: Change) -> JSON:
    return bodies.Change.model_validate(dataclasses.asdict(c)).model_dump(mode="json")


def stats(s: Stats, **more: Any) -> bodies.Stats:
    """The read model's stats (``live_streams`` given: with the live clients counted)."""
    data = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    data["events_per_second"] = round(s.events_per_second, 1)
    model = bodies.StatsWithStreams if "live_streams" in more else bodies.Stats
    return model.model_validate({**data, **more})
