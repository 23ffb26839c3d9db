"""A complete module: it serves its own small page, joins the platform over
the signed WebSocket, and greets the logged-in user by name.

Browsers send the platform's ``access_token`` cookie to every port of the
same host; Tornado checks its signature with the platform's shared
``cookie_secret`` (``get_secure_cookie``), and the platform says whose
token it is (from the client's cache, else ``token_validation``).

    sse-platform keygen --name hello --out .     # add the printed line to
                                                 # the platform's verify_keys.json
    export SSE_MODULE_NAME=hello SSE_SIGNING_KEY_FILE=signing_key.key \\
           SSE_PLATFORM_URL=wss://localhost:8888/websocket SSE_PLATFORM_CA=cert.pem \\
           SSE_COOKIE_SECRET="<the platform's cookie_secret>"
    python hello_module.py --port 8010

It prints ``hello_module listening on http://127.0.0.1:PORT`` when it is
registered with the platform. Every option can also come from the
environment (see ``python hello_module.py --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web

from sse_platform_client import ClientError, get_socket_instance


class Hello(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        raw = self.get_secure_cookie("access_token")
        token = raw.decode("ascii", "replace") if raw else None
        if not token:
            self.set_status(401)
            self.finish("Please log in at the platform first.")
            return
        try:
            client = await get_socket_instance()
            user = await client.validate_token(token)
        except ClientError as e:
            self.set_status(503)
            self.finish(f"The platform cannot be reached: {e}")
            return
        if user is None:
            self.set_status(401)
            self.finish("Your session has ended; please log in again.")
            return
        self.finish(f"Hello, {user['username']}!")


def parse_args(argv: list) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="Greets the user logged in at the SSE platform.")
    p.add_argument("--platform", default=env("SSE_PLATFORM_URL"), help="the hub, wss://host:8888/websocket (SSE_PLATFORM_URL)")
    p.add_argument("--name", default=env("SSE_MODULE_NAME", "hello"), help="module name (SSE_MODULE_NAME, default hello)")
    p.add_argument("--key", default=env("SSE_SIGNING_KEY_FILE"), help="signing_key.key (SSE_SIGNING_KEY_FILE)")
    p.add_argument("--ca", default=env("SSE_PLATFORM_CA"), help="PEM certificate to trust (SSE_PLATFORM_CA)")
    p.add_argument("--cookie-secret", default=env("SSE_COOKIE_SECRET"), help="the platform's cookie_secret (SSE_COOKIE_SECRET; prefer the variable: arguments are visible to other users)")
    p.add_argument("--host", default=env("HELLO_HOST", "127.0.0.1"), help="address to serve on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(env("HELLO_PORT", "0")), help="port to serve on (0: any free one)")
    args = p.parse_args(argv)
    if not args.cookie_secret:
        p.error("no cookie secret: set SSE_COOKIE_SECRET (or --cookie-secret)")
    return args


async def main(argv: list) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    app = tornado.web.Application([(r"/", Hello)], cookie_secret=args.cookie_secret)
    sockets = tornado.netutil.bind_sockets(args.port, args.host)
    port = sockets[0].getsockname()[1]
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    try:
        await get_socket_instance(module=args.name, signing_key_file=args.key,
                                  platform_url=args.platform, ca_file=args.ca, port=port)
    except ClientError as e:
        print(f"hello_module: {e}", file=sys.stderr)
        return 1
    print(f"hello_module listening on http://{args.host}:{port}", flush=True)
    await asyncio.Event().wait()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(130)
