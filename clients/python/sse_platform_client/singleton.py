"""The original interface: one client per process, made on first use.

    from sse_platform_client import get_socket_instance, get_token_cache

    client = await get_socket_instance()          # settings from the environment
    reply = await client.write({"type": "get_user_list"})
    user = get_token_cache().get(token)

A module written for the original ``socket_client.py`` and
``token_cache_client.py`` switches by changing those two imports.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from .client import ModuleClient
from .errors import ClientError
from .settings import Settings
from .token_cache import get_token_cache

_the_client: Optional[ModuleClient] = None


async def get_socket_instance(**settings: Any) -> ModuleClient:
    """The process's client, connected and registered. The first call makes
    it from ``settings`` (the keyword arguments of ``Settings.load``; the
    rest from the environment) and waits until the platform accepted its
    ``module_start`` (ConnectError after start_timeout); later calls return
    the same client and ignore their arguments. The client feeds
    ``get_token_cache()``."""
    global _the_client
    client = _the_client
    if client is not None and client.loop is not None and client.loop is not _running_loop():
        # Made on an event loop that is gone (asyncio.run called again).
        client = None
    if client is None:
        client = ModuleClient(Settings.load(**settings), cache=get_token_cache())
        _the_client = client
    try:
        await client.start()
    except ClientError:
        if _the_client is client:
            _the_client = None
        raise
    return client


async def close_socket_instance() -> None:
    """Closes the process's client (at shutdown, or between tests); the next
    ``get_socket_instance()`` makes a new one."""
    global _the_client
    client, _the_client = _the_client, None
    if client is not None:
        await client.close()


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
