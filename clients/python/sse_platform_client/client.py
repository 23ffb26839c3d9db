"""The requests a module makes, on top of the connection (connection.py):
start and close, ``write`` (a signed request and its reply, with a
timeout), ``send``/``respond`` (no reply), ``validate_token`` (the token
cache, else the hub) and listeners for everything unasked.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Mapping, Optional

from tornado.websocket import WebSocketClientConnection

from .connection import PROTOCOL, HubConnection, Listener
from .errors import ConnectError, ConnectionLost, RequestTimeout

__all__ = ["PROTOCOL", "ModuleClient"]


class ModuleClient(HubConnection):
    """A module's connection to the platform. Use ``get_socket_instance()``
    for the process-wide one, or make one per test."""

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
            self._begin()
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
        if isinstance(message, Mapping) and message.get("type") == "module_start":
            message = self._adopt_start(message)
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

