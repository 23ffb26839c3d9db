"""The platform under test: the real ``sse-platform`` binary with a
self-signed certificate, a fresh PostgreSQL database on ``SSE_TEST_PG``,
and a pool of module keys in its verify_keys.json.

Environment:
  SSE_TEST_PG       libpq key=value string of a role that may CREATE DATABASE
  SSE_PLATFORM_BIN  the server binary (default: target/debug/sse-platform
                    of this repository)
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import queue
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import nacl.encoding
import nacl.signing

from sse_platform_client import ModuleClient, Settings

REPO = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 30.0
ADMIN = ("admin", "admin@example.org", "admin-password-1")
PASSWORD = "password-123"


def platform_bin() -> Path:
    path = Path(os.environ.get("SSE_PLATFORM_BIN") or REPO / "target/debug/sse-platform")
    if not path.is_file():
        raise RuntimeError(f"no server binary at {path}: run `cargo build` or set SSE_PLATFORM_BIN")
    return path


def psql() -> str:
    """psql from PATH, else from the PostgreSQL installation scripts/pg-cluster uses."""
    found = shutil.which("psql") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), None)
    if found is None:
        raise RuntimeError("no psql: install postgresql-client")
    return str(found)


def conninfo() -> Dict[str, str]:
    text = os.environ.get("SSE_TEST_PG", "").strip()
    if not text:
        raise RuntimeError("SSE_TEST_PG is not set: run scripts/test, or source the dev environment")
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


class TestDb:
    """A database ``t_py_<random>`` on the test cluster, made with psql
    (the password goes by environment, not on a command line)."""

    def __init__(self) -> None:
        self.params = conninfo()
        self.name = "t_py_" + secrets.token_hex(6)
        self._psql(f"CREATE DATABASE {self.name}")

    def _psql(self, sql: str) -> None:
        p = self.params
        env = dict(os.environ, PGPASSWORD=p.get("password", ""), PGCONNECT_TIMEOUT="10")
        subprocess.run(
            [psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", p.get("host", "127.0.0.1"),
             "-p", p.get("port", "5432"), "-U", p.get("user", "sse"), "-d", p.get("dbname", "sse"),
             "-c", sql],
            env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=60,
        )

    def config(self) -> Dict[str, Any]:
        p = self.params
        return {"pghost": p.get("host", "127.0.0.1"), "pgport": int(p.get("port", "5432")),
                "pguser": p.get("user", "sse"), "pgpassword": p.get("password", ""),
                "pgdb": self.name}

    def drop(self) -> None:
        try:
            self._psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        except (subprocess.SubprocessError, OSError) as e:
            print(f"warning: cannot drop {self.name}: {e}")


def self_signed(dir: Path) -> None:
    """cert.pem and key.pem for localhost and 127.0.0.1, as scripts/serve
    makes them (a leaf that rustls accepts and Python can trust)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", str(dir / "key.pem"), "-out", str(dir / "cert.pem")],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=60,
    )


class ModuleKey:
    def __init__(self, name: str) -> None:
        self.name = name
        key = nacl.signing.SigningKey.generate()
        self.seed_b64 = base64.b64encode(bytes(key)).decode("ascii")
        self.verify_b64 = key.verify_key.encode(nacl.encoding.Base64Encoder).decode("ascii")


class Platform:
    """One server directory and process; ``restart`` keeps the port."""

    POOL = 48
    _ids = itertools.count(1)

    def __init__(self, base: Path, db: TestDb, extra: Optional[Dict[str, Any]] = None) -> None:
        self.dir = base / f"platform-{next(self._ids)}"
        self.dir.mkdir(parents=True)
        self.db = db
        self_signed(self.dir)
        self.cert = str(self.dir / "cert.pem")
        self._keys = [ModuleKey(f"py{secrets.token_hex(3)}") for _ in range(self.POOL)]
        self._free = list(self._keys)
        (self.dir / "verify_keys.json").write_text(
            json.dumps({k.name: k.verify_b64 for k in self._keys}))
        self.cookie_secret = "py-test-" + secrets.token_hex(16)
        self.config: Dict[str, Any] = {
            "port": 0, "bind": "127.0.0.1", "ssl_cert": "cert.pem", "ssl_key": "key.pem",
            "verify_keys": "verify_keys.json", "cookie_secret": self.cookie_secret,
            "bcrypt_cost": 4, "platform_admin_username": ADMIN[0],
            "platform_admin_email": ADMIN[1], "platform_admin_password": ADMIN[2],
            "worker_threads": 4, "hash_threads": 1, "pg_pool_size": 4,
            "register_max_per_address": 100000,
        }
        self.config.update(db.config())
        self.config.update(extra or {})
        self.port = 0
        self.runs = 0
        self._proc: Optional[subprocess.Popen] = None
        self._log_path = self.dir / "platform.log"
        self._log = open(self._log_path, "ab")

    # -- process ----------------------------------------------------------

    def start(self) -> "Platform":
        (self.dir / "config.json").write_text(json.dumps(self.config, indent=2))
        proc = subprocess.Popen(
            [str(platform_bin()), "-c", "config.json", "--create_admin"], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            env=dict(os.environ, RUST_LOG="info"),
        )
        self._proc = proc
        lines: "queue.Queue[Optional[bytes]]" = queue.Queue()
        threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            first = None
        text = (first or b"").decode("utf-8", "replace").strip()
        prefix = "sse-platform listening on https://127.0.0.1:"
        if not text.startswith(prefix):
            self.stop()
            raise RuntimeError(f"the platform did not start ({text!r}); log:\n{self.log()}")
        self.port = int(text[len(prefix):])
        self.runs += 1
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # The next start listens on the same port, where modules look for it.
        self.config["port"] = self.port
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stops and starts again on the same port (so that a module's
        configured address stays right), with the same database."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    # -- modules ----------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/websocket"

    def new_module(self) -> ModuleKey:
        """A module name and key known to the platform, never used before."""
        return self._free.pop()

    def settings(self, key: Optional[ModuleKey] = None, **kw: Any) -> Settings:
        key = key or self.new_module()
        args: Dict[str, Any] = dict(module=key.name, signing_key=key.seed_b64,
                                    platform_url=self.ws_url, ca_file=self.cert, port=8010,
                                    request_timeout=5.0, start_timeout=15.0,
                                    reconnect_seconds=1.0, environ={})
        args.update(kw)
        return Settings.load(**args)

    async def module(self, key: Optional[ModuleKey] = None, **kw: Any) -> ModuleClient:
        """A started client (closed by the caller)."""
        return await ModuleClient(self.settings(key, **kw)).start()

    # -- HTTP -------------------------------------------------------------

    def http_sync(self, method: str, path: str, params: Optional[Dict[str, Any]] = None,
                  token: Optional[str] = None) -> Tuple[int, Dict[str, str], Any]:
        body = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=body,
                                     method=method)
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        ctx = ssl.create_default_context(cafile=self.cert)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                status, headers, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, dict(e.headers), e.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return status, headers, data

    async def http(self, method: str, path: str, params: Optional[Dict[str, Any]] = None,
                   token: Optional[str] = None) -> Tuple[int, Dict[str, str], Any]:
        return await asyncio.to_thread(self.http_sync, method, path, params, token)

    async def register(self, nickname: Optional[str] = None) -> "User":
        name = nickname or f"user{secrets.token_hex(4)}"
        status, headers, data = await self.http(
            "POST", "/register", {"email": f"{name}@example.org", "nickname": name,
                                  "password": PASSWORD})
        assert status == 200, (status, data)
        return User(name, data["access_token"], headers.get("Set-Cookie", ""))

    async def login(self, nickname: str, password: str = PASSWORD) -> "User":
        status, headers, data = await self.http(
            "POST", "/login", {"nickname": nickname, "password": password})
        assert status == 200, (status, data)
        return User(nickname, data["access_token"], headers.get("Set-Cookie", ""))

    async def admin(self) -> "User":
        return await self.login(ADMIN[0], ADMIN[2])

    async def running(self, token: str) -> Dict[str, Any]:
        status, _, data = await self.http("GET", "/execution/running", token=token)
        assert status == 200, (status, data)
        return data["running_modules"]


class User:
    def __init__(self, name: str, token: str, set_cookie: str) -> None:
        self.name = name
        self.token = token
        self.cookie = set_cookie.split(";", 1)[0]


def _drain(proc: subprocess.Popen, lines: "queue.Queue[Optional[bytes]]") -> None:
    """Hands the first stdout line over and reads the rest, so that the
    server never blocks on a full pipe."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)


async def wait_for(condition, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Polls ``condition()`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(interval)
    return bool(condition())


def cleanup_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__: List[str] = ["Platform", "TestDb", "User", "wait_for", "ADMIN", "PASSWORD"]
