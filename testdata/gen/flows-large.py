#!/usr/bin/env python3
"""Many-connection captures for the per-connection cost measurements (issue #7).

    python3 testdata/gen/flows-large.py syn N    > testdata/large/syn-N.pcap
    python3 testdata/gen/flows-large.py pings N  > testdata/large/pings-N.pcap

`syn`: N SYN-only flows (one SYN each, never answered: every connection stays idle in the
table until it is evicted or the capture ends). `pings`: N short flows, each a SYN and one
client segment carrying 14 pipelined RESP PINGs (196 bytes), never answered nor closed.
Flows are 10 us apart, clients 10.x.y.z:port towards 10.255.0.1:6379, all tuples distinct.
Classic little-endian microsecond pcap, Ethernet/IPv4/TCP with valid checksums off (0).
Deterministic. The outputs go to testdata/large/ (gitignored).
"""
import struct
import sys

PING = b"*1\r\n$4\r\nPING\r\n" * 14


def packet(ts_us, sip, sport, dip, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, sip, dip)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    frame = eth + ip + tcp + payload
    return struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)) + frame


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("syn", "pings"):
        sys.exit(__doc__)
    kind, n = sys.argv[1], int(sys.argv[2])
    out = sys.stdout.buffer
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    server = bytes([10, 255, 0, 1])
    base = 1_700_000_000 * 1_000_000
    buf = []
    for i in range(n):
        host, port = divmod(i, 50_000)
        sip = bytes([10, 1 + (host >> 8) % 250, host & 0xFF, 2])
        sport = 10_000 + port
        isn = (i * 2_654_435_761) & 0xFFFFFFFF
        ts = base + i * 10
        buf.append(packet(ts, sip, sport, server, 6379, isn, 0, 0x02, b""))
        if kind == "pings":
            buf.append(packet(ts + 5, sip, sport, server, 6379, (isn + 1) & 0xFFFFFFFF, 0, 0x18, PING))
        if len(buf) >= 4096:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))


if __name__ == "__main__":
    main()
