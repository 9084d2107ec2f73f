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
* --extra-auth also offers CRAM-MD5 (same password) and XOAUTH2 (user alice,
  bearer token Sm7p-oauth-t0ken; a failure gets the 334 JSON error challenge);
* --mode starttls offers STARTTLS (cert/key passed on the command line);
* --mode reject554: greets with 554, answers 503 to everything but QUIT;
* --mode reject421: greets with 421 and closes the connection.

Nothing is stored: messages are counted and dropped.  The server runs until
SIGTERM/SIGINT and prints "READY <host> <port>" once it listens.
"""

import argparse
import asyncio
import hmac
import signal
import ssl
import sys
from base64 import b64decode

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

HOSTNAME = "mx.wiresift.test"
VALID_USER = b"alice"
VALID_PASSWORD = b"Sm7p-s3cret!"
VALID_TOKEN = b"Sm7p-oauth-t0ken"
EXTRA_MECHANISMS = ["CRAM-MD5", "XOAUTH2"]


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

    async def auth_CRAM__MD5(self, _, args):
        """RFC 2195: 334 base64(challenge); client answers base64("user hexdigest")."""
        if len(args) > 1:
            await self.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        self.ws_cram_n = getattr(self, "ws_cram_n", 0) + 1
        challenge = f"<{4242 + self.ws_cram_n}.1763800000@{HOSTNAME}>".encode()
        resp = await self.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = resp.partition(b" ")
        expected = hmac.new(VALID_PASSWORD, challenge, "md5").hexdigest().encode()
        ok = user == VALID_USER and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user, b""))

    async def auth_XOAUTH2(self, _, args):
        """Google's XOAUTH2: base64("user=U\x01auth=Bearer T\x01\x01")."""
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = b64decode(args[1], validate=True)
            except Exception:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = dict(f.split(b"=", 1) for f in blob.split(b"\x01") if b"=" in f)
        user = fields.get(b"user", b"")
        if user == VALID_USER and fields.get(b"auth", b"") == b"Bearer " + VALID_TOKEN:
            return AuthResult(success=True, auth_data=LoginPassword(user, b""))
        # failure: a 334 JSON error challenge, the client answers with an empty line
        await self.challenge_auth(
            b'{"status":"401","schemes":"bearer","scope":"https://mail.wiresift.test/"}')
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")

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
    ap.add_argument("--extra-auth", action="store_true")
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
            auth_exclude_mechanism=[] if args.extra_auth else EXTRA_MECHANISMS,
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
