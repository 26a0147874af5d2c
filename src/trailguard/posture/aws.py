"""The boundary between posture and AWS: clients, bounded concurrency, error translation.

Every AWS call of a posture run goes through :meth:`Aws.call` or :meth:`Aws.pages`:

* at most ``concurrency`` calls are in flight at once (one semaphore per run, shared by
  every account, region and bucket);
* throttling is retried by botocore's ``adaptive`` retry mode (exponential backoff with
  jitter, and a client-side rate limiter that slows down after a throttle), up to
  ``max_attempts`` attempts;
* every botocore failure is translated into :class:`AwsApiError`, whose ``kind`` says
  why the call gave no answer (``denied``, ``throttled``, ``not-implemented``,
  ``unreachable``, ``error``).  The snapshot records it, and the checks that need the
  answer report SKIPPED: nothing AWS says stops the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.exceptions
from botocore import xform_name
from botocore.config import Config
from botocore.parsers import ResponseParserError

from trailguard.errors import AwsApiError, AwsErrorKind

ErrorKind = AwsErrorKind

_DENIED: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthFailure",
        "Forbidden",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "OptInRequired",
    }
)
_THROTTLED: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
    }
)
_NOT_IMPLEMENTED: Final = frozenset(
    {
        "NotImplemented",
        "NotImplementedException",
        "InvalidAction",
        "UnknownOperationException",
        "UnsupportedOperation",
        "UnsupportedOperationException",
    }
)

# ResponseParserError is not a BotoCoreError: an endpoint's unreadable answer
_BOTO_ERRORS: Final = (botocore.exceptions.BotoCoreError, ResponseParserError)


def classify(exc: Exception) -> tuple[ErrorKind, str]:
    """Why a botocore call failed, as (kind, reason)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or code)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"{code}: {message}" if code and code != message else message
        if code in _DENIED or status == 403:
            return "denied", reason
        if code in _THROTTLED or status == 429:
            return "throttled", reason
        if code in _NOT_IMPLEMENTED or status == 501:
            return "not-implemented", reason
        return "error", reason
    if isinstance(exc, ResponseParserError):
        # the endpoint answered something that is not this API's response (an HTML error
        # page, for instance): an endpoint that does not implement the operation
        return "not-implemented", "the endpoint's response is not an AWS API response"
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        return "unreachable", str(exc)
    if isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.ProfileNotFound
        | botocore.exceptions.TokenRetrievalError
        | botocore.exceptions.SSOTokenLoadError,
    ):
        return "denied", str(exc)
    return "error", str(exc)


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """How to reach AWS: an optional profile and endpoint, concurrency, retries."""

    profile: str | None = None
    endpoint_url: str | None = None
    concurrency: int = 8
    max_attempts: int = 8
    default_region: str = "us-east-1"


def _drop_account_host_prefix(request: Any, **_: Any) -> None:
    """S3 Control puts the account id in front of the host name; a single custom
    endpoint (an S3-compatible store, a local emulator) has no such host names."""
    parts = urlsplit(request.url)
    head, _sep, rest = parts.netloc.partition(".")
    if head.isdigit() and len(head) == 12 and rest:
        request.url = urlunsplit(parts._replace(netloc=rest))


class Aws:
    """Clients for one account (one boto3 session), sharing one call gate.

    ``clients`` (service, region) -> client are used as given instead of new ones: a
    caller's own client, such as one with a botocore ``Stubber`` in tests.
    """

    def __init__(
        self,
        session: boto3.Session,
        options: AwsOptions,
        gate: threading.BoundedSemaphore | None = None,
        clients: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.gate = gate or threading.BoundedSemaphore(max(1, options.concurrency))
        self._clients: dict[tuple[str, str], Any] = dict(clients or {})
        self._lock = threading.Lock()
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": max(1, options.max_attempts)},
            max_pool_connections=max(10, options.concurrency),
            connect_timeout=10,
            read_timeout=60,
        )

    def client(self, service: str, region: str) -> Any:
        """The (cached, thread-safe) client of ``service`` in ``region``."""
        key = (service, region)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._new_client(service, region)
                self._clients[key] = found
            return found

    def _new_client(self, service: str, region: str) -> Any:
        try:
            client = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self.options.endpoint_url,
                config=self._config,
            )
        except botocore.exceptions.BotoCoreError as exc:
            kind, reason = classify(exc)
            raise AwsApiError(f"{service}:client", kind, reason) from exc
        if service == "s3control" and self.options.endpoint_url:
            client.meta.events.register("before-sign.s3-control.*", _drop_account_host_prefix)
        return client

    def call(
        self,
        service: str,
        region: str,
        operation: str,
        *,
        absent: tuple[str, ...] = (),
        **params: Any,
    ) -> dict[str, Any] | None:
        """One call; ``None`` when AWS answers with one of the ``absent`` error codes
        (the thing asked about is not configured, as in ``NoSuchBucketPolicy``)."""
        api = f"{service}:{operation}"
        client = self.client(service, region)
        method: Callable[..., dict[str, Any]] = getattr(client, xform_name(operation))
        with self.gate:
            try:
                return method(**params)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in absent:
                    return None
                kind, reason = classify(exc)
                raise AwsApiError(api, kind, reason) from exc
            except _BOTO_ERRORS as exc:
                kind, reason = classify(exc)
                raise AwsApiError(api, kind, reason) from exc

    def pages(self, service: str, region: str, operation: str, **params: Any) -> list[Any]:
        """Every page of a paginated call (each page holds the gate while it is fetched)."""
        api = f"{service}:{operation}"
        client = self.client(service, region)
        paginator = client.get_paginator(xform_name(operation))
        pages: list[Any] = []
        iterator: Iterator[Any] = iter(paginator.paginate(**params))
        while True:
            with self.gate:
                try:
                    page = next(iterator)
                except StopIteration:
                    break
                except botocore.exceptions.ClientError as exc:
                    kind, reason = classify(exc)
                    raise AwsApiError(api, kind, reason) from exc
                except _BOTO_ERRORS as exc:
                    kind, reason = classify(exc)
                    raise AwsApiError(api, kind, reason) from exc
            pages.append(page)
        return pages


def new_session(options: AwsOptions) -> boto3.Session:
    """The base session (``--profile``); AwsApiError if the profile does not exist."""
    try:
        return boto3.Session(profile_name=options.profile)
    except botocore.exceptions.BotoCoreError as exc:
        kind, reason = classify(exc)
        raise AwsApiError("session", kind, reason) from exc
