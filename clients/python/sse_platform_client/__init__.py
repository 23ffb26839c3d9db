"""Client for modules of the SSE platform.

It keeps a module's signed WebSocket to the platform's hub, matches
replies to requests by ``resolve_id``, keeps a cache of users' tokens fed
by the platform's broadcasts, speaks protocol 2, and reconnects (sending
``module_start`` again) after every disconnect. See README.md beside this
package.
"""

from .client import PROTOCOL, ModuleClient
from .errors import ClientError, ConfigError, ConnectError, ConnectionLost, RequestTimeout
from .settings import Settings
from .signing import Signer, new_resolve_id
from .singleton import close_socket_instance, get_socket_instance
from .token_cache import TokenCache, get_token_cache, token_sha256

__all__ = [
    "PROTOCOL",
    "ClientError",
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "ModuleClient",
    "RequestTimeout",
    "Settings",
    "Signer",
    "TokenCache",
    "close_socket_instance",
    "get_socket_instance",
    "get_token_cache",
    "new_resolve_id",
    "token_sha256",
]
