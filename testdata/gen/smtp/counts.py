#!/usr/bin/env python3
"""Rewrite the counts table in testdata/smtp/README.md from the captures present.

Usage: counts.py OUTDIR   (called by testdata/gen/smtp.sh after generating)

The table sits between the markers <!-- counts:begin --> and <!-- counts:end -->.
Counts are what tshark reports (see README.md for its quirks).
"""

import os
import re
import subprocess
import sys

# stem -> server port (must match testdata/gen/smtp.sh)
PORTS = {
    "plain": 2525, "multi-rcpt": 25, "auth-plain": 587, "auth-login": 587,
    "auth-other": 587, "starttls": 587, "large-attachment": 2525, "dotstuff": 25,
    "bdat": 2525, "pipelining": 25, "utf8": 2525, "nonstd-port": 2526,
    "greeting-reject": 25, "lossy": 25,
}
# where tshark is known to be wrong, the true number of commands
TRUE_COMMANDS = {"bdat": 30, "pipelining": 32}


def tshark(*args):
    return subprocess.run(["tshark", *args], capture_output=True, text=True,
                          check=True).stdout


def count(pcap, flt):
    return len(tshark("-r", pcap, "-Y", flt).splitlines())


def main():
    out = sys.argv[1]
    rows = ["| capture | port | size (B) | packets | TCP conns | commands | reply lines | retrans | lost segs | out-of-order |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for stem, port in PORTS.items():
        pcap = os.path.join(out, stem + ".pcap")
        tsv = os.path.join(out, stem + ".tshark.tsv")
        if not (os.path.exists(pcap) and os.path.exists(tsv)):
            continue
        cmds = reps = 0
        with open(tsv, encoding="utf-8", errors="replace") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) > 2 and cols[2]:
                    cmds += len(cols[2].split(","))
                if len(cols) > 3 and cols[3]:
                    reps += len(cols[3].split(","))
        packets = len(tshark("-r", pcap, "-T", "fields", "-e", "frame.number").splitlines())
        conns = count(pcap, "tcp.flags.syn==1 && tcp.flags.ack==0")
        cmd_cell = str(cmds)
        if stem in TRUE_COMMANDS:
            cmd_cell += f" (true: {TRUE_COMMANDS[stem]})"
        if stem == "starttls":
            cmd_cell += " (cleartext part)"
        rows.append(f"| {stem}.pcap | {port} | {os.path.getsize(pcap)} | {packets} | {conns} | "
                    f"{cmd_cell} | {reps} | {count(pcap, 'tcp.analysis.retransmission')} | "
                    f"{count(pcap, 'tcp.analysis.lost_segment')} | "
                    f"{count(pcap, 'tcp.analysis.out_of_order')} |")
    nft = os.path.join(out, "lossy.nft-counters.txt")
    if os.path.exists(nft):
        rows.append("")
        rows.append("nftables drop counters of the run that made `lossy.pcap` "
                    "(`lossy.nft-counters.txt`):")
        rows.append("")
        rows.append("```")
        rows += [l.strip() for l in open(nft) if l.strip()]
        rows.append("```")
    readme = os.path.join(out, "README.md")
    text = open(readme, encoding="utf-8").read()
    new = "<!-- counts:begin -->\n" + "\n".join(rows) + "\n<!-- counts:end -->"
    text, n = re.subn(r"<!-- counts:begin -->.*?<!-- counts:end -->", lambda m: new, text,
                      flags=re.S)
    if n != 1:
        sys.exit("README.md has no counts markers")
    open(readme, "w", encoding="utf-8").write(text)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
