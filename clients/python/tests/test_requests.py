"""Against the real platform: connect, sign, and every request type."""

from __future__ import annotations

import asyncio

import pytest

from harness import Platform, wait_for
from sse_platform_client import ConnectionLost, ModuleClient, RequestTimeout


async def test_connects_signs_and_registers(platform: Platform):
    client = await platform.module(port=8123, module_url="https://lab.example.org/m")
    try:
        assert client.registered and client.registrations == 1
        admin = await platform.admin()
        running = await platform.running(admin.token)
        assert running[client.settings.module] == {"port": 8123, "url": "https://lab.example.org/m"}
        reply = await client.write({"type": "get_running_modules"})
        assert reply["success"] is True
        assert reply["running_modules"][client.settings.module]["port"] == 8123
    finally:
        await client.close()
    assert await wait_for(lambda: client.settings.module not in platform.http_sync(
        "GET", "/execution/running", token=admin.token)[2]["running_modules"])


async def test_user_requests(platform: Platform):
    client = await platform.module()
    try:
        user = await platform.register()
        reply = await client.write({"type": "token_validation", "access_token": user.token})
        assert reply["type"] == "token_validation_response" and reply["success"] is True
        assert reply["user"]["username"] == user.name and reply["user"]["role"] == "guest"
        bad = await client.write({"type": "token_validation", "access_token": "A" * 44})
        assert bad["success"] is False and bad["reason"] == "token_invalid"

        got = await client.write({"type": "get_user", "username": user.name})
        assert got["success"] is True and got["user"]["username"] == user.name
        uid = got["user"]["id"]
        missing = await client.write({"type": "get_user", "username": user.name + "-nobody"})
        assert missing["reason"] == "user_not_found"

        listed = await client.write({"type": "get_user_list"})
        assert listed["users"][user.name]["id"] == uid

        perm = await client.write({"type": "check_permission", "username": user.name})
        assert (perm["success"], perm["role"]) == (True, "guest")

        malformed = await client.write({"type": "get_user"})
        assert malformed["success"] is False and malformed["reason"] == "message_format_error"
        unknown = await client.write({"type": "no_such_request"})
        assert unknown["type"] == "protocol_error"
    finally:
        await client.close()


async def test_validate_token_caches_and_user_logout_reaches_other_modules(platform: Platform):
    a = await platform.module()
    b = await platform.module()
    try:
        user = await platform.register()
        await wait_for(lambda: b.cache.get(user.token) is not None)
        b.cache.clear()
        found = await b.validate_token(user.token)
        assert found is not None and found["username"] == user.name and found["id"] > 0
        assert b.cache.get(user.token) is not None
        assert await b.validate_token("not a token") is None

        assert await wait_for(lambda: a.cache.get(user.token) is not None)
        reply = await a.write({"type": "user_logout", "access_token": user.token})
        assert reply["success"] is True
        assert a.cache.get(user.token) is None, "the module that logged the user out"
        assert await wait_for(lambda: b.cache.get(user.token) is None), "user_logout broadcast"
        assert await b.validate_token(user.token) is None
        status, _, _ = await platform.http("GET", "/me", token=user.token)
        assert status == 401
    finally:
        await a.close()
        await b.close()


async def test_message_module_and_its_response(platform: Platform):
    asker = await platform.module()
    answerer = await platform.module()
    heard = []

    async def on_message(message):
        if message.get("type") == "message_module":
            heard.append(message)
            await answerer.respond(message, {"answer": message["question"] * 2})

    answerer.add_listener(on_message)
    try:
        reply = await asker.write({"type": "message_module", "to": answerer.settings.module,
                                   "question": 21})
        assert reply["type"] == "message_module_response"
        assert reply["answer"] == 42 and reply["origin"] == answerer.settings.module
        assert heard[0]["origin"] == asker.settings.module

        offline = await asker.write({"type": "message_module", "to": "nobody-here"})
        assert offline["success"] is False and offline["reason"] == "module_offline"
    finally:
        await asker.close()
        await answerer.close()


async def test_every_request_times_out(platform: Platform):
    """message_module to a module that never answers gets no reply at all:
    the request fails with RequestTimeout in time, and the client goes on."""
    asker = await platform.module()
    silent = await platform.module()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RequestTimeout):
            await asker.write({"type": "message_module", "to": silent.settings.module}, timeout=0.5)
        assert loop.time() - began < 3
        assert not asker._pending, "the timed-out request is forgotten"
        assert (await asker.write({"type": "get_user_list"}))["success"] is True
    finally:
        await asker.close()
        await silent.close()


async def test_requests_fail_cleanly_when_closed(platform: Platform):
    client = await platform.module()
    silent = await platform.module()
    pending = client.write({"type": "message_module", "to": silent.settings.module}, timeout=30)
    await asyncio.sleep(0.1)
    await client.close()
    await silent.close()
    with pytest.raises(ConnectionLost):
        await pending
    with pytest.raises(ConnectionLost):
        await client.write({"type": "get_user_list"})


async def test_the_singleton_interface(platform: Platform, monkeypatch):
    """A module of the original kind: settings from the environment,
    get_socket_instance() and get_token_cache() singletons."""
    from sse_platform_client import get_socket_instance, get_token_cache
    key = platform.new_module()
    for var, value in {"SSE_MODULE_NAME": key.name, "SSE_SIGNING_KEY": key.seed_b64,
                       "SSE_PLATFORM_URL": platform.ws_url, "SSE_PLATFORM_CA": platform.cert,
                       "SSE_MODULE_PORT": "8044"}.items():
        monkeypatch.setenv(var, value)
    client = await get_socket_instance()
    assert client is await get_socket_instance()
    assert isinstance(client, ModuleClient) and client.cache is get_token_cache()
    user = await platform.register()
    assert await wait_for(lambda: get_token_cache().get(user.token) is not None)
    reply = await client.write({"type": "check_permission", "username": user.name})
    assert reply["role"] == "guest"


@pytest.mark.requests2021
async def test_the_2021_11_requests(platform: Platform):
    """update_token_ttl, post_template (answered, as the original did, with
    type get_template_response) and get_template."""
    client = await platform.module()
    other = await platform.module()
    try:
        user = await platform.register()
        renewed = await client.write({"type": "update_token_ttl", "access_token": user.token})
        assert renewed["type"] == "update_token_ttl_response" and renewed["success"] is True
        bad = await client.write({"type": "update_token_ttl", "access_token": "A" * 44})
        assert bad["success"] is False

        name = f"{client.settings.module}.page.html"
        stored = await client.write({"type": "post_template", "template_name": name,
                                     "template": "<p>{{ name }} \u00e4</p>"})
        assert stored["type"] == "get_template_response" and stored["success"] is True
        got = await other.write({"type": "get_template", "template_name": name})
        assert got["success"] is True and got["template"] == "<p>{{ name }} \u00e4</p>"
        missing = await client.write({"type": "get_template", "template_name": name + ".x"})
        assert (missing["success"], missing["reason"]) == (False, "template_not_found")
        taken = await other.write({"type": "post_template", "template_name": name, "template": "x"})
        assert taken["success"] is False, "a module may overwrite only its own"
        status, _, data = await platform.http("GET", f"/template?template={name}", token=user.token)
        assert status == 200 and data["template"] == "<p>{{ name }} \u00e4</p>"
    finally:
        await client.close()
        await other.close()
