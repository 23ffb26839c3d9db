"""Where a module's name, key, addresses and limits come from: arguments
first, then environment variables, then files. Nothing is a placeholder in
the source: a module that is missing one is told which argument or
variable to set.

| variable                 | default                          | meaning |
|--------------------------|----------------------------------|---------|
| SSE_MODULE_NAME          | (required)                       | the module's name in the platform's verify_keys.json |
| SSE_SIGNING_KEY          | -                                | the content of signing_key.key (base64 of the seed) |
| SSE_SIGNING_KEY_FILE     | signing_key.key (if it exists)   | a file holding it |
| SSE_PLATFORM_URL         | wss://localhost:8888/websocket   | the platform's hub |
| SSE_PLATFORM_CA          | the system's roots               | a PEM file to trust instead (a self-signed platform) |
| SSE_MODULE_PORT          | (required)                       | the module's own port, announced in module_start |
| SSE_MODULE_URL           | -                                | a full URL for the platform's pages to link to |
| SSE_REQUEST_TIMEOUT      | 10                               | seconds to wait for any reply |
| SSE_START_TIMEOUT        | 60                               | seconds get_socket_instance() waits to be registered |
| SSE_RECONNECT_SECONDS    | 20                               | longest pause between reconnection attempts |
| SSE_TOKEN_TTL_SECONDS    | 3600                             | a cached token unused this long is dropped (the platform's token_ttl_seconds) |
| SSE_REVALIDATE_SECONDS   | 300                              | a cached token is asked about again after this long |
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Optional, Union

from .errors import ConfigError
from .signing import decode_seed

DEFAULT_PLATFORM_URL = "wss://localhost:8888/websocket"
DEFAULT_KEY_FILE = "signing_key.key"


@dataclasses.dataclass(frozen=True)
class Settings:
    module: str
    signing_key: str = dataclasses.field(repr=False)
    port: int
    platform_url: str = DEFAULT_PLATFORM_URL
    module_url: Optional[str] = None
    ca_file: Optional[str] = None
    request_timeout: float = 10.0
    start_timeout: float = 60.0
    reconnect_seconds: float = 20.0
    token_ttl_seconds: float = 3600.0
    revalidate_seconds: float = 300.0
    #: The platform pings every 30 s; the client pings too, so that a
    #: platform that vanished without closing is noticed.
    ping_interval: float = 20.0

    @classmethod
    def load(
        cls,
        module: Optional[str] = None,
        signing_key: Optional[str] = None,
        signing_key_file: Union[str, Path, None] = None,
        port: Optional[int] = None,
        platform_url: Optional[str] = None,
        module_url: Optional[str] = None,
        ca_file: Union[str, Path, None] = None,
        request_timeout: Optional[float] = None,
        start_timeout: Optional[float] = None,
        reconnect_seconds: Optional[float] = None,
        token_ttl_seconds: Optional[float] = None,
        revalidate_seconds: Optional[float] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> "Settings":
        """Settings from the arguments given, the rest from ``environ``
        (default ``os.environ``) and files."""
        env = os.environ if environ is None else environ
        name = _text(module, env, "SSE_MODULE_NAME")
        if not name:
            raise ConfigError("no module name: pass module= or set SSE_MODULE_NAME")
        key = _signing_key(signing_key, signing_key_file, env)
        url = _text(platform_url, env, "SSE_PLATFORM_URL") or DEFAULT_PLATFORM_URL
        if not url.startswith(("wss://", "ws://")):
            raise ConfigError(f"SSE_PLATFORM_URL / platform_url must be ws:// or wss://, not {url!r}")
        link = _text(module_url, env, "SSE_MODULE_URL")
        if link and not link.startswith(("https://", "http://")):
            raise ConfigError("SSE_MODULE_URL / module_url must start with http:// or https://")
        ca = _text(None if ca_file is None else str(ca_file), env, "SSE_PLATFORM_CA")
        if ca and not Path(ca).is_file():
            raise ConfigError(f"SSE_PLATFORM_CA / ca_file: no file {ca}")
        return cls(
            module=name,
            signing_key=key,
            port=_port(port, env),
            platform_url=url,
            module_url=link or None,
            ca_file=ca or None,
            request_timeout=_seconds(request_timeout, env, "SSE_REQUEST_TIMEOUT", 10.0),
            start_timeout=_seconds(start_timeout, env, "SSE_START_TIMEOUT", 60.0),
            reconnect_seconds=_seconds(reconnect_seconds, env, "SSE_RECONNECT_SECONDS", 20.0),
            token_ttl_seconds=_seconds(token_ttl_seconds, env, "SSE_TOKEN_TTL_SECONDS", 3600.0),
            revalidate_seconds=_seconds(
                revalidate_seconds, env, "SSE_REVALIDATE_SECONDS", 300.0
            ),
        )


def _text(given: Optional[str], env: Mapping[str, str], var: str) -> str:
    if given is not None:
        return str(given).strip()
    return env.get(var, "").strip()


def _signing_key(
    given: Optional[str], file: Union[str, Path, None], env: Mapping[str, str]
) -> str:
    """The key from the argument, SSE_SIGNING_KEY, the file argument,
    SSE_SIGNING_KEY_FILE, or ./signing_key.key, in that order."""
    text = given if given is not None else env.get("SSE_SIGNING_KEY") or None
    where = "signing_key" if given is not None else "SSE_SIGNING_KEY"
    if text is None:
        path = file if file is not None else env.get("SSE_SIGNING_KEY_FILE") or None
        if path is None and Path(DEFAULT_KEY_FILE).is_file():
            path = DEFAULT_KEY_FILE
        if path is None:
            raise ConfigError(
                "no signing key: pass signing_key= or signing_key_file=, set "
                "SSE_SIGNING_KEY or SSE_SIGNING_KEY_FILE, or put signing_key.key "
                "in the working directory"
            )
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the signing key file {path}: {e}") from None
        where = str(path)
    try:
        decode_seed(text)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return text.strip()


def _port(given: Optional[int], env: Mapping[str, str]) -> int:
    raw = given if given is not None else env.get("SSE_MODULE_PORT")
    if raw is None or str(raw).strip() == "":
        raise ConfigError("no module port: pass port= or set SSE_MODULE_PORT")
    try:
        port = int(str(raw).strip())
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(f"SSE_MODULE_PORT / port must be 1-65535, not {raw!r}")
    return port


def _seconds(given: Optional[float], env: Mapping[str, str], var: str, default: float) -> float:
    raw = given if given is not None else env.get(var)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = -1.0
    # NaN fails both comparisons, so it is refused as well.
    if not (0 < value <= 365 * 86400):
        raise ConfigError(f"{var} must be a positive number of seconds, not {raw!r}")
    return value
