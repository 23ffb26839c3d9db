"""The connection to the platform's hub, on Tornado's (asyncio) event loop.

One background task owns the WebSocket: it connects with the original
client's handshake, sends ``module_start`` (protocol 2) first on every
connection, reads every frame, resolves the pending request whose
``resolve_id`` a frame carries, feeds the token cache and the listeners
with everything else, and reconnects with backoff when the connection
ends. Nothing the platform sends can stop that task: a frame that is not
JSON, not an object, of an unknown type or without ``resolve_id`` is
logged (its type only, never its content) and skipped.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Union

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from .errors import ConnectError, ConnectionLost, RequestTimeout
from .settings import Settings
from .signing import Signer, new_resolve_id
from .token_cache import TokenCache

log = logging.getLogger("sse_platform_client")

#: The protocol level this client speaks (session_ended, session_expires,
#: presence; every unasked message carries a resolve_id).
PROTOCOL = 2
#: First pause before reconnecting; it doubles up to reconnect_seconds.
FIRST_BACKOFF = 0.25
#: Pause before asking module_start again after ``already_running``: the
#: platform may not have noticed yet that our previous connection died.
START_RETRY_SECONDS = 5.0
#: Frames larger than this close the connection (the platform's own limit
#: is far lower; this only bounds memory).
MAX_FRAME_BYTES = 16 * 1024 * 1024

Listener = Callable[[Dict[str, Any]], Union[None, Awaitable[None]]]


class ModuleClient:
    """A module's connection to the platform. Use ``get_socket_instance()``
    for the process-wide one, or make one per test."""

    def __init__(self, settings: Settings, cache: Optional[TokenCache] = None) -> None:
        self.settings = settings
        self.cache = cache if cache is not None else TokenCache()
        self.cache.configure(settings.token_ttl_seconds, settings.revalidate_seconds)
        self._signer = Signer(settings.module, settings.signing_key)
        self._pending: Dict[str, asyncio.Future] = {}
        self._listeners: List[Listener] = []
        self._ws: Optional[WebSocketClientConnection] = None
        self._task: Optional[asyncio.Task] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False
        self._problem = "not connected yet"
        #: Successful module_start answers so far (one per connection).
        self.registrations = 0
        #: Connections made so far.
        self.connections = 0

    def __repr__(self) -> str:
        return f"ModuleClient(module={self.settings.module!r}, url={self.settings.platform_url!r})"

    # -- life cycle -------------------------------------------------------

    async def start(self, timeout: Optional[float] = None) -> "ModuleClient":
        """Starts the connection (once) and waits until the platform has
        accepted ``module_start``; raises ConnectError (and closes) if it
        refuses it (a wrong key or name) or nothing is settled within
        ``timeout`` (default: start_timeout). After a successful start the
        client reconnects by itself, however long the platform is away,
        and start() returns at once."""
        if self._closed:
            raise ConnectError("the client was closed")
        if self.registrations > 0:
            return self
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            # Made here, inside the loop: Python 3.9's Event binds the loop
            # it is made in.
            self._ready = asyncio.Event()
            self._registered = asyncio.Event()
            # Set by the first definite answer to module_start, either way.
            self._settled = asyncio.Event()
            self._closing = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())
        wait = self.settings.start_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._settled.wait(), wait)
        except asyncio.TimeoutError:
            pass
        if not self._registered.is_set():
            problem = self._problem
            await self.close()
            raise ConnectError(
                f"not registered with the platform at {self.settings.platform_url} "
                f"within {wait:g} s: {problem}"
            )
        return self

    @property
    def loop(self) -> Optional[asyncio.AbstractEventLoop]:
        return self._loop

    @property
    def connected(self) -> bool:
        """Whether a connection is open and ``module_start`` was sent on it."""
        return self._task is not None and not self._closed and self._ready.is_set()

    @property
    def registered(self) -> bool:
        """Whether the platform accepted ``module_start`` on this connection."""
        return self._task is not None and self._registered.is_set()

    async def wait_registered(self, timeout: Optional[float] = None) -> None:
        """Waits until the (re)connection is registered; RequestTimeout if not."""
        wait = self.settings.request_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._registered.wait(), wait)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"not registered within {wait:g} s: {self._problem}") from None

    async def close(self) -> None:
        """Closes the connection and stops reconnecting; pending requests
        fail with ConnectionLost."""
        self._closed = True
        if self._task is None:
            return
        self._closing.set()
        # Wakes requests waiting for a connection; they see _closed.
        self._ready.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        task = self._task
        if task is not asyncio.current_task():
            await asyncio.wait([task], timeout=2)
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=2)
        self._fail_pending(ConnectionLost("the client was closed"))

    # -- requests ---------------------------------------------------------

    def write(self, message: Mapping[str, Any], timeout: Optional[float] = None) -> "asyncio.Future[Dict[str, Any]]":
        """Signs and sends ``message`` (its ``type`` and fields) and returns a
        future of the platform's reply, as the original client did::

            reply = await client.write({"type": "get_user", "username": "bob"})

        The future fails with RequestTimeout when no reply comes within
        ``timeout`` (default: request_timeout), counting the wait for a
        connection, and with ConnectionLost when the connection ends first.
        A message that is not JSON-serialisable raises TypeError/ValueError
        here. The caller's dict is not changed."""
        resolve_id, text = self._sign(message, None)
        wait = self.settings.request_timeout if timeout is None else timeout
        if message.get("type") == "user_logout" and isinstance(message.get("access_token"), str):
            # The platform tells every other module; this one knows already.
            self.cache.remove(message["access_token"])
        return asyncio.ensure_future(self._request(str(message.get("type")), resolve_id, text, wait))

    async def send(self, message: Mapping[str, Any], resolve_id: Optional[str] = None,
                   timeout: Optional[float] = None) -> None:
        """Sends ``message`` without waiting for a reply (for messages that
        have none, such as ``message_module_response``); ``resolve_id``
        may reuse the asker's so that it can match the answer."""
        rid, text = self._sign(message, resolve_id)
        wait = self.settings.request_timeout if timeout is None else timeout
        ws = await self._connection(wait, str(message.get("type")))
        self._put(ws, text)

    async def respond(self, request: Mapping[str, Any], message: Mapping[str, Any]) -> None:
        """Answers a forwarded ``message_module`` from another module: sends
        ``message_module_response`` to its origin, with its resolve_id."""
        answer = dict(message)
        answer["type"] = "message_module_response"
        answer["to"] = request.get("origin")
        rid = request.get("resolve_id")
        await self.send(answer, resolve_id=rid if isinstance(rid, str) else None)

    async def validate_token(self, token: str) -> Optional[Dict[str, Any]]:
        """The user behind an access token (from the ``access_token`` cookie):
        from the cache, else by ``token_validation``, whose answer is cached
        until the session's end. None if the platform does not know it."""
        if not isinstance(token, str) or not token:
            return None
        found = self.cache.get(token)
        if found is not None:
            return found
        reply = await self.write({"type": "token_validation", "access_token": token})
        user = reply.get("user")
        if reply.get("success") is not True or not isinstance(user, dict):
            self.cache.remove(token)
            return None
        ends = reply.get("session_expires", user.get("session_expires"))
        entry = {
            "username": user.get("username"),
            "email": user.get("email"),
            "id": user.get("user_id", user.get("id")),
            "role": user.get("role"),
        }
        self.cache.apply(dict(entry, type="user_login", access_token=token, session_expires=ends))
        return self.cache.get(token) or dict(entry, session_expires=ends)

    # -- listeners --------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Calls ``callback(message)`` for every message that is not a reply
        to one of our requests: broadcasts (after the token cache has seen
        them), presence, and messages forwarded from other modules. A
        coroutine function is scheduled as a task. Exceptions are logged."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- internals --------------------------------------------------------

    def _sign(self, message: Mapping[str, Any], resolve_id: Optional[str]):
        if not isinstance(message, Mapping):
            raise TypeError("a message is a dict with a 'type'")
        if not isinstance(message.get("type"), str):
            raise ValueError("a message needs a 'type' string")
        rid = resolve_id or new_resolve_id()
        return rid, self._signer.envelope(message, rid)

    async def _connection(self, wait: float, kind: str) -> WebSocketClientConnection:
        if self._task is None:
            raise ConnectionLost("the client was not started (await start() or get_socket_instance())")
        if self._closed:
            raise ConnectionLost("the client was closed")
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except asyncio.TimeoutError:
            raise RequestTimeout(
                f"'{kind}': no connection to the platform within {wait:g} s: {self._problem}"
            ) from None
        ws = self._ws
        if self._closed:
            raise ConnectionLost("the client was closed")
        if ws is None:
            raise ConnectionLost("the connection to the platform was lost")
        return ws

    def _put(self, ws: WebSocketClientConnection, text: str) -> None:
        try:
            sent = ws.write_message(text)
        except WebSocketClosedError:
            raise ConnectionLost("the connection to the platform was lost") from None
        # A write that fails later shows as a lost connection (the read
        # loop ends); its own error is consumed here so that asyncio does
        # not log it as never retrieved.
        sent.add_done_callback(_consume)

    async def _request(self, kind: str, resolve_id: str, text: str, wait: float) -> Dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        future = loop.create_future()
        try:
            ws = await self._connection(wait, kind)
            self._pending[resolve_id] = future
            self._put(ws, text)
            return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except RequestTimeout:
            # (A TimeoutError too, from _connection: keep its message.)
            raise
        except asyncio.TimeoutError:
            raise RequestTimeout(f"no reply to '{kind}' within {wait:g} s") from None
        finally:
            self._pending.pop(resolve_id, None)

    def _fail_pending(self, error: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        """Connects, serves, and reconnects until closed."""
        backoff = FIRST_BACKOFF
        while not self._closed:
            try:
                ws = await self._connect()
            except Exception as e:  # any failure to connect is retried
                self._problem = f"cannot connect: {type(e).__name__}: {e}"
                log.warning("%s; retrying in %g s", self._problem, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_seconds)
                continue
            backoff = FIRST_BACKOFF
            if self._closed:
                ws.close()
                return
            try:
                await self._serve(ws)
            except Exception:  # a bug here must not end the module's connection for good
                log.exception("the connection to the platform failed")
            finally:
                self._ws = None
                self._ready.clear()
                self._registered.clear()
                self._fail_pending(ConnectionLost("the connection to the platform was lost"))
                ws.close()
            if not self._closed:
                # Keep a more telling reason (a refused module_start, say).
                self._problem = self._problem or "the connection to the platform was lost"
                log.warning("%s; reconnecting in %g s", self._problem, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_seconds)

    async def _connect(self) -> WebSocketClientConnection:
        s = self.settings
        # The original client's handshake: a GET whose body names the module
        # (the platform only logs it; identity comes from the signatures).
        request = HTTPRequest(
            s.platform_url,
            body=json.dumps({"type": "module_socket_connect", "module": s.module}),
            allow_nonstandard_methods=True,
            validate_cert=True,
            ca_certs=s.ca_file,
            connect_timeout=s.request_timeout,
            request_timeout=s.request_timeout,
        )
        connecting = websocket_connect(
            request,
            ping_interval=s.ping_interval,
            ping_timeout=3 * s.ping_interval,
            max_message_size=MAX_FRAME_BYTES,
        )
        return await asyncio.wait_for(connecting, s.request_timeout + 1)

    async def _serve(self, ws: WebSocketClientConnection) -> None:
        self.connections += 1
        # Broadcasts may have been missed while we were away, and a token
        # cached from them could have ended meanwhile: start afresh.
        self.cache.clear()
        self._ws = ws
        self._problem = "module_start not answered yet"
        registering = asyncio.ensure_future(self._register(ws))
        try:
            while True:
                text = await ws.read_message()
                if text is None:
                    return
                self._on_frame(text)
        finally:
            registering.cancel()

    def _start_message(self) -> Dict[str, Any]:
        s = self.settings
        start: Dict[str, Any] = {"type": "module_start", "module_name": s.module, "port": s.port}
        if s.module_url:
            start["url"] = s.module_url
        start["protocol"] = PROTOCOL
        return start

    async def _register(self, ws: WebSocketClientConnection) -> None:
        """Sends module_start first on the connection (only then may other
        requests go out), and again after ``already_running``."""
        loop = asyncio.get_running_loop()
        while ws is self._ws and not self._closed:
            rid, text = self._sign(self._start_message(), None)
            future = loop.create_future()
            self._pending[rid] = future
            try:
                self._put(ws, text)
                self._ready.set()
                reply = await asyncio.wait_for(future, self.settings.request_timeout)
            except asyncio.TimeoutError:
                self._problem = "no answer to module_start"
                log.warning("%s; reconnecting", self._problem)
                ws.close()
                return
            except ConnectionLost:
                return
            finally:
                self._pending.pop(rid, None)
            if reply.get("success") is True:
                self.registrations += 1
                self._problem = ""
                self._registered.set()
                self._settled.set()
                log.info("registered with the platform as '%s'", self.settings.module)
                return
            reason = reply.get("reason") or reply.get("type")
            self._problem = f"module_start refused: {reason}"
            log.warning("%s", self._problem)
            if reason != "already_running":
                # A wrong key or name: start() gives up; a client that was
                # registered before keeps trying (the platform closes such a
                # connection itself), in case the keys are fixed.
                self._settled.set()
                return
            await self._pause(START_RETRY_SECONDS)

    def _on_frame(self, text: Union[str, bytes]) -> None:
        """One frame from the platform; never raises."""
        if not isinstance(text, str):
            log.warning("ignored a binary frame from the platform")
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            log.warning("ignored a frame that is not JSON")
            return
        if not isinstance(message, dict):
            log.warning("ignored a frame that is not a JSON object")
            return
        rid = message.get("resolve_id")
        future = self._pending.pop(rid, None) if isinstance(rid, str) else None
        if future is not None:
            if not future.done():
                future.set_result(message)
            return
        kind = message.get("type")
        if kind == "signature_verification_error":
            log.warning("the platform could not verify one of our signatures")
        try:
            self.cache.apply(message)
        except Exception:
            log.exception("token cache update failed for a '%s' message", kind)
        for listener in list(self._listeners):
            self._call(listener, message)

    def _call(self, listener: Listener, message: Dict[str, Any]) -> None:
        try:
            result = listener(dict(message))
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                task.add_done_callback(_log_failure)
        except Exception:
            log.exception("a listener failed on a '%s' message", message.get("type"))


def _consume(future: "asyncio.Future[Any]") -> None:
    if not future.cancelled():
        future.exception()


def _log_failure(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a listener failed", exc_info=task.exception())
