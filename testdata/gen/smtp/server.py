#!/usr/bin/env python3
"""Test SMTP server for wiresift capture generation (used by testdata/gen/smtp.sh).

A real aiosmtpd (PyPI) server with a few test-only additions:

* advertises PIPELINING, CHUNKING and ENHANCEDSTATUSCODES in its EHLO reply
  (aiosmtpd reads commands line by line, so pipelined commands just work);
* implements BDAT (RFC 3030) on top of aiosmtpd, which has no BDAT of its own;
* rejects RCPT to any address whose local part starts with "nobody" or
  "reject" with 550 5.1.1;
* AUTH PLAIN / LOGIN with a single valid account: alice / Sm7p-s3cret!
  (offered without TLS so the exchange is visible in the capture);
* --mode starttls offers STARTTLS (cert/key passed on the command line);
* --mode reject554: greets with 554, answers 503 to everything but QUIT;
* --mode reject421: greets with 421 and closes the connection.

Nothing is stored: messages are counted and dropped.  The server runs until
SIGTERM/SIGINT and prints "READY <host> <port>" once it listens.
"""

import argparse
import asyncio
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOSTNAME = "mx.wiresift.test"
VALID_USER = b"alice"
VALID_PASSWORD = b"Sm7p-s3cret!"


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # responses ends with "250 HELP"; insert our extensions before it.
        last = responses.pop()
        responses += ["250-PIPELINING", "250-CHUNKING", "250-ENHANCEDSTATUSCODES", last]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("nobody") or local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        size = len(envelope.original_content or b"")
        return f"250 2.0.0 Ok: {size} bytes queued as WS{self.count:06d}"

    async def handle_RSET(self, server, session, envelope):
        return "250 2.0.0 Ok"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        ok = auth_data.login == VALID_USER and auth_data.password == VALID_PASSWORD
        return AuthResult(success=ok, handled=False)
    return AuthResult(success=False, handled=False)


class WsSMTP(SMTP):
    mode = "normal"

    async def _handle_client(self):
        if self.mode == "reject421":
            await self.push(f"421 4.3.2 {HOSTNAME} Service not available, closing transmission channel")
            self.transport.close()
            return
        if self.mode == "reject554":
            await self.push(f"554 5.3.2 {HOSTNAME} No SMTP service here")
            while self.transport is not None:
                try:
                    line = await self._reader.readuntil()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                verb = line.strip().split(b" ", 1)[0].upper()
                if verb == b"QUIT":
                    await self.push("221 2.0.0 Bye")
                    self.transport.close()
                    return
                await self.push("503 5.5.1 Error: no valid session")
            return
        await super()._handle_client()

    async def smtp_BDAT(self, arg):
        """RFC 3030 BDAT <size> [LAST]: the chunk is read whatever the reply."""
        if await self.check_helo_needed():
            return
        parts = (arg or "").split()
        if (not parts or not parts[0].isdigit() or len(parts) > 2
                or (len(parts) == 2 and parts[1].upper() != "LAST")):
            await self.push("501 5.5.4 Syntax: BDAT chunk-size [LAST]")
            return
        size = int(parts[0])
        last = len(parts) == 2
        chunk = await self._reader.readexactly(size) if size else b""
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        buf = getattr(self.envelope, "ws_bdat", None)
        if buf is None:
            buf = bytearray()
            self.envelope.ws_bdat = buf
        buf += chunk
        if not last:
            await self.push(f"250 2.0.0 {size} octets received")
            return
        self.envelope.original_content = bytes(buf)
        self.envelope.content = bytes(buf)
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--mode", default="normal",
                    choices=["normal", "starttls", "reject554", "reject421"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    tls_context = None
    if args.mode == "starttls":
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    handler = Handler()

    def factory():
        s = WsSMTP(
            handler,
            hostname=HOSTNAME,
            ident="ESMTP wiresift-test (aiosmtpd)",
            tls_context=tls_context,
            require_starttls=False,
            auth_require_tls=False,
            authenticator=authenticator,
            enable_SMTPUTF8=True,
            decode_data=False,
        )
        s.mode = args.mode
        return s

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port, reuse_address=True))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {args.host} {args.port}", flush=True)
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    print(f"STOPPED after {handler.count} message(s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
