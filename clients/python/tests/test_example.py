"""examples/hello_module.py end to end: the platform's cookie, read with
Tornado's get_secure_cookie, greets the user; a logged-out one is refused."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

from harness import Platform

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello_module.py"


def get(url: str, cookie: Optional[str]) -> Tuple[int, str]:
    req = urllib.request.Request(url)
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_hello_module_greets_the_logged_in_user(platform: Platform, tmp_path: Path):
    key = platform.new_module()
    key_file = tmp_path / "signing_key.key"
    key_file.write_text(key.seed_b64)
    env = dict(os.environ, SSE_MODULE_NAME=key.name, SSE_SIGNING_KEY_FILE=str(key_file),
               SSE_PLATFORM_URL=platform.ws_url, SSE_PLATFORM_CA=platform.cert,
               SSE_COOKIE_SECRET=platform.cookie_secret, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", "0"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    lines: "queue.Queue[bytes]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        url = None
        while url is None:
            line = (await asyncio.to_thread(lines.get, True, 30)).decode()
            if line.startswith("hello_module listening on "):
                url = line.split()[-1]
        user = await platform.register()
        assert user.cookie.startswith("access_token=")
        status, text = await asyncio.to_thread(get, url + "/", user.cookie)
        assert (status, text) == (200, f"Hello, {user.name}!")
        assert (await asyncio.to_thread(get, url + "/", None))[0] == 401
        forged = "access_token=2|1:0|10:1700000000|12:access_token|4:QUFB|" + "0" * 64
        assert (await asyncio.to_thread(get, url + "/", forged))[0] == 401

        await platform.http("POST", "/logout", token=user.token)
        for _ in range(100):
            status, text = await asyncio.to_thread(get, url + "/", user.cookie)
            if status != 200:
                break
            await asyncio.sleep(0.05)
        assert status == 401 and "ended" in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
