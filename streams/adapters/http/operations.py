"""The operator's routes: error queues and reprocess, alerts, insights, pause/resume, what-if.

``OperationsPort`` is what the routes need; the operations monitor service provides it and
``oms api`` wires it in (without it, every route here answers 501).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel

from streams.adapters.http import params
from streams.adapters.http.bodies import (
    AlertList,
    AlertsQuery,
    ErrorBody,
    ErrorList,
    ErrorsQuery,
    ErrorView,
    Insights,
    InsightsQuery,
    Message,
    Paused,
    PausedView,
    PauseList,
    PauseRequest,
    ReprocessAnswer,
    ReprocessErrors,
    ReprocessOutcome,
    StatusCountView,
    WhatIfReport,
    WhatIfRequest,
)
from streams.adapters.http.representation import error, respond
from streams.adapters.http.routes import Answer, Handler, Route, add_routes
from streams.domain.alerts import AlertChanged
from streams.domain.control import PauseTarget, TargetKind, TargetPaused, TargetResumed
from streams.domain.error_queue import ErrorCategory, ErrorQuery, QueuedError, ReprocessPlan
from streams.domain.insights import InsightsSnapshot

JSON = dict[str, Any]


class OperationsPort(Protocol):
    def error_list(self, query: ErrorQuery) -> list[QueuedError]: ...

    def reprocess(
        self, error_ids: Iterable[str] | None, query: ErrorQuery | None, by: str
    ) -> list[ReprocessPlan]: ...

    def alert_list(self, include_resolved: bool = False) -> list[AlertChanged]: ...

    def acknowledge(self, alert_id: str, by: str) -> AlertChanged | None: ...

    def insight(self, window_minutes: int | None, now: datetime | None = None) -> InsightsSnapshot: ...

    def paused(self) -> list[TargetPaused]: ...

    def pause(self, target: PauseTarget, by: str, reason: str) -> TargetPaused: ...

    def resume(self, target: PauseTarget, by: str) -> TargetResumed: ...

    def what_if(self, flow_yaml: str, since: datetime, until: datetime | None, orders: int | None) -> JSON:
        """The report (``bodies.WhatIfReport``'s JSON), or ``{"error": why}``."""
        ...


OPERATIONS: web.AppKey[OperationsPort | None] = web.AppKey("operations")
_LAST_WHAT_IF: web.AppKey[dict[str, WhatIfReport]] = web.AppKey("last_what_if")


def _ops(request: web.Request) -> OperationsPort:
    ops = request.app[OPERATIONS]
    if ops is None:
        raise web.HTTPNotImplemented(text="the operations monitor is not wired into this API")
    return ops


def _error_query(q: Any, body: JSON | None = None) -> ErrorQuery:
    source = body if body is not None else q
    category = source.get("category")
    if category is not None and category not in set(ErrorCategory):
        raise params.BadParameter(f"category: one of {', '.join(ErrorCategory)}, not {category!r}")
    state = source.get("state")
    if state not in (None, "open", "resolved", "all"):
        raise params.BadParameter(f"state: open, resolved or all, not {state!r}")
    since, until = (_time(source, n) for n in ("since", "until"))
    limit = params.integer(q, "limit", 1, 1000) if body is None else int(source.get("limit", 1000))
    return ErrorQuery(
        provider=source.get("provider"),
        category=ErrorCategory(category) if category else None,
        since=since,
        until=until,
        order_id=source.get("order_id"),
        state=None if state == "all" else state,
        limit=limit or 100,
    )


def _time(source: Any, name: str) -> datetime | None:
    raw = source.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise params.BadParameter(f"{name}: not an ISO 8601 time: {raw!r}") from exc
    if parsed.tzinfo is None:
        raise params.BadParameter(f"{name}: give a time zone (e.g. 2026-12-01T08:00:00Z)")
    return parsed


async def _body(request: web.Request) -> JSON:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise params.BadParameter(f"body: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise params.BadParameter("body: a JSON object")
    return data


async def get_errors(request: web.Request) -> web.Response:
    query = _error_query(request.query)
    errors = [_error_view(q) for q in _ops(request).error_list(query)]
    return respond(ErrorList(errors=errors, count=len(errors)))


def _error_view(queued: QueuedError) -> ErrorView:
    record = queued.record.model_dump(exclude={"command"})
    return ErrorView(**record, state=queued.state, resolved=queued.resolved)


async def reprocess_errors(request: web.Request) -> web.Response:
    """``{"error_ids": [...]}`` for some, or filters (``category``, ``provider``, ``since``)
    for every open error they find."""
    body = await _body(request)
    ids = body.get("error_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise params.BadParameter("error_ids: a list of error ids")
    query = None if ids is not None else _error_query(request.query, {**body, "state": "open"})
    ops = _ops(request)
    plans = await asyncio.get_running_loop().run_in_executor(None, ops.reprocess, ids, query, "operator:api")
    acted = sum(1 for p in plans if p.acts)
    results = [ReprocessOutcome(error_id=p.error_id, verdict=p.verdict, message=p.message) for p in plans]
    message = f"{acted} of {len(plans)} errors reprocessed" if plans else "no open error matches"
    return respond(ReprocessAnswer(message=message, results=results), 202 if acted else 200)


async def get_alerts(request: web.Request) -> web.Response:
    include = params.boolean(request.query, "include_resolved", default=False)
    return respond(AlertList(alerts=_ops(request).alert_list(include)))


async def take_alert(request: web.Request) -> web.Response:
    alert_id = request.match_info["alert_id"]
    ops = _ops(request)
    changed = await asyncio.get_running_loop().run_in_executor(
        None, ops.acknowledge, alert_id, "operator:api"
    )
    if changed is None:
        raise web.HTTPConflict(text=f"alert {alert_id} is not active (unknown, taken or resolved)")
    return respond(changed)


def insights_json(s: InsightsSnapshot) -> BaseModel:
    data = {f.name: getattr(s, f.name) for f in fields(s)}
    data["by_status"] = [
        StatusCountView(status=st, reason=r, orders=n) for (st, r), n in sorted(s.by_status.items())
    ]
    return Insights.model_validate(data)


async def get_insights(request: web.Request) -> web.Response:
    window = params.integer(request.query, "window", 1, 1440)
    return respond(insights_json(_ops(request).insight(window)))


def _target(body: JSON) -> PauseTarget:
    kind, name = body.get("kind"), body.get("name")
    if kind not in set(TargetKind):
        raise params.BadParameter("kind: flow or provider")
    if not isinstance(name, str) or not name:
        raise params.BadParameter("name: the flow's or the provider's name")
    version = body.get("flow_version")
    if version is not None and (kind != TargetKind.FLOW or not isinstance(version, int) or version < 1):
        raise params.BadParameter("flow_version: a flow's published version (1, 2, ...)")
    return PauseTarget(kind=kind, name=name, flow_version=version)


def _paused_view(p: TargetPaused) -> PausedView:
    return PausedView(**dict(p), key=p.target.key)


async def get_pauses(request: web.Request) -> web.Response:
    return respond(PauseList(paused=[_paused_view(p) for p in _ops(request).paused()]))


async def pause(request: web.Request) -> web.Response:
    body = await _body(request)
    target, ops = _target(body), _ops(request)
    if any(p.target.key == target.key for p in ops.paused()):
        return respond(Message(message=f"{target.key} is paused already"))
    record = await asyncio.get_running_loop().run_in_executor(
        None, ops.pause, target, "operator:api", str(body.get("reason", ""))
    )
    return respond(Paused(**dict(_paused_view(record)), message=f"{target.key} paused"), 202)


async def resume(request: web.Request) -> web.Response:
    target, ops = _target(await _body(request)), _ops(request)
    if not any(p.target.key == target.key for p in ops.paused()):
        return respond(Message(message=f"{target.key} is not paused: nothing to resume"))
    await asyncio.get_running_loop().run_in_executor(None, ops.resume, target, "operator:api")
    return respond(Message(message=f"{target.key} resumed: its held requests go out in order"), 202)


async def post_what_if(request: web.Request) -> web.Response:
    """``{"flow": "<draft YAML>", "since": ..., "until": ..., "orders": N}``."""
    body = await _body(request)
    flow = body.get("flow")
    if not isinstance(flow, str) or not flow.strip():
        raise params.BadParameter("flow: the draft flow's YAML text")
    since = _time(body, "since")
    if since is None:
        raise params.BadParameter("since: where the replay starts (ISO 8601 with a time zone)")
    orders = body.get("orders")
    if orders is not None and (not isinstance(orders, int) or orders < 1):
        raise params.BadParameter("orders: a positive number")
    ops = _ops(request)
    report = await asyncio.get_running_loop().run_in_executor(
        None, ops.what_if, flow, since, _time(body, "until"), orders
    )
    if "error" in report:
        return error(422, str(report["error"]))
    answer = WhatIfReport.model_validate(report)
    request.app[_LAST_WHAT_IF]["last"] = answer
    return respond(answer)


async def get_what_if(request: web.Request) -> web.Response:
    last = request.app[_LAST_WHAT_IF].get("last")
    if last is None:
        raise web.HTTPNotFound(text="no what-if has run on this API yet (POST /what-if)")
    return respond(last)


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}" if inner else ""


def insights_metrics(s: InsightsSnapshot, alerts: list[AlertChanged]) -> str:
    """The insights in Prometheus' text format (gauges: a snapshot of the live aggregates)."""
    lines: list[str] = []

    def gauge(name: str, help_: str, samples: list[tuple[dict[str, str], float | None]]) -> None:
        lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} gauge"))
        lines.extend(f"{name}{_labels(**labels)} {value}" for labels, value in samples if value is not None)

    gauge(
        "oms_insight_orders",
        "Orders by status and reason.",
        [({"status": st, "reason": r}, n) for (st, r), n in sorted(s.by_status.items())],
    )
    gauge("oms_insight_orders_in_jeopardy", "Open orders due soon and not shipped.", [({}, s.in_jeopardy)])
    gauge(
        "oms_insight_orders_past_due", "Open orders past their requested delivery date.", [({}, s.past_due)]
    )
    gauge(
        "oms_insight_on_time_ship_ratio",
        "Shipped by the requested date, of those shipped with one.",
        [({}, s.on_time_ship_ratio)],
    )
    gauge("oms_insight_fill_rate", "Units shipped of units ordered, on shipped orders.", [({}, s.fill_rate)])
    gauge(
        "oms_insight_book_to_ship_seconds",
        "Order created to shipped.",
        [({"quantile": q}, getattr(s.book_to_ship, f"p{q[2:]}")) for q in ("0.50", "0.95", "0.99")],
    )
    steps = [
        ({"flow": x.flow, "step": x.step, "quantile": q}, getattr(x.cycle, f"p{q[2:]}"))
        for x in s.steps
        for q in ("0.50", "0.95")
    ]
    gauge("oms_insight_step_cycle_seconds", "A step's first request to its result.", steps)
    for name, help_, attr in (
        ("oms_insight_provider_requests", "Provider answers (attempts).", "requests"),
        ("oms_insight_provider_failures", "Provider answers that failed.", "failures"),
        ("oms_insight_provider_sla_percent", "Answers that succeeded within the SLA target.", "sla_percent"),
    ):
        gauge(
            name,
            help_,
            [({"provider": p.provider, "action": p.action}, getattr(p, attr)) for p in s.providers],
        )
    latency = [
        ({"provider": p.provider, "action": p.action, "quantile": q}, getattr(p.latency, f"p{q[2:]}"))
        for p in s.providers
        for q in ("0.50", "0.95", "0.99")
    ]
    gauge("oms_insight_provider_latency_seconds", "Request to answer.", latency)
    states: dict[tuple[str, str], int] = {}
    for a in alerts:
        states[(a.rule, a.state)] = states.get((a.rule, a.state), 0) + 1
    gauge(
        "oms_alerts",
        "Alerts by rule and state.",
        [({"rule": r, "state": st}, n) for (r, st), n in sorted(states.items())],
    )
    return "\n".join(lines) + "\n"


async def get_insight_metrics(request: web.Request) -> web.Response:
    ops = _ops(request)
    body = insights_metrics(ops.insight(None), ops.alert_list(include_resolved=False))
    return web.Response(
        text=body, content_type="text/plain", charset="utf-8", headers={"X-Format": "prometheus-0.0.4"}
    )


_ERROR = Answer("an error; the message says what is wrong", ErrorBody)
_UNWIRED = {501: Answer("no operations monitor is wired into this API", ErrorBody)}
_ALERT_ID = {"alert_id": "rule:subject"}


def _route(
    method: str, path: str, handler: Handler, summary: str, answers: dict[int, Answer], **more: Any
) -> Route:
    return Route(method, path, handler, summary, {**answers, **_UNWIRED}, **more)


OPERATIONS_ROUTES = (
    _route(
        "GET",
        "/errors",
        get_errors,
        "The error queues, newest first",
        {200: Answer("the errors", ErrorList)},
        query=ErrorsQuery,
    ),
    _route(
        "POST",
        "/errors/reprocess",
        reprocess_errors,
        "Reprocess errors: by id (error_ids) or every open one the filters (category, provider, "
        "since) find; a resolved error is a no-op that says so",
        {
            202: Answer("something was reprocessed", ReprocessAnswer),
            200: Answer("nothing to do, and why", ReprocessAnswer),
        },
        body=ReprocessErrors,
        body_required=False,
    ),
    _route(
        "GET",
        "/alerts",
        get_alerts,
        "Alerts that are Active or In progress (include_resolved for all)",
        {200: Answer("the alerts", AlertList)},
        query=AlertsQuery,
    ),
    _route(
        "POST",
        "/alerts/{alert_id}/take",
        take_alert,
        "An operator takes an Active alert: it becomes In progress",
        {200: Answer("the alert, In progress", AlertChanged), 409: _ERROR},
        path_params=_ALERT_ID,
    ),
    _route(
        "GET",
        "/insights",
        get_insights,
        "KPIs: orders by status/reason, in jeopardy, past due, cycle times, on-time ship ratio, "
        "fill rate, book-to-ship, provider requests/failures/latency/SLA %",
        {200: Answer("the insights", Insights)},
        query=InsightsQuery,
    ),
    _route(
        "GET",
        "/insights/metrics",
        get_insight_metrics,
        "The insights and alert counts in Prometheus' text format",
        {200: Answer("gauges", media="text/plain")},
    ),
    _route(
        "GET", "/pauses", get_pauses, "Paused flows and providers", {200: Answer("the pauses", PauseList)}
    ),
    _route(
        "POST",
        "/pauses",
        pause,
        "Pause a flow (version) or a provider: new requests wait at their step",
        {202: Answer("paused", Paused), 200: Answer("paused already", Message)},
        body=PauseRequest,
    ),
    _route(
        "POST",
        "/pauses/resume",
        resume,
        "Resume a paused target: its held requests go out in the order they queued",
        {202: Answer("resumed", Message), 200: Answer("was not paused", Message)},
        body=PauseTarget,
    ),
    _route(
        "POST",
        "/what-if",
        post_what_if,
        "Replay recorded orders through a draft flow: a diff per order and a summary",
        {
            200: Answer("the report", WhatIfReport),
            422: Answer("the draft is refused, or no orders", ErrorBody),
        },
        body=WhatIfRequest,
    ),
    _route(
        "GET",
        "/what-if",
        get_what_if,
        "The last what-if report this API ran",
        {200: Answer("the report", WhatIfReport), 404: _ERROR},
    ),
)


def add_operations_routes(app: web.Application, operations: OperationsPort | None) -> None:
    app[OPERATIONS] = operations
    app[_LAST_WHAT_IF] = {}
    add_routes(app, *OPERATIONS_ROUTES)
