"""Whatever a platform sends, the client keeps working: an in-process
stand-in hub (Tornado, plain ws:// on 127.0.0.1) sends every kind of
malformed, unknown and unasked frame, or never answers."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Callable, Dict, List

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from harness import ModuleKey
from sse_platform_client import ConnectError, ModuleClient, RequestTimeout, Settings

GOOD_LOGIN = {"type": "user_login", "username": "bob", "email": "bob@example.org", "id": 7,
              "role": "guest", "access_token": "T" * 44}

HOSTILE: List[Any] = [
    "not json", "[1, 2]", "null", '"text"', "12", "{}", '{"type": 5}', '{"resolve_id": 5}',
    '{"resolve_id": {"a": 1}}', '{"type": "user_login"}',
    json.dumps(dict(GOOD_LOGIN, id="7")), json.dumps(dict(GOOD_LOGIN, session_expires="x")),
    '{"type": "user_logout"}', '{"type": "user_delete", "userid": "x"}',
    '{"type": "session_ended", "token_sha256": 12}', '{"type": "user_role_change"}',
    '{"type": "signature_verification_error"}', '{"type": "message_format_error"}',
    '{"type": "module_started", "name": "x", "port": 1}',
    '{"type": "something_from_the_future", "resolve_id": "unasked"}',
    "[" * 100000 + "]" * 100000, b"\x00\xffbinary",
    '{"type": "user_login", "username": "\\ud800", "email": null, "id": 1e400, "role": "r", "access_token": "x"}',
]


def opened(text: str) -> Dict[str, Any]:
    envelope = json.loads(text)
    return json.loads(base64.b64decode(envelope["signed_msg"])[64:])


class Hub(tornado.websocket.WebSocketHandler):
    def initialize(self, script: Callable[["Hub", Dict[str, Any]], None], seen: List[str]) -> None:
        self.script = script
        self.seen = seen

    def on_message(self, message):
        inner = opened(message)
        self.seen.append(inner["type"])
        self.script(self, inner)

    def reply(self, inner: Dict[str, Any], **fields: Any) -> None:
        fields.update(type=inner["type"] + "_response", resolve_id=inner["resolve_id"])
        self.write_message(json.dumps(fields))


class StandIn:
    def __init__(self, script) -> None:
        self.seen: List[str] = []
        app = tornado.web.Application([(r"/websocket", Hub, dict(script=script, seen=self.seen))])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = tornado.httpserver.HTTPServer(app)
        self.server.add_sockets(sockets)

    def settings(self, **kw: Any) -> Settings:
        key = ModuleKey("stand-in")
        args = dict(module=key.name, signing_key=key.seed_b64, port=8001,
                    platform_url=f"ws://127.0.0.1:{self.port}/websocket", request_timeout=2.0,
                    start_timeout=10.0, reconnect_seconds=0.5, environ={})
        args.update(kw)
        return Settings.load(**args)

    def stop(self) -> None:
        self.server.stop()


def hostile(hub: Hub, inner: Dict[str, Any]) -> None:
    if inner["type"] == "module_start":
        assert inner["protocol"] == 2 and inner["module_name"] == "stand-in"
        for frame in HOSTILE:
            hub.write_message(frame, binary=isinstance(frame, bytes))
        hub.write_message(json.dumps(GOOD_LOGIN))
        hub.reply(inner, status="recognized", success=True)
    elif inner["type"] == "get_user_list":
        for frame in HOSTILE:
            hub.write_message(frame, binary=isinstance(frame, bytes))
        hub.reply(inner, success=True, users={})


async def test_no_frame_stops_the_client():
    stand_in = StandIn(hostile)
    client = ModuleClient(stand_in.settings())
    heard: List[Dict[str, Any]] = []
    client.add_listener(heard.append)

    def broken(message):
        raise RuntimeError("a module's bug")

    async def broken_async(message):
        raise RuntimeError("a module's async bug")

    client.add_listener(broken)
    client.add_listener(broken_async)
    try:
        await client.start()
        assert client.cache.get(GOOD_LOGIN["access_token"])["username"] == "bob"
        for _ in range(3):
            reply = await client.write({"type": "get_user_list"})
            assert reply["success"] is True
        assert client.connections == 1, "never disconnected"
        kinds = {m.get("type") for m in heard}
        assert {"something_from_the_future", "module_started", "user_login"} <= kinds
    finally:
        await client.close()
        stand_in.stop()


async def test_module_start_without_answer_fails_start_in_time():
    stand_in = StandIn(lambda hub, inner: None)
    client = ModuleClient(stand_in.settings(request_timeout=0.5))
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        with pytest.raises(ConnectError) as e:
            await client.start(timeout=2)
        assert loop.time() - began < 5
        assert "module_start" in str(e.value)
        assert stand_in.seen.count("module_start") >= 2, "asked again on a new connection"
    finally:
        await client.close()
        stand_in.stop()


async def test_refused_module_start_fails_start_at_once():
    def refuse(hub: Hub, inner: Dict[str, Any]) -> None:
        hub.write_message(json.dumps({"type": "signature_verification_error",
                                      "resolve_id": inner["resolve_id"]}))

    stand_in = StandIn(refuse)
    client = ModuleClient(stand_in.settings())
    try:
        with pytest.raises(ConnectError) as e:
            await client.start(timeout=10)
        assert "signature_verification_error" in str(e.value)
    finally:
        await client.close()
        stand_in.stop()


async def test_a_request_without_answer_times_out():
    def only_start(hub: Hub, inner: Dict[str, Any]) -> None:
        if inner["type"] == "module_start":
            hub.reply(inner, status="recognized", success=True)

    stand_in = StandIn(only_start)
    client = await ModuleClient(stand_in.settings()).start()
    try:
        for kind in ("token_validation", "get_user", "get_user_list", "check_permission"):
            with pytest.raises(RequestTimeout):
                await client.write({"type": kind, "access_token": "x", "username": "x"}, timeout=0.3)
        with pytest.raises(RequestTimeout):
            await client.validate_token("T" * 44)
        assert not client._pending, "timed-out requests are forgotten"
        assert client.connections == 1
    finally:
        await client.close()
        stand_in.stop()
