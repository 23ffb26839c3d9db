"""Keeping the connection to the platform's hub, on Tornado's (asyncio)
event loop.

One background task owns the WebSocket: it connects with the original
client's handshake, sends ``module_start`` (protocol 2) first on every
connection, reads every frame, resolves the pending request whose
``resolve_id`` a frame carries, feeds the token cache and the listeners
with everything else, and reconnects with backoff when the connection
ends. Nothing the platform sends can stop that task: a frame that is not
JSON, not an object, of an unknown type or without ``resolve_id`` is
logged (its type only, never its content) and skipped.

``ModuleClient`` (client.py) adds the requests on top.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Union

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from .errors import ConnectionLost
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


class HubConnection:
    """The connection and its state; see the module doc."""

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
        #: port and url of a module_start the module sent itself.
        self._start_override: Dict[str, Any] = {}
        #: Successful module_start answers so far (one per connection).
        self.registrations = 0
        #: Connections made so far.
        self.connections = 0

    def __repr__(self) -> str:
        return f"ModuleClient(module={self.settings.module!r}, url={self.settings.platform_url!r})"

    def _sign(self, message: Mapping[str, Any], resolve_id: Optional[str]):
        if not isinstance(message, Mapping):
            raise TypeError("a message is a dict with a 'type'")
        if not isinstance(message.get("type"), str):
            raise ValueError("a message needs a 'type' string")
        rid = resolve_id or new_resolve_id()
        return rid, self._signer.envelope(message, rid)

    def _begin(self) -> None:
        """Starts the connection task on the running loop."""
        self._loop = asyncio.get_running_loop()
        # Made here, inside the loop: Python 3.9's Event binds the loop it
        # is made in. _ready: a connection is open and module_start went
        # out first on it; _settled: the first definite answer to
        # module_start, either way.
        self._ready = asyncio.Event()
        self._registered = asyncio.Event()
        self._settled = asyncio.Event()
        self._closing = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    def _put(self, ws: WebSocketClientConnection, text: str) -> None:
        try:
            sent = ws.write_message(text)
        except WebSocketClosedError:
            raise ConnectionLost("the connection to the platform was lost") from None
        # A write that fails later shows as a lost connection (the read
        # loop ends); its own error is consumed here so that asyncio does
        # not log it as never retrieved.
        sent.add_done_callback(_consume)

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
        start.update(self._start_override)
        start["protocol"] = PROTOCOL
        return start

    def _adopt_start(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        """A module_start the module sends itself (the original modules do,
        right after connecting): it keeps protocol 2, whose absence would
        take the connection back to the original level, and its port and
        URL are the ones sent again after a reconnect."""
        start = dict(message)
        start.setdefault("module_name", self.settings.module)
        start.setdefault("protocol", PROTOCOL)
        self._start_override = {k: start[k] for k in ("port", "url") if k in start}
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
