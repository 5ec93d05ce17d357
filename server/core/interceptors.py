"""Server interceptors: access logging, domain-error mapping and authentication.

Each wraps the method handler's behaviour rather than acting in intercept_service, so that it
runs inside the handler's own task: the authenticated user (a ContextVar) is visible to the
servicer, and every error the servicer raises passes through the error mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from server.core import errors
from server.core.methods import changes_data
from server.core.security import Principal

log = logging.getLogger("coderai.rpc")

_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)

# The servicer context of every call; request and response types vary by method. The grpc
# classes are generic only in their type stubs.
if TYPE_CHECKING:
    RpcContext: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    RpcContext = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler
UnaryBehaviour = Callable[[Any, RpcContext], Awaitable[Any]]
StreamBehaviour = Callable[[Any, RpcContext], AsyncIterator[Any]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]


def current_principal() -> Principal:
    """The caller, set by the authentication interceptor."""
    principal = _current_principal.get()
    if principal is None:
        raise errors.Unauthenticated("authentication required")
    return principal


def current_user_id() -> uuid.UUID:
    """The caller's user id, set by the authentication interceptor."""
    return current_principal().user_id


class BehaviourInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler's behaviour; subclasses implement `around`."""

    async def intercept_service(  # type: ignore[override]
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:  # None: no such method, as grpc's own continuation answers
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, cast(UnaryBehaviour, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, cast(UnaryBehaviour, handler.stream_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, cast(StreamBehaviour, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, cast(StreamBehaviour, handler.stream_stream)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap_unary(self, method: str, behaviour: UnaryBehaviour) -> UnaryBehaviour:
        async def wrapped(request: Any, context: RpcContext) -> Any:
            async def call() -> Any:
                return await behaviour(request, context)

            return await self.around(method, context, call)

        return wrapped

    def _wrap_stream(self, method: str, behaviour: StreamBehaviour) -> StreamBehaviour:
        async def wrapped(request: Any, context: RpcContext) -> AsyncIterator[Any]:
            def open_stream() -> AsyncIterator[Any]:
                return behaviour(request, context)

            async for response in self.around_stream(method, context, open_stream):
                yield response

        return wrapped

    async def around(
        self, method: str, context: RpcContext, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        return await call()

    async def around_stream(
        self, method: str, context: RpcContext, open_stream: Callable[[], AsyncIterator[Any]]
    ) -> AsyncIterator[Any]:
        """A response stream from its opening to its end. By default `around` covers the
        opening (where authentication happens) and `on_stream_error` what fails later."""
        responses: list[AsyncIterator[Any]] = []

        async def start() -> None:
            responses.append(open_stream())

        await self.around(method, context, start)
        try:
            async for response in responses[0]:
                yield response
        except Exception as error:  # noqa: BLE001 - handed to the same mapping as unary calls
            await self.on_stream_error(method, context, error)

    async def on_stream_error(self, method: str, context: RpcContext, error: Exception) -> None:
        raise error


class AccessLogInterceptor(BehaviourInterceptor):
    """One line per call once it has ended, with its status and duration: a response stream's
    run from its opening to its last message, or to the error or cancellation that ended it."""

    async def around(
        self, method: str, context: RpcContext, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        with _logged(method, context):
            return await call()

    async def around_stream(
        self, method: str, context: RpcContext, open_stream: Callable[[], AsyncIterator[Any]]
    ) -> AsyncIterator[Any]:
        with _logged(method, context):
            async for response in open_stream():
                yield response


@contextlib.contextmanager
def _logged(method: str, context: RpcContext) -> Iterator[None]:
    started = time.perf_counter()
    # Read while the call is live: a response stream can be finalised after its call (and
    # even its server) is gone, and asking the core for the peer then crashes the process.
    peer = context.peer()
    ended_by: BaseException | None = None
    try:
        yield
    except BaseException as error:
        ended_by = error
        raise
    finally:
        log.info(
            "rpc %s %s %.1fms peer=%s",
            method,
            _status_name(context, ended_by),
            (time.perf_counter() - started) * 1000,
            peer,
        )


def _status_name(context: RpcContext, ended_by: BaseException | None) -> str:
    """The status the call ended with: the one set on the context (an abort sets it), else
    what grpc answers for how the behaviour ended."""
    code = context.code()
    if not code:
        if ended_by is None:
            code = grpc.StatusCode.OK
        elif isinstance(ended_by, asyncio.CancelledError | GeneratorExit):
            # The client went away (or the server is stopping) before the call ended.
            code = grpc.StatusCode.CANCELLED
        else:
            code = grpc.StatusCode.UNKNOWN
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


_STATUS_OF: dict[type[errors.DomainError], tuple[grpc.StatusCode, int]] = {
    errors.InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    errors.NotFound: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    errors.AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    errors.FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    errors.Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    errors.PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
    errors.ResourceExhausted: (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
    errors.Unavailable: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    errors.DeadlineExceeded: (grpc.StatusCode.DEADLINE_EXCEEDED, code_pb2.DEADLINE_EXCEEDED),
}


def status_for(error: errors.DomainError) -> grpc.Status:
    """The gRPC status (with google.rpc details) that a domain error answers with."""
    code = _STATUS_OF.get(type(error))
    if code is None:
        code = next(
            (c for cls, c in _STATUS_OF.items() if isinstance(error, cls)),
            (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
        )
    status = status_pb2.Status(code=code[1], message=error.message)
    if isinstance(error, errors.InvalidArgument) and error.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
        status.details.append(detail)
    if isinstance(error, errors.ResourceExhausted) and error.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromTimedelta(timedelta(seconds=max(error.retry_after_seconds, 0.0)))
        detail = any_pb2.Any()
        detail.Pack(retry)
        status.details.append(detail)
    return rpc_status.to_status(status)


class ErrorMappingInterceptor(BehaviourInterceptor):
    """Domain exceptions become their status codes; an unexpected one is logged as a bug."""

    async def around(
        self, method: str, context: RpcContext, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        try:
            return await call()
        except Exception as error:  # noqa: BLE001 - every failure is mapped and recorded below
            await self.on_stream_error(method, context, error)

    async def on_stream_error(self, method: str, context: RpcContext, error: Exception) -> None:
        if isinstance(error, errors.DomainError):
            # grpc.aio's context has abort_with_status; grpc-stubs only know the sync one's.
            await context.abort_with_status(status_for(error))  # type: ignore[attr-defined]
        if isinstance(error, OperationalError | InterfaceError) or (
            isinstance(error, DBAPIError) and error.connection_invalidated
        ):
            log.warning("database unavailable during %s: %s", method, error)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable; retry later")
        if isinstance(error, grpc.aio.AbortError | grpc.RpcError):
            raise error
        log.exception("unhandled error in %s", method, exc_info=error)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


class Authenticator(Protocol):
    """Resolves a bearer credential (access token or API key) to a live principal."""

    async def authenticate(self, credential: str) -> Principal: ...


class AuthenticationInterceptor(BehaviourInterceptor):
    """Requires `authorization: Bearer <access token or API key>` on every method but the
    public ones, resolved to a live principal by the authenticator; refuses a read-only API
    key any method that changes data."""

    def __init__(self, authenticator: Authenticator, public_methods: frozenset[str]) -> None:
        self._authenticator = authenticator
        self._public_methods = public_methods

    async def around(
        self, method: str, context: RpcContext, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        if method in self._public_methods or _is_infrastructure(method):
            return await call()
        principal = await self._authenticator.authenticate(_bearer_token(context))
        if principal.read_only and changes_data(method):
            raise errors.PermissionDenied("this API key is read-only")
        # grpc.aio runs each call in its own task with its own context, so the value set here
        # is seen by this call alone, streamed responses included, and needs no reset.
        _current_principal.set(principal)
        return await call()


def _is_infrastructure(method: str) -> bool:
    return method.startswith(("/grpc.health.v1.", "/grpc.reflection."))


def _bearer_token(context: RpcContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise errors.Unauthenticated("missing bearer token in the authorization metadata")
