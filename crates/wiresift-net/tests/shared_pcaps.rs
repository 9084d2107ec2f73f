//! Runs every capture under `../shared/pcaps` (relative to the workspace) through the reader and
//! decoder: no panic, every packet accounted for, and specific facts checked against `tshark`.
//! Skips (and passes) when the directory is absent.
//!
//! Beyond the facts asserted here, the decoder was cross-checked once by hand against tshark
//! over the whole corpus (`tshark -Y "tcp and not icmp and not icmpv6" -T fields -e
//! frame.number -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e
//! tcp.seq_raw -e tcp.len -e tcp.flags`): all 10886 TCP segments agree on frame, addresses,
//! ports and sequence number; lengths differ only for the 13 frames of
//! `deepflow__xiangdao-retrans.pcap` (see `ip_header_longer_than_whole_frame`) and flags only
//! for 2 crafted frames of `arkime__tcpseq_synthetic.pcap` that set the reserved bits, which
//! `TcpFlags` (8 bits) does not carry.
//!
//! `WIRESIFT_PCAP_TABLE=1 cargo test -p wiresift-net --test shared_pcaps -- --nocapture`
//! prints one line per file (packets, TCP segments, outcome counters, reader error).

use std::path::{Path, PathBuf};

use wiresift_net::{CaptureError, CaptureReader, DecodeStats, Decoder, LinkType};

fn pcaps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pcaps")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        {
            out.push(p);
        }
    }
}

/// What one file gave.
#[derive(Debug, Default)]
struct Run {
    stats: DecodeStats,
    /// Timestamps (ns) of every packet.
    ts: Vec<u64>,
    /// Link types seen.
    links: Vec<LinkType>,
    /// (src, dst, payload_len, captured payload) per segment.
    segs: Vec<(String, String, u32, usize)>,
    error: Option<String>,
    open_error: Option<CaptureError>,
}

fn run(path: &Path) -> Run {
    let mut r = Run::default();
    let mut reader = match CaptureReader::open(path) {
        Ok(x) => x,
        Err(e) => {
            r.open_error = Some(e);
            return r;
        }
    };
    let mut dec = Decoder::default();
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                r.ts.push(p.ts.0);
                if !r.links.contains(&p.link_type) {
                    r.links.push(p.link_type);
                }
                if let Some(s) = dec.decode(&p) {
                    r.segs.push((
                        s.src.to_string(),
                        s.dst.to_string(),
                        s.payload_len,
                        s.payload.len(),
                    ));
                }
            }
            Ok(None) => break,
            Err(e) => {
                r.error = Some(e.to_string());
                break;
            }
        }
    }
    dec.finish();
    r.stats = dec.stats().clone();
    r
}

#[test]
fn every_shared_capture_decodes_and_is_accounted() {
    let dir = pcaps_dir();
    if !dir.is_dir() {
        println!("skipping: {} not found", dir.display());
        return;
    }
    let mut all = Vec::new();
    files(&dir, &mut all);
    all.sort();
    assert!(
        all.len() > 100,
        "expected the shared corpus, found {}",
        all.len()
    );
    let table = std::env::var_os("WIRESIFT_PCAP_TABLE").is_some();
    let mut failures = Vec::new();
    for f in &all {
        let r = run(f);
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        assert!(r.stats.accounted(), "{rel}: not accounted: {:?}", r.stats);
        assert_eq!(r.stats.packets as usize, r.ts.len(), "{rel}");
        assert_eq!(r.stats.fragments_buffered, 0, "{rel}");
        if table {
            let nonzero: Vec<String> = r
                .stats
                .outcomes()
                .iter()
                .filter(|(n, c)| *c > 0 && *n != "tcp_segments")
                .map(|(n, c)| format!("{n}={c}"))
                .collect();
            println!(
                "{rel} {} {} {} {}",
                r.stats.packets,
                r.stats.tcp_segments,
                nonzero.join(","),
                r.error
                    .as_deref()
                    .or(r.open_error.as_ref().map(|_| "open-error"))
                    .unwrap_or("")
            );
        }
        if let Some(e) = r.error.as_ref() {
            failures.push(format!("{rel}: {e}"));
        }
        if let Some(e) = r.open_error.as_ref() {
            failures.push(format!("{rel}: {e}"));
        }
    }
    // Exactly the files known to be unreadable fail, each with a clear message.
    failures.sort();
    let expected = [
        "link-edge/gopacket__test901.pcapng: unsupported capture format at offset 480: pcapng \
         section version 2.0 (only 1.x is supported)",
        "link-edge/pcap-parser__modified-format.pcap: unsupported capture format at offset 0: \
         Kuznetzov modified pcap (magic a1b2cd34) is not supported; convert it with `editcap \
         -F pcap`",
    ];
    assert_eq!(failures, expected);
}

fn get(rel: &str) -> Option<Run> {
    let p = pcaps_dir().join(rel);
    if !p.is_file() {
        println!("skipping: {} not found", p.display());
        return None;
    }
    Some(run(&p))
}

fn sum_payload_len(r: &Run) -> u64 {
    r.segs.iter().map(|s| u64::from(s.2)).sum()
}

/// Facts below were read with tshark 4.x, e.g.
/// `tshark -r F -Y tcp | wc -l`, `tshark -r F -T fields -e tcp.len`,
/// `tshark -r F -T fields -e frame.interface_id -e frame.time_epoch`.
#[test]
fn triple_vlan_tags() {
    let Some(r) = get("link-edge/zeek__vlan-qinqinq.pcap") else {
        return;
    };
    // tshark: 14 frames, all TCP, tcp.len summing to 5143.
    assert_eq!((r.stats.packets, r.stats.tcp_segments), (14, 14));
    assert_eq!(sum_payload_len(&r), 5143);
}

#[test]
fn ipv4_and_ipv6_fragmented_tcp_is_reassembled() {
    let Some(r) = get(
        "link-edge/suricata-verify__bug-6887-defrag-eth-vlan-ipv4-tcp-syn__frag-eth-vlan-ip-tcp-syn.pcap",
    ) else {
        return;
    };
    // tshark: three IPv4 fragments in 802.1Q reassemble to one SYN 1.1.1.1:12345 -> 2.2.2.2:8080.
    assert_eq!((r.stats.packets, r.stats.tcp_segments), (3, 1));
    assert_eq!(r.stats.fragments_reassembled, 2);
    assert_eq!(
        r.segs[0],
        ("1.1.1.1:12345".into(), "2.2.2.2:8080".into(), 0, 0)
    );
    let Some(r) = get(
        "link-edge/suricata-verify__bug-6887-defrag-eth-vlan-ipv6-tcp__frag-eth-vlan-ipv6-tcp.pcap",
    ) else {
        return;
    };
    // tshark: three IPv6 fragments reassemble to one ACK [::1]:12345 -> [::1]:8080, 1000 bytes.
    assert_eq!((r.stats.packets, r.stats.tcp_segments), (3, 1));
    assert_eq!(
        r.segs[0],
        ("[::1]:12345".into(), "[::1]:8080".into(), 1000, 1000)
    );
}

#[test]
fn linux_cooked_v2() {
    let Some(r) = get("link-edge/suricata-verify__decode-sll2-01__input.pcap") else {
        return;
    };
    // tshark: 5 TCP segments between ports 56478 and 80, one carrying 82 bytes.
    assert_eq!(r.links, vec![LinkType::LINUX_SLL2]);
    assert_eq!(r.stats.tcp_segments, 5);
    assert_eq!(sum_payload_len(&r), 82);
    assert!(r
        .segs
        .iter()
        .all(|s| s.0.ends_with(":56478") || s.0.ends_with(":80")));
}

#[test]
fn pcapng_section_version_2_is_rejected() {
    let p = pcaps_dir().join("link-edge/gopacket__test901.pcapng");
    if !p.is_file() {
        return;
    }
    // The first section (1.0) holds one packet; the second declares version 2.0, which
    // tshark/capinfos refuse ("pcapng: unknown SHB version 2.0").
    let r = run(&p);
    assert_eq!(r.stats.packets, 1);
    let e = r.error.unwrap();
    assert!(e.contains("offset 480") && e.contains("version 2.0"), "{e}");
}

#[test]
fn nanosecond_pcapng_timestamps_match_tshark() {
    let Some(r) = get("link-edge/ndpi__nano.pcapng") else {
        return;
    };
    // tshark -T fields -e frame.time_epoch (if_tsresol = 9).
    assert_eq!(
        r.ts,
        [
            1_721_295_318_976_755_289,
            1_721_295_319_028_262_791,
            1_721_295_319_028_276_151,
            1_721_295_319_028_342_191,
            1_721_295_319_083_243_712,
            1_721_295_319_083_277_243,
        ]
    );
    assert_eq!(r.stats.tcp_segments, 6);
}

#[test]
fn pcapng_interfaces_with_different_resolutions() {
    let Some(r) = get("link-edge/zeek__pcapng-multi-interface.pcapng") else {
        return;
    };
    // Interface 0 in nanoseconds, interface 1 in microseconds (tshark frame.time_epoch).
    assert_eq!(
        r.ts,
        [
            1_767_663_089_500_330_493,
            1_767_663_089_514_291_940,
            1_767_663_437_111_897_000,
            1_767_663_437_126_460_000,
            1_767_663_437_128_303_000,
            1_767_663_437_140_942_000,
        ]
    );
}

#[test]
fn pcap_timestamps_nano_and_out_of_range() {
    let Some(r) = get("link-edge/tcpdump__tcp-handshake-nano.pcap") else {
        return;
    };
    assert_eq!(
        r.ts,
        [
            1_418_145_369_924_505_488,
            1_418_145_370_052_027_262,
            1_418_145_370_052_115_157
        ]
    );
    let Some(r) = get("link-edge/tcpdump__timestamp_invalid_micro.pcap") else {
        return;
    };
    // The second and third records' microsecond fields are 1000000 and 2^31 (tshark prints
    // "1418145370.1000000000" and, after a 32-bit overflow, "1418145370.000000000"): clamped to
    // the last nanosecond of the second.
    assert_eq!(
        r.ts,
        [
            1_418_145_369_999_999_000,
            1_418_145_370_999_999_999,
            1_418_145_370_999_999_999
        ]
    );
    assert_eq!(r.stats.tcp_segments, 3);
}

#[test]
fn snaplen_truncation() {
    let Some(r) = get("tcp-edge/zeek__retransmit-fast009.pcap") else {
        return;
    };
    // tshark: 39 TCP frames; 21 carry less payload than tcp.len says; tcp.len sums to 28547.
    assert_eq!(r.stats.tcp_segments, 39);
    assert_eq!(r.stats.truncated_payload, 21);
    assert_eq!(sum_payload_len(&r), 28547);
    let Some(r) = get("tcp-edge/zeek__truncated-header.pcap") else {
        return;
    };
    // tshark: 24 TCP frames; the SYN's options are cut (40-byte header, 34 bytes captured).
    assert_eq!(r.stats.tcp_segments, 24);
    assert_eq!(r.stats.truncated_tcp_options, 1);
}

#[test]
fn ip_header_longer_than_whole_frame() {
    let Some(r) = get("tcp-edge/deepflow__xiangdao-retrans.pcap") else {
        return;
    };
    // Frames captured whole (66 of 66 bytes) whose IPv4 total length claims payload that is not
    // there (tshark: "IPv4 total length exceeds packet length", tcp.len 0). payload_len follows
    // the IP header: frame 2 claims 600 bytes and the next data segment starts 600 later.
    assert_eq!(r.stats.tcp_segments, 13);
    assert_eq!(r.stats.ip_length_exceeds_frame, 13);
    assert_eq!(r.segs[1].2, 600);
    assert!(r.segs.iter().all(|s| s.3 == 0));
}

#[test]
fn null_loopback_nflog_mpls() {
    // tshark TCP frame counts.
    for (f, n) in [
        ("link-edge/gopacket__test_loopback.pcap", 24),
        ("link-edge/suricata-verify__http-ipv6__input.pcap", 14),
        ("link-edge/arkime__nflog.pcap", 10),
        ("link-edge/zeek__mpls-in-vlan.pcap", 3),
        ("link-edge/zeek__vntag_vlan_sandwich_clean.pcap", 1),
        ("tcp-edge/zeek__payload-syn.pcap", 6),
        ("tcp-edge/zeek__gap-data-missing.pcapng", 18),
    ] {
        let Some(r) = get(f) else {
            return;
        };
        assert_eq!(r.stats.tcp_segments, n, "{f}: {:?}", r.stats);
    }
}

#[test]
fn truncated_real_capture_reports_where() {
    let p = pcaps_dir().join("link-edge/zeek__vlan-qinqinq.pcap");
    let Ok(mut bytes) = std::fs::read(&p) else {
        println!("skipping: {} not found", p.display());
        return;
    };
    bytes.truncate(bytes.len() - 50); // the last record is 16 + 78 bytes
    let mut r = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes))).unwrap();
    let mut n = 0;
    let mut last_end = 0;
    let err = loop {
        match r.next_packet() {
            Ok(Some(_)) => {
                n += 1;
                last_end = r.bytes_read();
            }
            Ok(None) => panic!("no error for a truncated file"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 13);
    match err {
        CaptureError::Truncated {
            offset,
            needed,
            remain,
            ..
        } => {
            assert_eq!(offset, last_end);
            assert_eq!((needed, remain), (78, 28));
        }
        e => panic!("unexpected error {e}"),
    }
}
