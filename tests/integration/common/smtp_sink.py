#!/usr/bin/env python3
"""A real SMTP server for the tests, built on aiosmtpd (an independent SMTP
implementation, so the platform's mails are checked by something other than
our own code).

Usage: smtp_sink.py PORT [--starttls CERT KEY] [--auth USER PASSWORD]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints "PORT <n>". Then
prints one JSON line per mail it accepts: the envelope, the headers the tests
look at, and the text/plain and text/html parts decoded by Python's email
package. With --starttls it offers and requires STARTTLS; with --auth it
requires AUTH (PLAIN or LOGIN) with that user and password. Exits when its
standard input closes, so it never outlives the test that started it.
"""

import asyncio
import email
import email.policy
import json
import logging
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd logs a warning about its own deprecated attribute on every AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html") and kind not in parts:
                parts[kind] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "date": str(msg["Date"]),
            "content_type": msg.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        print(json.dumps(record), flush=True)
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok)

    return check


def options(args):
    kw = {"hostname": "sink.test"}
    i = 0
    while i < len(args):
        if args[i] == "--starttls":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args[i + 1], args[i + 2])
            kw.update(tls_context=context, require_starttls=True)
            i += 3
        elif args[i] == "--auth":
            kw.update(
                authenticator=authenticator(args[i + 1], args[i + 2]),
                auth_required=True,
            )
            i += 3
        else:
            sys.exit(f"unknown argument {args[i]}")
    return kw


async def main():
    port = int(sys.argv[1])
    kw = options(sys.argv[2:])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), **kw), "127.0.0.1", port)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
