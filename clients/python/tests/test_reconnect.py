"""Reconnection: after a platform restart the client connects again,
sends module_start again, drops its cache, and hears broadcasts again."""

from __future__ import annotations

import asyncio

import pytest

from harness import wait_for
from sse_platform_client import RequestTimeout


async def test_restart_resends_module_start(make_platform):
    platform = make_platform()
    client = await platform.module(port=8077)
    try:
        before = await platform.register()
        assert await wait_for(lambda: client.cache.get(before.token) is not None)
        await asyncio.to_thread(platform.restart)
        assert await wait_for(lambda: client.registrations == 2, timeout=20), client._problem
        assert client.connections == 2
        admin = await platform.admin()
        assert (await platform.running(admin.token))[client.settings.module]["port"] == 8077
        # Logins and logouts may have been missed while away: nothing cached
        # from before is trusted, but the platform still knows the session.
        assert client.cache.get(before.token) is None
        assert (await client.validate_token(before.token))["username"] == before.name
        after = await platform.register()
        assert await wait_for(lambda: client.cache.get(after.token) is not None), "broadcasts again"
    finally:
        await client.close()


async def test_requests_while_the_platform_is_down(make_platform):
    platform = make_platform()
    client = await platform.module()
    try:
        await asyncio.to_thread(platform.stop)
        assert await wait_for(lambda: not client.connected)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RequestTimeout):
            await client.write({"type": "get_user_list"}, timeout=0.5)
        assert loop.time() - began < 3
        # A request made while away goes out once the platform is back.
        later = client.write({"type": "get_user_list"}, timeout=20)
        await asyncio.to_thread(platform.start)
        assert (await later)["success"] is True
        assert client.registrations == 2
    finally:
        await client.close()


async def test_a_second_connection_of_the_same_module_waits_its_turn(platform):
    """already_running while the first holds the name: start() keeps asking
    (every 5 s) and succeeds once the first is gone."""
    key = platform.new_module()
    first = await platform.module(key)
    second_start = asyncio.ensure_future(platform.module(key))
    await asyncio.sleep(1)
    assert not second_start.done()
    await first.close()
    second = await asyncio.wait_for(second_start, 15)
    try:
        assert second.registered
    finally:
        await second.close()


async def test_a_module_start_of_the_module_itself_is_kept(make_platform):
    """Original modules send module_start themselves after connecting: its
    port is the one announced again after a reconnect."""
    platform = make_platform()
    client = await platform.module(port=8077)
    try:
        reply = await client.write({"type": "module_start", "module_name": client.settings.module,
                                    "port": 8078})
        assert reply["success"] is True
        admin = await platform.admin()
        assert (await platform.running(admin.token))[client.settings.module]["port"] == 8078
        await asyncio.to_thread(platform.restart)
        assert await wait_for(lambda: client.registrations == 2, timeout=20), client._problem
        admin = await platform.admin()
        assert (await platform.running(admin.token))[client.settings.module]["port"] == 8078
    finally:
        await client.close()


@pytest.mark.protocol2
async def test_a_module_start_of_the_module_itself_keeps_protocol_2(platform):
    client = await platform.module()
    try:
        reply = await client.write({"type": "module_start", "module_name": client.settings.module,
                                    "port": 8079})
        assert reply["success"] is True and reply.get("protocol") == 2
    finally:
        await client.close()
