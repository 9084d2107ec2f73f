#!/usr/bin/env python3
"""SMTP test clients for wiresift capture generation (used by testdata/gen/smtp.sh).

Usage: client.py SCENARIO HOST PORT [extra...]

Scenarios built on Python's smtplib: multircpt, dotstuff, starttls, nonstd,
auth-plain-smtplib, auth-login-smtplib, xoauth2, xoauth2-bad, utf8, reject421,
lossy.
Scenarios built on a raw socket (exact bytes, exact segmenting): pipelining,
bdat, auth-plain-334, auth-login-cancel, auth-other-raw, reject554.

Every socket has a timeout, so no scenario can hang.
"""

import random
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage

TIMEOUT = 20
PASSWORD = "Sm7p-s3cret!"
BAD_PASSWORD = "Sm7p-b4dpass!"


# ----------------------------------------------------------------- raw client
class Raw:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb")

    def send(self, data):
        """One sendall = one TCP segment on loopback for anything < MSS."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        time.sleep(0.02)

    def reply(self):
        lines = []
        while True:
            line = self.rf.readline()
            if not line:
                raise EOFError("server closed")
            lines.append(line.decode().rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        print("<- " + " | ".join(lines), flush=True)
        return int(lines[-1][:3]), lines

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        print("-> " + line, flush=True)
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        self.rf.close()
        self.sock.close()


def body_lines(subject, frm, to, text, msgid):
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Sun, 22 Nov 2026 07:00:00 +0000\r\n"
            f"Message-ID: <{msgid}@wiresift.test>\r\n\r\n{text}")


def pipelining(host, port):
    # Connection 1: EHLO shows PIPELINING; MAIL/RCPT/RCPT/DATA in one segment.
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    print("-> [pipelined] MAIL RCPT RCPT DATA")
    c.send("MAIL FROM:<alice@example.test>\r\n"
           "RCPT TO:<bob@example.test>\r\n"
           "RCPT TO:<carol@example.test>\r\n"
           "DATA\r\n")
    c.replies(4)
    c.send(body_lines("pipelined one", "alice@example.test", "bob@example.test",
                      "First pipelined message.\r\n", "pipe1") + "\r\n.\r\n")
    c.reply()
    # Second transaction, pipelined, with one rejected recipient in the middle.
    print("-> [pipelined] MAIL RCPT(rejected) RCPT DATA")
    c.send("MAIL FROM:<alice@example.test> SIZE=200\r\n"
           "RCPT TO:<nobody@example.test>\r\n"
           "RCPT TO:<dave@example.test>\r\n"
           "DATA\r\n")
    c.replies(4)
    c.send(body_lines("pipelined two", "alice@example.test", "dave@example.test",
                      "Second pipelined message.\r\n", "pipe2") + "\r\n.\r\n")
    c.reply()
    # Housekeeping commands, one at a time.
    c.cmd("RSET")
    c.cmd("NOOP")
    c.cmd("VRFY bob@example.test")
    c.cmd("HELP")
    c.cmd("HELP MAIL")
    c.cmd("EXPN staff")
    c.cmd("XWSUNKNOWN foo")
    c.cmd("QUIT")
    c.close()

    # Connection 2: lower-case verbs, pipelined, and RSET/NOOP/VRFY/HELP/QUIT
    # all in one segment.
    c = Raw(host, port)
    c.reply()
    c.cmd("ehlo client.wiresift.test")
    print("-> [pipelined] mail rcpt data (lower case)")
    c.send("mail from:<alice@example.test>\r\nrcpt to:<erin@example.test>\r\ndata\r\n")
    c.replies(3)
    c.send(body_lines("lower case verbs", "alice@example.test", "erin@example.test",
                      "Verbs in lower case.\r\n", "pipe3") + "\r\n.\r\n")
    c.reply()
    print("-> [pipelined] rset noop vrfy help quit")
    c.send("rset\r\nNoOp\r\nvrfy erin@example.test\r\nhelp\r\nquit\r\n")
    c.replies(5)
    c.close()

    # Connection 3: HELO (no extensions advertised) and the client pipelines
    # anyway; the server still answers in order.
    c = Raw(host, port)
    c.reply()
    c.cmd("HELO client.wiresift.test")
    print("-> [pipelined without PIPELINING] MAIL RCPT DATA")
    c.send("MAIL FROM:<alice@example.test>\r\nRCPT TO:<frank@example.test>\r\nDATA\r\n")
    c.replies(3)
    c.send(body_lines("after HELO", "alice@example.test", "frank@example.test",
                      "Pipelined after HELO.\r\n", "pipe4") + "\r\n.\r\n")
    c.reply()
    print("-> [pipelined] NOOP QUIT")
    c.send("NOOP\r\nQUIT\r\n")
    c.replies(2)
    c.close()


def bdat(host, port):
    bdat_polite(host, port)
    bdat_packed(host, port)


def bdat_polite(host, port):
    """Connection 1: every BDAT line in its own segment, chunk in the next
    segment(s), each command waits for its reply."""
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<bob@example.test>")
    part1 = body_lines("bdat polite", "alice@example.test", "bob@example.test",
                       "First chunk, sent apart from its BDAT line.\r\n", "bdat0").encode()
    part2 = b"Second and last chunk.\r\n..a line with two dots, never unstuffed in BDAT\r\n"
    print(f"-> BDAT {len(part1)} / chunk")
    c.send(f"BDAT {len(part1)}\r\n")
    c.send(part1)
    c.reply()
    print(f"-> BDAT {len(part2)} LAST / chunk")
    c.send(f"BDAT {len(part2)} LAST\r\n")
    c.send(part2)
    c.reply()
    # Second mail: one chunk, then BDAT 0 LAST.
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<carol@example.test>")
    part = body_lines("bdat polite zero last", "alice@example.test", "carol@example.test",
                      "Only chunk; BDAT 0 LAST follows.\r\n", "bdat0b").encode()
    print(f"-> BDAT {len(part)} / chunk")
    c.send(f"BDAT {len(part)}\r\n")
    c.send(part)
    c.reply()
    c.cmd("BDAT 0 LAST")
    c.cmd("QUIT")
    c.close()


def bdat_packed(host, port):
    """Connection 2: BDAT line and chunk in one segment (as real MTAs write
    them), pipelined BDAT, chunk boundaries inside lines, BDAT 0 LAST,
    bare LFs, and a BDAT outside a transaction."""
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")

    # Mail 1: two chunks, each command waits for its reply.
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<bob@example.test>")
    part1 = body_lines("bdat one", "alice@example.test", "bob@example.test",
                       "First chunk of the body.\r\n", "bdat1").encode()
    part2 = (b"Second chunk. The next line starts with a dot and must NOT be unstuffed:\r\n"
             b"..two dots stay two dots in BDAT\r\n"
             b".\r\n"
             b"The line above is a lone dot, which does not end a BDAT body.\r\n")
    print(f"-> BDAT {len(part1)}")
    c.send(f"BDAT {len(part1)}\r\n".encode() + part1)
    c.reply()
    print(f"-> BDAT {len(part2)} LAST")
    c.send(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
    c.reply()

    # Mail 2: fully pipelined: MAIL, RCPT, BDAT n, chunk, BDAT m LAST, chunk
    # in a single segment.  The chunks contain text that looks like commands.
    part1 = body_lines("bdat pipelined", "alice@example.test", "carol@example.test",
                       "MAIL FROM:<not-a-command@example.test>\r\n", "bdat2").encode()
    part2 = b"RCPT TO:<also-not-a-command@example.test>\r\nQUIT\r\n250 not a reply\r\n"
    print("-> [pipelined] MAIL RCPT BDAT BDAT-LAST")
    c.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<carol@example.test>\r\n"
           + f"BDAT {len(part1)}\r\n".encode() + part1
           + f"BDAT {len(part2)} LAST\r\n".encode() + part2)
    c.replies(4)

    # Mail 3: chunks split in the middle of a line, a chunk sent in three
    # separate segments, then BDAT 0 LAST.
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<dave@example.test>")
    text = body_lines("bdat zero last", "alice@example.test", "dave@example.test",
                      "", "bdat3").encode()
    rnd = random.Random(4)
    text += b"".join(b"line %04d %s\r\n" % (i, bytes(rnd.choice(b"abcdefghij") for _ in range(60)))
                     for i in range(300))
    a, b = text[:1000], text[1000:]  # split mid-line
    print(f"-> BDAT {len(a)} (split mid-line)")
    c.send(f"BDAT {len(a)}\r\n".encode() + a)
    c.reply()
    print(f"-> BDAT {len(b)} in three segments")
    c.send(f"BDAT {len(b)}\r\n".encode())
    third = len(b) // 3
    c.send(b[:third])
    c.send(b[third:2 * third])
    c.send(b[2 * third:])
    c.reply()
    c.cmd("BDAT 0 LAST")

    # Mail 4: a chunk that has no trailing CRLF and bare LFs, then RSET.
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<erin@example.test>")
    odd = b"Subject: bare LF\n\nbare\nline feeds\nand no final CRLF"
    print(f"-> BDAT {len(odd)} LAST")
    c.send(f"BDAT {len(odd)} LAST\r\n".encode() + odd)
    c.reply()

    # Error: BDAT without a transaction (chunk is still consumed), then QUIT.
    c.cmd("RSET")
    print("-> BDAT 10 LAST (no MAIL)")
    c.send(b"BDAT 10 LAST\r\n0123456789")
    c.reply()
    c.cmd("QUIT")
    c.close()


def auth_plain_334(host, port):
    """AUTH PLAIN without an initial response: 334 then the blob on its own line."""
    import base64
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    c.cmd("AUTH PLAIN")
    blob = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    c.cmd(blob)
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<bob@example.test>")
    c.cmd("DATA")
    c.send(body_lines("auth plain 334", "alice@example.test", "bob@example.test",
                      "Sent after AUTH PLAIN with a 334 challenge.\r\n", "auth334") + "\r\n.\r\n")
    c.reply()
    c.cmd("QUIT")
    c.close()


def auth_login_cancel(host, port):
    """AUTH LOGIN cancelled with '*' at the password prompt, then a good AUTH LOGIN."""
    import base64
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    c.cmd("AUTH LOGIN")
    c.cmd(base64.b64encode(b"alice").decode())
    c.cmd("*")
    c.cmd("AUTH LOGIN " + base64.b64encode(b"alice").decode())
    c.cmd(base64.b64encode(PASSWORD.encode()).decode())
    c.cmd("QUIT")
    c.close()


def reject554(host, port):
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("QUIT")
    c.close()


def auth_other_raw(host, port):
    """Unknown mechanisms (504), AUTH without a mechanism (501), then XOAUTH2
    without an initial response: 334, blob on its own line, 235."""
    import base64
    c = Raw(host, port)
    c.reply()
    c.cmd("EHLO client.wiresift.test")
    c.cmd("AUTH GSSAPI")
    c.cmd("AUTH X-WS-UNKNOWN " + base64.b64encode(b"alice:" + PASSWORD.encode()).decode())
    c.cmd("AUTH")
    c.cmd("AUTH XOAUTH2")
    c.cmd(base64.b64encode(xoauth2_string(TOKEN).encode()).decode())
    c.cmd("QUIT")
    c.close()


# -------------------------------------------------------------- smtplib users
TOKEN = "Sm7p-oauth-t0ken"
BAD_TOKEN = "Sm7p-oauth-b4dtoken"


def xoauth2_string(token):
    return f"user=alice\x01auth=Bearer {token}\x01\x01"


def xoauth2(host, port, token=TOKEN):
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.ehlo()
        # first call: the initial response; on a 334 error challenge: an empty answer
        s.auth("XOAUTH2", lambda challenge=None: xoauth2_string(token) if challenge is None else "",
               initial_response_ok=True)
        s.send_message(msg("smtplib xoauth2", "alice@example.test", "bob@example.test",
                           "After AUTH XOAUTH2 from smtplib.\n", "xoauth1"))


def xoauth2_bad(host, port):
    try:
        xoauth2(host, port, BAD_TOKEN)
    except smtplib.SMTPAuthenticationError as e:
        print("rejected as expected:", e)
        return
    raise SystemExit("expected 535 for a bad token")

def msg(subject, frm, to, text, msgid):
    m = EmailMessage()
    m["From"] = frm
    m["To"] = ", ".join(to) if isinstance(to, list) else to
    m["Subject"] = subject
    m["Date"] = "Sun, 22 Nov 2026 07:00:00 +0000"
    m["Message-ID"] = f"<{msgid}@wiresift.test>"
    m.set_content(text)
    return m


def multircpt(host, port):
    rcpts = ["bob@example.test", "carol@example.test", "nobody@example.test",
             "dave@example.test", "erin@example.test"]
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        refused = s.send_message(msg("five recipients, one rejected", "alice@example.test",
                                     rcpts, "Hello to four of you.\n", "multi1"))
        print("refused:", refused)
        assert list(refused) == ["nobody@example.test"], refused


def dotstuff(host, port):
    text = ("This body has lines that start with a dot.\n"
            ". leading dot and space\n"
            "..\n"
            ".\n"
            "...\n"
            ".hidden-looking line\n"
            " .not at the start\n"
            "ends with a dot.\n"
            "..double dot prefix\n")
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.send_message(msg("dot stuffing", "alice@example.test", "bob@example.test",
                           text, "dots1"))
        # A raw (non-MIME) body whose very first line is a dot line and whose
        # last line before the terminator is "." too.
        raw = ("Subject: dots at the edges\r\nFrom: alice@example.test\r\n"
               "To: carol@example.test\r\nMessage-ID: <dots2@wiresift.test>\r\n\r\n"
               ".first body line\r\nmiddle\r\n.\r\n")
        s.sendmail("alice@example.test", ["carol@example.test"], raw)


def starttls(host, port, keylog):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if keylog:
        ctx.keylog_filename = keylog
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.ehlo()
        s.starttls(context=ctx)
        s.ehlo()
        s.login("alice", PASSWORD)
        s.send_message(msg("over TLS", "alice@example.test", "bob@example.test",
                           "This text is encrypted on the wire.\n", "tls1"))


def utf8(host, port):
    """SMTPUTF8 envelope + UTF-8 headers, then an 8BITMIME body with raw 8-bit text."""
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        m = EmailMessage()
        m["From"] = "Zoë <zoë@exämple.test>"
        m["To"] = "Jürgen <jürgen@exämple.test>"
        m["Subject"] = "Grüße aus Köln ✉"
        m["Date"] = "Sun, 22 Nov 2026 07:00:00 +0000"
        m["Message-ID"] = "<utf8-1@wiresift.test>"
        m.set_content("Bonjour, ça va ? Добрый день. 你好。\n", cte="8bit")
        # non-ASCII addresses: smtplib sends MAIL FROM:<…> SMTPUTF8 BODY=8BITMIME
        s.send_message(m)
        raw = ("Subject: eight bit body\r\nFrom: alice@example.test\r\nTo: bob@example.test\r\n"
               "Message-ID: <utf8-2@wiresift.test>\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\nStraße, Œuvre, naïve café\r\n").encode()
        s.sendmail("alice@example.test", ["bob@example.test"], raw, mail_options=["BODY=8BITMIME"])


def nonstd(host, port):
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.send_message(msg("on a non-standard port", "alice@example.test", "bob@example.test",
                           "Served on a port that is not 25, 587 or 2525.\n", "port1"))


def auth_plain_smtplib(host, port):
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.ehlo()
        s.user, s.password = "alice", PASSWORD
        s.auth("PLAIN", s.auth_plain)  # initial response on the AUTH line
        s.send_message(msg("smtplib auth plain", "alice@example.test", "bob@example.test",
                           "After AUTH PLAIN from smtplib.\n", "authp1"))


def auth_login_smtplib(host, port):
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT) as s:
        s.set_debuglevel(1)
        s.ehlo()
        s.user, s.password = "alice", PASSWORD
        # initial_response_ok=True: "AUTH LOGIN <b64 user>", then 334 for the password
        s.auth("LOGIN", s.auth_login, initial_response_ok=True)
        s.send_message(msg("smtplib auth login", "alice@example.test", "bob@example.test",
                           "After AUTH LOGIN from smtplib.\n", "authl1"))


def reject421(host, port):
    try:
        smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=TIMEOUT)
    except smtplib.SMTPConnectError as e:
        print("connect refused as expected:", e)
        return
    raise SystemExit("expected a 421 greeting")


def lossy(host, port, nmails="3", size="300000"):
    rnd = random.Random(78)
    n, size = int(nmails), int(size)
    with smtplib.SMTP(host, port, local_hostname="client.wiresift.test", timeout=60) as s:
        for i in range(n):
            lines = []
            total = 0
            while total < size:
                line = "%05d %s" % (len(lines), "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                                         for _ in range(70)))
                if len(lines) % 97 == 0:
                    line = "." + line  # some dot-stuffed lines too
                lines.append(line)
                total += len(line) + 2
            s.send_message(msg(f"lossy {i + 1}", "alice@example.test", "bob@example.test",
                               "\n".join(lines) + "\n", f"lossy{i + 1}"))
            print(f"sent mail {i + 1} ({total} body bytes)", flush=True)
        s.noop()


SCENARIOS = {
    "pipelining": pipelining,
    "bdat": bdat,
    "auth-plain-334": auth_plain_334,
    "auth-login-cancel": auth_login_cancel,
    "reject554": reject554,
    "auth-other-raw": auth_other_raw,
    "xoauth2": xoauth2,
    "xoauth2-bad": xoauth2_bad,
    "multircpt": multircpt,
    "dotstuff": dotstuff,
    "starttls": starttls,
    "nonstd": nonstd,
    "utf8": utf8,
    "auth-plain-smtplib": auth_plain_smtplib,
    "auth-login-smtplib": auth_login_smtplib,
    "reject421": reject421,
    "lossy": lossy,
}

if __name__ == "__main__":
    name, host, port, *rest = sys.argv[1:]
    SCENARIOS[name](host, int(port), *rest)
