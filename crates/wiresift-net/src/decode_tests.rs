//! Unit tests for the decoder: one per link type and per edge, over packets built from named
//! byte constants by the small helpers below.

use super::*;
use proptest::prelude::*;

const MAC_HDR: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [10, 0, 0, 2];
const V6_SRC: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const PAYLOAD: &[u8] = b"PING\r\n";

/// TCP header (20 bytes, or more with `opts`) + payload, ports 1234 -> 6379, seq 1000, ack 7.
fn tcp_bytes(opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let doff = (20 + opts.len()) / 4;
    let mut v = vec![0x04, 0xd2, 0x18, 0xeb, 0, 0, 0x03, 0xe8, 0, 0, 0, 7];
    v.push((doff as u8) << 4);
    v.push(TcpFlags::PSH | TcpFlags::ACK);
    v.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(opts);
    v.extend_from_slice(payload);
    v
}

/// IPv4 header with `opts`, protocol, id and flags/fragment-offset word, then `payload`.
fn ipv4_bytes(proto: u8, opts: &[u8], id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let ihl = (20 + opts.len()) / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut v = vec![0x40 | ihl as u8, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&V4_SRC);
    v.extend_from_slice(&V4_DST);
    v.extend_from_slice(opts);
    v.extend_from_slice(payload);
    v
}

/// IPv6 header with next header `nh`, then `payload` (extension headers included).
fn ipv6_bytes(nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[nh, 64]);
    v.extend_from_slice(&V6_SRC);
    v.extend_from_slice(&V6_DST);
    v.extend_from_slice(payload);
    v
}

fn ether(tags: &[u16], et: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = MAC_HDR.to_vec();
    for t in tags {
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&[0x20, 0x07]); // TCI: priority 1, VLAN 7
    }
    v.extend_from_slice(&et.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn pkt(link: LinkType, data: &[u8]) -> RawPacket<'_> {
    RawPacket {
        ts: Timestamp(1_000_000_000),
        link_type: link,
        data,
        orig_len: data.len() as u32,
        interface: 0,
    }
}

/// Decode one packet on a fresh decoder; return the segment's (payload, payload_len) and stats.
fn one(link: LinkType, data: &[u8]) -> (Option<(Vec<u8>, u32)>, DecodeStats) {
    let mut d = Decoder::default();
    let r = d
        .decode(&pkt(link, data))
        .map(|s| (s.payload.to_vec(), s.payload_len));
    let st = d.stats().clone();
    assert!(st.accounted(), "{st:?}");
    assert_eq!(st.packets, 1);
    (r, st)
}

fn ok(link: LinkType, data: &[u8]) {
    let (r, st) = one(link, data);
    assert_eq!(st.tcp_segments, 1, "{st:?}");
    assert_eq!(r, Some((PAYLOAD.to_vec(), PAYLOAD.len() as u32)));
}

fn v4_tcp() -> Vec<u8> {
    ipv4_bytes(6, &[], 1, 0x4000, &tcp_bytes(&[], PAYLOAD))
}

fn v6_tcp() -> Vec<u8> {
    ipv6_bytes(6, &tcp_bytes(&[], PAYLOAD))
}

#[test]
fn ethernet_ipv4_tcp_fields() {
    let frame = ether(&[], 0x0800, &v4_tcp());
    let mut d = Decoder::default();
    let s = d.decode(&pkt(LinkType::ETHERNET, &frame)).unwrap();
    assert_eq!(s.src.to_string(), "10.0.0.1:1234");
    assert_eq!(s.dst.to_string(), "10.0.0.2:6379");
    assert_eq!((s.seq, s.ack, s.window), (1000, 7, 0xffff));
    assert!(s.flags.psh() && s.flags.ack() && !s.flags.syn());
    assert_eq!(s.payload, PAYLOAD);
    assert_eq!(s.ts, Timestamp(1_000_000_000));
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut frame = ether(&[], 0x0800, &ipv4_bytes(6, &[], 1, 0, &tcp_bytes(&[], b"")));
    frame.extend_from_slice(&[0; 6]); // minimum frame padding
    let (r, _) = one(LinkType::ETHERNET, &frame);
    assert_eq!(r, Some((vec![], 0)));
}

#[test]
fn ethernet_ipv6_and_options() {
    ok(LinkType::ETHERNET, &ether(&[], 0x86DD, &v6_tcp()));
    // IPv4 with 4 bytes of options (NOP NOP NOP EOL), TCP with 12 bytes of options.
    let seg = tcp_bytes(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], PAYLOAD);
    ok(
        LinkType::ETHERNET,
        &ether(&[], 0x0800, &ipv4_bytes(6, &[1, 1, 1, 0], 1, 0, &seg)),
    );
}

#[test]
fn stacked_vlan_tags() {
    ok(LinkType::ETHERNET, &ether(&[0x8100], 0x0800, &v4_tcp()));
    ok(
        LinkType::ETHERNET,
        &ether(&[0x88A8, 0x8100], 0x0800, &v4_tcp()),
    );
    ok(
        LinkType::ETHERNET,
        &ether(&[0x88A8, 0x8100, 0x8100], 0x86DD, &v6_tcp()),
    );
    ok(
        LinkType::ETHERNET,
        &ether(&[0x9100, 0x8100], 0x0800, &v4_tcp()),
    );
    // A tag cut in half.
    let (_, st) = one(LinkType::ETHERNET, &ether(&[], 0x8100, &[0, 7]));
    assert_eq!(st.truncated, 1);
}

#[test]
fn mpls_vntag_pppoe() {
    // Two MPLS labels, the second bottom-of-stack.
    let mut p = vec![0, 0x10, 0x00, 0x40, 0, 0x20, 0x01, 0x40];
    p.extend_from_slice(&v4_tcp());
    ok(LinkType::ETHERNET, &ether(&[], 0x8847, &p));
    // VN-Tag, then 802.1Q, then IPv4.
    let mut p = vec![0x80, 0x01, 0x00, 0x02, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00];
    p.extend_from_slice(&v4_tcp());
    ok(LinkType::ETHERNET, &ether(&[], 0x8926, &p));
    // PPPoE session, PPP IPv6.
    let mut p = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x57];
    p.extend_from_slice(&v6_tcp());
    ok(LinkType::ETHERNET, &ether(&[], 0x8864, &p));
}

#[test]
fn linux_cooked_v1_and_v2() {
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&v4_tcp());
    ok(LinkType::LINUX_SLL, &sll);
    let mut sll2 = vec![
        0x86, 0xDD, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&v6_tcp());
    ok(LinkType::LINUX_SLL2, &sll2);
    let (_, st) = one(LinkType::LINUX_SLL2, &sll2[..19]);
    assert_eq!(st.truncated, 1);
}

#[test]
fn raw_ip_link_types() {
    for lt in [LinkType::RAW, LinkType::RAW_12, LinkType::RAW_14] {
        ok(lt, &v4_tcp());
        ok(lt, &v6_tcp());
    }
    ok(LinkType::IPV4, &v4_tcp());
    ok(LinkType::IPV6, &v6_tcp());
    let (_, st) = one(LinkType::RAW, &[0x50; 40]);
    assert_eq!(st.bad_ip_header, 1);
    let (_, st) = one(LinkType::IPV4, &v6_tcp());
    assert_eq!(st.bad_ip_header, 1);
}

#[test]
fn null_and_loop_families_both_orders() {
    for lt in [LinkType::NULL, LinkType::LOOP] {
        for (af, ip) in [
            (2u32, v4_tcp()),
            (24, v6_tcp()),
            (28, v6_tcp()),
            (30, v6_tcp()),
        ] {
            for hdr in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut p = hdr.to_vec();
                p.extend_from_slice(&ip);
                ok(lt, &p);
            }
        }
        let (_, st) = one(lt, &[7, 0, 0, 0, 1, 2, 3]);
        assert_eq!(st.non_ip, 1);
    }
}

#[test]
fn nflog_payload_tlv() {
    let ip = v4_tcp();
    let mut p = vec![2, 0, 0, 0];
    // A prefix TLV (type 10, "ab\0" padded), then the payload TLV (type 9).
    p.extend_from_slice(&[7, 0, 10, 0, b'a', b'b', 0, 0]);
    p.extend_from_slice(&((ip.len() + 4) as u16).to_le_bytes());
    p.extend_from_slice(&[9, 0]);
    p.extend_from_slice(&ip);
    ok(LinkType::NFLOG, &p);
    let (_, st) = one(LinkType::NFLOG, &[2, 0, 0, 0, 2, 0, 9, 0]);
    assert_eq!(st.bad_link_header, 1);
}

#[test]
fn ipv6_extension_headers() {
    let t = tcp_bytes(&[], PAYLOAD);
    // Hop-by-hop (8 bytes) -> routing (8) -> destination options (16) -> AH (12+4) -> TCP.
    let mut x = vec![43, 0, 1, 4, 0, 0, 0, 0];
    x.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    x.extend_from_slice(&[51, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    x.extend_from_slice(&[6, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    x.extend_from_slice(&t);
    ok(LinkType::IPV6, &ipv6_bytes(0, &x));
    // Atomic fragment (offset 0, M = 0) is a whole datagram.
    let mut x = vec![6, 0, 0, 0, 0, 0, 0, 9];
    x.extend_from_slice(&t);
    ok(LinkType::IPV6, &ipv6_bytes(44, &x));
    // An extension header claiming more than the payload length.
    let (_, st) = one(LinkType::IPV6, &ipv6_bytes(60, &[6, 200, 0, 0, 0, 0, 0, 0]));
    assert_eq!(st.bad_ipv6_extension, 1);
    // UDP and no-next-header.
    let (_, st) = one(LinkType::IPV6, &ipv6_bytes(17, &[0; 8]));
    assert_eq!(st.non_tcp, 1);
    let (_, st) = one(LinkType::IPV6, &ipv6_bytes(59, &[]));
    assert_eq!(st.non_tcp, 1);
}

#[test]
fn non_ip_non_tcp_unsupported() {
    let (_, st) = one(LinkType::ETHERNET, &ether(&[], 0x0806, &[0; 28]));
    assert_eq!(st.non_ip, 1);
    let (_, st) = one(
        LinkType::ETHERNET,
        &ether(&[], 0x0800, &ipv4_bytes(17, &[], 1, 0, &[0; 8])),
    );
    assert_eq!(st.non_tcp, 1);
    let (_, st) = one(LinkType(147), &v4_tcp());
    assert_eq!(st.unsupported_link_type, 1);
}

#[test]
fn bad_headers() {
    let mut ip = v4_tcp();
    ip[0] = 0x44; // IHL 4
    let (_, st) = one(LinkType::IPV4, &ip);
    assert_eq!(st.bad_ip_header, 1);
    let mut ip = v4_tcp();
    ip[2..4].copy_from_slice(&10u16.to_be_bytes()); // total < header
    let (_, st) = one(LinkType::IPV4, &ip);
    assert_eq!(st.bad_ip_header, 1);
    let mut ip = v4_tcp();
    ip[20 + 12] = 0x40; // TCP data offset 4
    let (_, st) = one(LinkType::IPV4, &ip);
    assert_eq!(st.bad_tcp_header, 1);
    let mut ip = v4_tcp();
    ip[20 + 12] = 0xf0; // data offset 60 > segment length 26
    let (_, st) = one(LinkType::IPV4, &ip);
    assert_eq!(st.bad_tcp_header, 1);
}

#[test]
fn snaplen_cut_payload_still_yields_segment() {
    let big = vec![b'x'; 1000];
    let frame = ether(
        &[],
        0x0800,
        &ipv4_bytes(6, &[], 1, 0, &tcp_bytes(&[], &big)),
    );
    let (r, st) = one(LinkType::ETHERNET, &frame[..14 + 20 + 20 + 100]);
    assert_eq!(r, Some((vec![b'x'; 100], 1000)));
    assert_eq!((st.tcp_segments, st.truncated_payload), (1, 1));
    let frame6 = ipv6_bytes(6, &tcp_bytes(&[], &big));
    let (r, _) = one(LinkType::IPV6, &frame6[..40 + 20 + 10]);
    assert_eq!(r, Some((vec![b'x'; 10], 1000)));
}

#[test]
fn snaplen_cut_headers_are_truncated() {
    let frame = ether(&[0x8100], 0x0800, &v4_tcp());
    // Every strict prefix short of the full TCP header is "truncated", never a bad header.
    for n in 0..18 + 20 + 20 {
        let (r, st) = one(LinkType::ETHERNET, &frame[..n]);
        assert!(r.is_none());
        assert_eq!(st.truncated, 1, "prefix {n}: {st:?}");
    }
    let frame = ipv6_bytes(0, &{
        let mut x = vec![6, 0, 0, 0, 0, 0, 0, 0];
        x.extend_from_slice(&tcp_bytes(&[], PAYLOAD));
        x
    });
    for n in 0..40 + 8 + 20 {
        let (_, st) = one(LinkType::IPV6, &frame[..n]);
        assert_eq!(st.truncated, 1, "prefix {n}: {st:?}");
    }
}

#[test]
fn tso_zero_lengths_mean_captured_bytes() {
    let mut ip = v4_tcp();
    ip[2] = 0;
    ip[3] = 0;
    ok(LinkType::IPV4, &ip);
    let mut ip6 = v6_tcp();
    ip6[4] = 0;
    ip6[5] = 0;
    ok(LinkType::IPV6, &ip6);
}

/// Split `seg` into IPv4 fragments of `chunk` bytes (a multiple of 8), id `id`.
fn v4_fragments(seg: &[u8], chunk: usize, id: u16) -> Vec<Vec<u8>> {
    seg.chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            let off = (i * chunk / 8) as u16;
            let more = if (i + 1) * chunk < seg.len() {
                0x2000
            } else {
                0
            };
            ether(&[0x8100], 0x0800, &ipv4_bytes(6, &[], id, more | off, c))
        })
        .collect()
}

#[test]
fn ipv4_fragments_reassembled_out_of_order_with_duplicate() {
    let body: Vec<u8> = (0..200u8).collect();
    let seg = tcp_bytes(&[], &body);
    let mut frags = v4_fragments(&seg, 64, 77);
    assert_eq!(frags.len(), 4);
    frags.swap(0, 3);
    frags.insert(2, frags[1].clone()); // a duplicate
    let mut d = Decoder::default();
    let mut got = Vec::new();
    for f in &frags {
        if let Some(s) = d.decode(&pkt(LinkType::ETHERNET, f)) {
            assert_eq!(s.src.to_string(), "10.0.0.1:1234");
            got.push((s.payload.to_vec(), s.payload_len));
        }
    }
    assert_eq!(got, vec![(body.clone(), 200)]);
    let st = d.stats();
    assert_eq!(
        (
            st.tcp_segments,
            st.fragments_reassembled,
            st.fragments_buffered
        ),
        (1, 4, 0)
    );
    assert!(st.accounted(), "{st:?}");
}

#[test]
fn ipv6_fragments_reassembled() {
    let body = vec![b'y'; 150];
    let seg = tcp_bytes(&[], &body);
    let mut d = Decoder::default();
    let mut out = None;
    for (i, c) in seg.chunks(88).enumerate() {
        let more = u16::from((i + 1) * 88 < seg.len());
        let fo = ((i * 88) as u16) | more;
        let mut x = vec![6, 0];
        x.extend_from_slice(&fo.to_be_bytes());
        x.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        x.extend_from_slice(c);
        let p = ipv6_bytes(44, &x);
        if let Some(s) = d.decode(&pkt(LinkType::IPV6, &p)) {
            out = Some((s.payload.to_vec(), s.payload_len));
        }
    }
    assert_eq!(out, Some((body, 150)));
    assert!(d.stats().accounted());
}

#[test]
fn fragment_timeout_by_capture_time_and_finish() {
    let seg = tcp_bytes(&[], &[1; 100]);
    let frags = v4_fragments(&seg, 64, 5);
    let mut d = Decoder::default();
    let mut p = pkt(LinkType::ETHERNET, &frags[0]);
    assert!(d.decode(&p).is_none());
    assert_eq!(d.stats().fragments_buffered, 1);
    // 31 s later (capture time) another packet: the first fragment's datagram expires, and
    // the late second fragment starts a new datagram.
    p = pkt(LinkType::ETHERNET, &frags[1]);
    p.ts = Timestamp(32_000_000_000);
    assert!(d.decode(&p).is_none());
    let st = d.stats().clone();
    assert_eq!((st.fragments_timed_out, st.fragments_buffered), (1, 1));
    assert!(st.accounted());
    d.finish();
    let st = d.stats();
    assert_eq!((st.fragments_timed_out, st.fragments_buffered), (2, 0));
    assert!(st.accounted());
}

#[test]
fn fragments_of_other_protocols_are_not_buffered() {
    let p = ipv4_bytes(17, &[], 9, 0x2000, &[0; 64]);
    let (_, st) = one(LinkType::IPV4, &p);
    assert_eq!((st.non_tcp, st.fragments_buffered), (1, 0));
    // A fragment cut by the snap length cannot be reassembled.
    let p = ipv4_bytes(6, &[], 9, 0x2000, &[0; 64]);
    let (_, st) = one(LinkType::IPV4, &p[..50]);
    assert_eq!(st.truncated, 1);
    // A fragment reaching past 65535 bytes.
    let p = ipv4_bytes(6, &[], 9, 0x1fff, &[0; 64]);
    let (_, st) = one(LinkType::IPV4, &p);
    assert_eq!(st.fragments_invalid, 1);
}

#[test]
fn eviction_under_datagram_limit_is_counted() {
    let mut d = Decoder::new(DecoderConfig {
        defrag_max_datagrams: 2,
        ..DecoderConfig::default()
    });
    for id in 0..5u16 {
        let p = ipv4_bytes(6, &[], id, 0x2000, &[0; 64]);
        assert!(d.decode(&pkt(LinkType::IPV4, &p)).is_none());
    }
    let st = d.stats();
    assert_eq!((st.fragments_evicted, st.fragments_buffered), (3, 2));
    assert!(st.accounted());
}

const LINKS: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NFLOG,
    LinkType::RAW_12,
    LinkType(9999),
];

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), li in 0..LINKS.len()) {
        let mut d = Decoder::default();
        let _ = d.decode(&pkt(LINKS[li], &data));
        prop_assert!(d.stats().accounted());
    }

    /// Valid frames with a few bytes overwritten and a random cut: never panic, always
    /// accounted, and a produced segment's payload never exceeds its claimed length.
    #[test]
    fn mutated_frames_never_panic(
        muts in proptest::collection::vec((0usize..120, any::<u8>()), 0..6),
        cut in 0usize..130,
        kind in 0..4,
    ) {
        let mut frame = match kind {
            0 => ether(&[0x8100], 0x0800, &v4_tcp()),
            1 => ether(&[], 0x86DD, &v6_tcp()),
            2 => v4_fragments(&tcp_bytes(&[], &[3; 40]), 32, 1)[0].clone(),
            _ => ether(&[], 0x86DD, &ipv6_bytes(44, &{
                let mut x = vec![6, 0, 0, 1, 0, 0, 0, 1];
                x.extend_from_slice(&tcp_bytes(&[], &[4; 40]));
                x
            })),
        };
        for (i, b) in muts {
            if let Some(x) = frame.get_mut(i) {
                *x = b;
            }
        }
        frame.truncate(cut);
        let mut d = Decoder::default();
        if let Some(s) = d.decode(&pkt(LinkType::ETHERNET, &frame)) {
            prop_assert!(s.payload.len() as u64 <= u64::from(s.payload_len));
        }
        d.finish();
        prop_assert!(d.stats().accounted());
    }
}

#[test]
fn snaplen_cut_tcp_options_keep_the_segment() {
    let seg = tcp_bytes(&[2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0], b"");
    let ip = ipv4_bytes(6, &[], 1, 0, &seg);
    let (r, st) = one(LinkType::IPV4, &ip[..20 + 25]);
    assert_eq!(r, Some((vec![], 0)));
    assert_eq!((st.tcp_segments, st.truncated_tcp_options), (1, 1));
}
