"""The token cache fed by the platform's broadcasts, through every action
that sends one, and protocol 2's session_ended and session_expires."""

from __future__ import annotations

import time
from typing import Any, Dict, List

import pytest

from harness import PASSWORD, Platform, wait_for
from sse_platform_client import ModuleClient, token_sha256


def recorder(client: ModuleClient) -> List[Dict[str, Any]]:
    heard: List[Dict[str, Any]] = []
    client.add_listener(heard.append)
    return heard


def of_type(heard: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [m for m in heard if m.get("type") == kind]


async def test_login_and_logout_feed_the_cache(platform: Platform):
    client = await platform.module()
    try:
        user = await platform.register()
        assert await wait_for(lambda: client.cache.get(user.token) is not None), "user_login"
        entry = client.cache.get(user.token)
        assert (entry["username"], entry["role"]) == (user.name, "guest")
        second = await platform.login(user.name)
        assert await wait_for(lambda: client.cache.get(second.token) is not None)
        status, _, _ = await platform.http("POST", "/logout", token=user.token)
        assert status == 200
        assert await wait_for(lambda: client.cache.get(user.token) is None), "user_logout"
        assert client.cache.get(second.token) is not None, "the other session stays"
    finally:
        await client.close()


async def test_role_change_password_change_and_deletion(platform: Platform):
    client = await platform.module()
    heard = recorder(client)
    try:
        admin = await platform.admin()
        user = await platform.register()
        assert await wait_for(lambda: client.cache.get(user.token) is not None)
        status, _, _ = await platform.http("POST", "/roles", {"user_name": user.name, "role": "teacher"},
                                           token=admin.token)
        assert status == 200
        assert await wait_for(lambda: (client.cache.get(user.token) or {}).get("role") == "teacher")

        other = await platform.login(user.name)
        assert await wait_for(lambda: client.cache.get(other.token) is not None)
        status, _, _ = await platform.http("POST", "/password/change",
                                           {"old_password": PASSWORD, "new_password": PASSWORD + "x"},
                                           token=user.token)
        assert status == 200
        assert await wait_for(lambda: client.cache.get(user.token) is None
                              and client.cache.get(other.token) is None), "every session of the user"

        again = await platform.login(user.name, PASSWORD + "x")
        assert await wait_for(lambda: client.cache.get(again.token) is not None)
        status, _, _ = await platform.http("DELETE", "/delete_account", {"password": PASSWORD + "x"},
                                           token=again.token)
        assert status == 204
        assert await wait_for(lambda: client.cache.get(again.token) is None), "user_delete"
        # The client lived through all of it and still answers.
        assert (await client.write({"type": "get_user_list"}))["success"] is True
        assert client.connections == 1
        assert of_type(heard, "user_delete")
    finally:
        await client.close()


def ended_hashes(heard: List[Dict[str, Any]]) -> set:
    return {m.get("token_sha256") for m in of_type(heard, "session_ended")}


@pytest.mark.protocol2
async def test_session_ended_for_every_end_of_a_session(platform: Platform):
    """Logout, a module's user_logout, a password change (every session of
    the user) and a deletion each send session_ended with the token's
    SHA-256, and the cache drops the token."""
    client = await platform.module()
    other = await platform.module()
    heard = recorder(client)
    try:
        user = await platform.register()
        await platform.http("POST", "/logout", token=user.token)
        assert await wait_for(lambda: token_sha256(user.token) in ended_hashes(heard)), "logout"
        ended = [m for m in of_type(heard, "session_ended")
                 if m["token_sha256"] == token_sha256(user.token)][0]
        assert isinstance(ended.get("reason"), str) and isinstance(ended.get("userid"), int)
        assert isinstance(ended.get("resolve_id"), str)

        by_module = await platform.login(user.name)
        await other.write({"type": "user_logout", "access_token": by_module.token})
        assert await wait_for(lambda: token_sha256(by_module.token) in ended_hashes(heard)), "module"

        a = await platform.login(user.name)
        b = await platform.login(user.name)
        await platform.http("POST", "/password/change",
                            {"old_password": PASSWORD, "new_password": PASSWORD + "y"}, token=a.token)
        both = {token_sha256(a.token), token_sha256(b.token)}
        assert await wait_for(lambda: both <= ended_hashes(heard)), "password change"

        last = await platform.login(user.name, PASSWORD + "y")
        client.cache.clear()
        assert await client.validate_token(last.token) is not None
        await platform.http("DELETE", "/delete_account", {"password": PASSWORD + "y"}, token=last.token)
        assert await wait_for(lambda: token_sha256(last.token) in ended_hashes(heard)), "deletion"
        assert client.cache.get(last.token) is None
    finally:
        await client.close()
        await other.close()


@pytest.mark.protocol2
async def test_session_expires_caps_every_cached_token(make_platform):
    """With a 3 s session cap the cache gives the token out until the
    session's end and never after, though it is used all the time."""
    platform = make_platform({"token_ttl_seconds": 2, "session_max_seconds": 3})
    client = await platform.module()
    heard = recorder(client)
    try:
        user = await platform.register()
        assert await wait_for(lambda: of_type(heard, "user_login"))
        ends = of_type(heard, "user_login")[0].get("session_expires")
        assert isinstance(ends, int) and 0 < ends - time.time() <= 4
        assert client.cache.get(user.token)["session_expires"] == ends
        reply = await client.write({"type": "token_validation", "access_token": user.token})
        assert reply.get("session_expires", reply["user"].get("session_expires")) == ends
        client.cache.clear()
        assert (await client.validate_token(user.token))["session_expires"] == ends
        while time.time() < ends - 0.3:
            assert client.cache.get(user.token) is not None
            await platform.http("GET", "/me", token=user.token)  # keeps it alive on the platform
        assert await wait_for(lambda: client.cache.get(user.token) is None, timeout=2)
    finally:
        await client.close()


@pytest.mark.protocol2
async def test_presence_and_every_unasked_message_has_a_resolve_id(platform: Platform):
    watcher = await platform.module()
    heard = recorder(watcher)
    try:
        other = await platform.module(port=8099)
        name = other.settings.module
        started = lambda: [m for m in of_type(heard, "module_started") if m.get("name") == name]
        assert await wait_for(lambda: started()), "module_started"
        assert started()[0]["port"] == 8099
        user = await platform.register()
        await platform.http("POST", "/logout", token=user.token)
        await other.close()
        stopped = lambda: [m for m in of_type(heard, "module_stopped") if m.get("name") == name]
        assert await wait_for(lambda: stopped()), "module_stopped"
        assert await wait_for(lambda: of_type(heard, "session_ended"))
        assert all(isinstance(m.get("resolve_id"), str) for m in heard), heard
    finally:
        await watcher.close()
