"""The one HTTP client every connector calls its provider with.

Provider APIs throttle (BigCommerce 150 per 30 s, Flexe 100 per 60 s, F&O's priority
throttling), fail for a while (5xx) and time out. A call here gets a per-try timeout,
retries 5xx, timeouts and connection errors with exponential backoff and full jitter
(unless the call is a write the provider could not recognise when sent again: ``once``),
waits as long as a 429 asks (``Retry-After``, or BigCommerce's
``X-Rate-Limit-Time-Reset-Ms``), never retries any other 4xx, and never waits past the
action's deadline. What finally fails raises :class:`ProviderHttpError`, whose message is
the action's failure detail, e.g. ``HTTP 503 after 4 tries: POST /data/$batch: ...``; the
flow then retries or holds the order as configured.

Credentials travel in headers only; no header, query string or body is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout, CookieJar
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from streams.shell.metrics import ProviderCallOutcome, observe_provider_call

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call. ``tries`` counts the first attempt."""

    tries: int = 4
    timeout: float = 10.0
    """Seconds for one try (connect, send, read)."""
    backoff: float = 0.5
    """Full jitter: a retry waits uniform(0, min(max_backoff, backoff * 2**(n-1)))."""
    max_backoff: float = 8.0
    max_throttle_wait: float = 60.0
    """A 429 asking for a longer wait fails at once: the flow's own retry is better."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    method: str
    path: str

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ProviderHttpError(
                self.method, self.path, self.status, 1, f"unreadable JSON answer ({exc})"
            ) from exc

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ProviderHttpError(Exception):
    """A call that failed for good; ``str()`` is the failure detail an action reports."""

    def __init__(self, method: str, path: str, status: int | None, tries: int, detail: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.tries = tries
        self.detail = detail
        what = f"HTTP {status}" if status is not None else "no answer"
        plural = "try" if tries == 1 else "tries"
        super().__init__(f"{what} after {tries} {plural}: {method} {path}: {detail}")


class Auth(Protocol):
    """Credentials for a provider, renewable once when the provider refuses them."""

    async def headers(self) -> Mapping[str, str]: ...

    async def renew(self, reply: Reply) -> bool:
        """Called on a 401 or 403; True to send the request again with fresh credentials."""
        ...


class StaticAuth:
    """Headers that never change (an API token, Basic credentials)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def renew(self, reply: Reply) -> bool:
        return False


def error_detail(body: bytes, limit: int = 300) -> str:
    """The provider's own words from an error body, in any of the vendors' error shapes
    (OData v4 and SAP Gateway ``error``, BigCommerce V2 arrays and V3 ``title``, Flexe)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return _clip(" ".join(text.split()), limit) or "(empty body)"
    found = _message(data)
    return _clip(found if found else " ".join(text.split()), limit)


def _message(data: Any) -> str:
    if isinstance(data, list) and data:
        return "; ".join(m for m in (_message(item) for item in data) if m)
    if not isinstance(data, dict):
        return str(data) if data not in (None, "") else ""
    error = data.get("error")
    if isinstance(error, dict):
        inner = error.get("innererror")
        inner_message = inner.get("message") if isinstance(inner, dict) else None
        message = error.get("message")
        if isinstance(message, dict):  # SAP Gateway: {"lang", "value"}
            message = message.get("value")
        if isinstance(inner_message, str) and inner_message and inner_message != message:
            return f"{message}: {inner_message}" if message else inner_message
        return str(message or error.get("code") or "")
    if data.get("field") and data.get("message"):  # one field's error, e.g. Flexe's
        return f"{data['field']}: {data['message']}"
    parts = [str(data[k]) for k in ("message", "title", "error_description") if data.get(k)]
    if isinstance(error, str) and not parts:
        parts.append(error)
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        parts.append(", ".join(f"{k}: {v}" for k, v in errors.items()))
    elif isinstance(errors, list) and errors:
        parts.append(", ".join(_message(e) for e in errors))
    return ": ".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def throttle_wait(
    headers: Mapping[str, str], now: datetime | None = None, *, quota_reset: bool = True
) -> float | None:
    """Seconds an answer asks us to wait: ``Retry-After`` (seconds or an HTTP date), else
    (``quota_reset``, for a 429) BigCommerce's ``X-Rate-Limit-Time-Reset-Ms``, which every
    BigCommerce answer carries; None when it does not say."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                current = now or datetime.now(UTC)
                return max(0.0, (when - current).total_seconds())
    reset_ms = lowered.get("x-rate-limit-time-reset-ms") if quota_reset else None
    if reset_ms:
        try:
            return max(0.0, float(reset_ms) / 1000)
        except ValueError:
            return None
    return None


@dataclass
class ProviderHttp:
    """One provider's API: a base URL, credentials, a retry policy and one session."""

    base_url: str
    name: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    auth: Auth | None = None
    unsafe_cookies: bool = False
    """Keep cookies from IP hosts such as 127.0.0.1 (SAP's CSRF session cookie)."""
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _session: ClientSession | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession(cookie_jar=CookieJar(unsafe=self.unsafe_cookies))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        deadline: float | None = None,
        use_auth: bool = True,
        once: bool = False,
    ) -> Reply:
        """Send until a 2xx (or a status in ``accept``) comes back; raise otherwise.

        ``deadline`` is a ``clock()`` value: no try starts, and no wait ends, after it.
        ``once``: a write the provider cannot recognise when it comes again (no
        idempotency key) is not sent again after a try that may have reached it (a
        timeout, a lost connection, a 5xx); only a 429 is waited out and tried again.
        """
        label = URL(self.url(path)).path
        tries = 0
        renewed = False
        while True:
            tries += 1
            budget = self.policy.timeout
            if deadline is not None:
                left = deadline - self.clock()
                if left <= 0:
                    raise ProviderHttpError(method, label, None, tries - 1, "the action's deadline passed")
                budget = min(budget, left)
            status: int | None = None
            wait: float | None = None
            try:
                last = tries >= self.policy.tries
                sent = (method, path, params, json_body, data, headers, budget, use_auth)
                reply = await self._attempt(last, accept, *sent)
            except (ClientError, TimeoutError) as exc:
                detail = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            else:
                if reply.ok or reply.status in accept:
                    return reply
                status = reply.status
                detail = error_detail(reply.body)
                if reply.status in (401, 403) and use_auth and self.auth is not None and not renewed:
                    renewed = True
                    if await self.auth.renew(reply):
                        tries -= 1  # the same try, with fresh credentials
                        continue
                if reply.status == 429:
                    wait = throttle_wait(reply.headers)
                    if wait is not None and wait > self.policy.max_throttle_wait:
                        raise ProviderHttpError(
                            method, label, status, tries, f"{detail} (asked to wait {wait:.0f}s)"
                        )
                elif reply.status < 500:
                    raise ProviderHttpError(method, label, status, tries, detail)
                elif reply.status == 503:
                    wait = throttle_wait(reply.headers, quota_reset=False)
            if tries >= self.policy.tries or (once and status != 429):
                raise ProviderHttpError(method, label, status, tries, detail)
            if wait is None:
                ceiling = min(self.policy.max_backoff, self.policy.backoff * 2 ** (tries - 1))
                wait = self.rng.uniform(0, ceiling)
            if deadline is not None and self.clock() + wait >= deadline:
                raise ProviderHttpError(
                    method, label, status, tries, f"{detail} (no time left to retry before the deadline)"
                )
            log.warning(
                "%s: %s %s -> %s; try %d of %d again in %.2fs",
                self.name,
                method,
                label,
                status if status is not None else detail,
                tries + 1,
                self.policy.tries,
                wait,
            )
            await self.sleep(wait)

    async def _attempt(self, last_try: bool, accept: Collection[int], *sent: Any) -> Reply:
        """One try (``_send``), counted in ``oms_provider_call_seconds`` and ``oms_provider_calls_total``."""
        began = time.monotonic()
        try:
            reply = await self._send(*sent)
        except (ClientError, TimeoutError):
            observe_provider_call(self.name, None, time.monotonic() - began, _outcome(None, False, last_try))
            raise
        ok = reply.ok or reply.status in accept
        observe_provider_call(
            self.name, reply.status, time.monotonic() - began, _outcome(reply.status, ok, last_try)
        )
        return reply

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        budget: float,
        use_auth: bool,
    ) -> Reply:
        sent: CIMultiDict[str] = CIMultiDict({"Accept": "application/json"})
        if use_auth and self.auth is not None:
            sent.update(await self.auth.headers())
        if headers:
            sent.update(headers)
        body = data
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method,
            self.url(path),
            params=params,
            data=body,
            headers=sent,
            timeout=ClientTimeout(total=budget),
        ) as response:
            content = await response.read()
            return Reply(response.status, response.headers, content, method, response.url.path)


def _outcome(status: int | None, ok: bool, last_try: bool) -> ProviderCallOutcome:
    """How one try counts (``status`` None: no answer): a 4xx other than 429 (and 401/403,
    renewed once) is not tried again."""
    if ok:
        return ProviderCallOutcome.OK
    if status is not None and status < 500 and status not in (401, 403, 429):
        return ProviderCallOutcome.REFUSED
    return ProviderCallOutcome.FAILED if last_try else ProviderCallOutcome.RETRIED
