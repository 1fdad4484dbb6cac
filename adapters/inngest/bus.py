"""The event bus port implemented with Inngest's HTTP event API."""

import asyncio
import importlib.metadata
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from adapters.event_json import as_encoded
from adapters.inngest import batches, wire
from adapters.inngest.batches import BatchLimits, RequestBody
from adapters.inngest.endpoint import BASE_URL, EVENT_API_BASE_URL, EVENT_KEY, InngestEndpoint
from adapters.inngest.redaction import redact
from adapters.inngest.retry import Clock, RetryBudget, RetryPolicy, parse_retry_after
from application.ports import EncodedEvent
from domain.errors import EventBusUnavailable, EventRejected, PublishFailed, SenderRefused
from domain.event import UserEvent

logger = logging.getLogger(__name__)

SEED_HEADER = "x-inngest-event-id-seed"
_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_LIMITS = BatchLimits()
_SYSTEM_CLOCK = Clock()
_MAX_DETAIL_CHARS = 300
_EVENT_VERDICTS = {400: "invalid event", 413: "event too large", 422: "invalid event"}
"""The answers that judge the events themselves: only these make them ``EventRejected``."""
_KEY_REJECTED = ("event key rejected", f"check {EVENT_KEY}")
_SENDER_REFUSALS = {
    401: _KEY_REJECTED,
    403: _KEY_REJECTED,
    404: ("event API not found", f"check {BASE_URL} or {EVENT_API_BASE_URL}"),
}
"""Other refusals, of eventgate rather than of the events: each status's cause, and what to check."""
_REDIRECTED = ("event API redirects", f"check {BASE_URL} or {EVENT_API_BASE_URL}")
_REFUSED = ("event API refuses eventgate", f"check {EVENT_KEY}, {BASE_URL} and {EVENT_API_BASE_URL}")
_SERVER_FAILING = frozenset({429, 500, 502, 503, 504})
"""What the origin may answer a probe when it cannot take events now; any other answer shows it is up."""


def _is_retryable(status: int) -> bool:
    """Timeouts, rate limits and server errors may pass; other refusals would be repeated."""
    return status in (408, 429) or status >= 500


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why one request failed; ``accepted`` counts its events the server took before failing."""

    reason: str
    retryable: bool
    retry_after: float | None = None
    accepted: int = 0
    refused_sender: str | None = None
    """The cause, when Inngest refuses eventgate itself rather than the events."""


class InngestEventBus:
    """Publishes events to Inngest, retrying what may pass and splitting what is too big for a request.

    A publish is sent as few requests as the limits allow, one after another in order, so that what
    was accepted when one fails is always the events before it. Each request has its own event-id
    seed, reused on its retries. Since every event carries its id before the first attempt and
    Inngest deduplicates by it, a retry never makes an event happen twice.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        endpoint: InngestEndpoint,
        *,
        retry: RetryPolicy = _DEFAULT_RETRY,
        limits: BatchLimits = _DEFAULT_LIMITS,
        clock: Clock = _SYSTEM_CLOCK,
        new_seed: Callable[[float], str] = wire.new_event_id_seed,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._url = httpx.URL(endpoint.url)
        self._retry = retry
        self._limits = limits
        self._clock = clock
        self._new_seed = new_seed
        sdk = f"eventgate:v{importlib.metadata.version('eventgate')}"
        headers = {"content-type": "application/json", "x-inngest-sdk": sdk, "user-agent": sdk}
        if endpoint.env is not None:
            headers["x-inngest-env"] = endpoint.env
        self._headers = httpx.Headers(headers)

    async def probe(self) -> str | None:
        """Ready when the event API's origin answers within two seconds, other than overloaded or failing.

        It sends no event and no key, so it cannot tell a wrong key: only a publish shows that.
        """
        try:
            response = await self._client.get(self._endpoint.base_url, timeout=2.0)
        except httpx.HTTPError as error:
            return f"the Inngest event API is unreachable ({type(error).__name__})"
        if response.status_code in _SERVER_FAILING:
            return f"the Inngest event API answers HTTP {response.status_code}"
        return None

    async def publish(self, events: Sequence[UserEvent]) -> list[str]:
        """Encode the events once and publish them as ``publish_encoded`` does."""
        return await self.publish_encoded([as_encoded(event) for event in events])

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> list[str]:
        """Publish the events and return their ids, in order, once Inngest has acknowledged each.

        Each request's body is the events' bytes joined into a JSON array, as they come.

        Raises ``EventRejected`` (400, 413, 422: the events are at fault), ``SenderRefused`` (any
        other refusal: 401 and 403 for a wrong key, 404 for a wrong address, ...) or
        ``EventBusUnavailable``; their ``accepted_ids`` list the events Inngest accepted before the
        failure, always the first ones given.
        """
        if not events:
            return []
        bodies = batches.split(events, self._limits)
        budget = self._retry.start(self._clock)
        accepted: list[str] = []
        for body in bodies:
            failure = await self._deliver(body, budget)
            if failure is not None:
                accepted.extend(event.id for event in body.events[: failure.accepted])
                raise self._error(failure, accepted, len(events))
            accepted.extend(event.id for event in body.events)
        return accepted

    async def _deliver(self, body: RequestBody, budget: RetryBudget) -> _Failure | None:
        """Send one body until it is accepted, refused for good, or out of attempts or time."""
        headers = self._headers.copy()
        headers[SEED_HEADER] = self._new_seed(self._clock.wall())
        started = self._clock.monotonic()
        attempts = 0
        while True:
            attempts += 1
            failure = await self._attempt(body, headers, budget.remaining())
            if failure is None or not failure.retryable:
                return failure
            delay = budget.delay_before_retry(attempts, failure.retry_after)
            if delay is None:
                return _Failure(
                    f"{failure.reason}; gave up after {attempts} attempt(s) in "
                    f"{self._clock.monotonic() - started:.1f} s",
                    retryable=True,
                    retry_after=failure.retry_after,
                )
            logger.debug(
                "Inngest did not take %d event(s) (attempt %d of %d): %s; retrying in %.2f s",
                len(body.events),
                attempts,
                self._retry.max_attempts,
                failure.reason,
                delay,
            )
            await self._clock.sleep(delay)

    async def _attempt(self, body: RequestBody, headers: httpx.Headers, time_left: float) -> _Failure | None:
        """One request; ``None`` when every event in it was acknowledged."""
        if time_left <= 0:
            return _Failure("no time left before the publish deadline", retryable=True)
        try:
            async with asyncio.timeout(time_left):
                response = await self._client.post(self._url, content=body.content, headers=headers)
        except TimeoutError:
            return _Failure(
                f"no answer from {self._endpoint.redacted_url} before the publish deadline", retryable=True
            )
        except httpx.RequestError as error:
            return _Failure(
                f"could not reach {self._endpoint.redacted_url}: {type(error).__name__}: "
                f"{self._redact(str(error)) or 'no detail'}",
                retryable=True,
            )
        return self._judge(response, len(body.events))

    def _judge(self, response: httpx.Response, event_count: int) -> _Failure | None:
        status = response.status_code
        if 200 <= status < 300:
            try:
                wire.check_acknowledged(wire.decode_response(response.content), event_count)
            except wire.MalformedResponse as problem:
                return _Failure(
                    f"unexpected answer from {self._endpoint.redacted_url} (HTTP {status}): {problem}",
                    retryable=True,
                )
            return None
        try:
            detail: wire.EventApiResponse | None = wire.decode_response(response.content)
        except wire.MalformedResponse:
            detail = None
        said = ""
        if detail is not None and detail.error:
            said = f": {self._redact(detail.error)[:_MAX_DETAIL_CHARS]}"
        if _is_retryable(status):
            return _Failure(
                f"{self._endpoint.redacted_url} answered HTTP {status}{said}",
                retryable=True,
                retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock.wall()),
            )
        answered = f"{self._endpoint.redacted_url} answered HTTP {status}{said}"
        verdict = _EVENT_VERDICTS.get(status)
        if verdict is not None:
            return _Failure(
                f"{verdict} ({answered})",
                retryable=False,
                accepted=wire.accepted_count(detail, event_count)
                if detail is not None and status == 400
                else 0,
            )
        cause, check = _SENDER_REFUSALS.get(status, _REDIRECTED if 300 <= status < 400 else _REFUSED)
        return _Failure(f"{cause} — {check} ({answered})", retryable=False, refused_sender=cause)

    def _redact(self, text: str) -> str:
        return redact(text, self._endpoint.event_key)

    @staticmethod
    def _error(failure: _Failure, accepted: Sequence[str], total: int) -> PublishFailed:
        reason = failure.reason
        if accepted:
            reason = f"{reason}; {len(accepted)} of {total} events were published"
        if failure.refused_sender is not None:
            return SenderRefused(reason, failure.refused_sender, accepted_ids=accepted)
        if failure.retryable:
            return EventBusUnavailable(reason, failure.retry_after, accepted_ids=accepted)
        return EventRejected(reason, accepted_ids=accepted)
