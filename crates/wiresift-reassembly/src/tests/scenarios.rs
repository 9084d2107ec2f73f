//! One test per behaviour, over hand-built segments.

use super::*;
use crate::half::WINDOW;
use Piece::{Bytes, Gap};

fn b(s: &str) -> Piece {
    Bytes(s.as_bytes().to_vec())
}

#[test]
fn in_order_both_directions_then_fin_close() {
    let mut t = T::new();
    t.handshake(1000, 5000);
    t.c(3, 1001, Some(5001), PSH, b"PING\r\n");
    t.s(4, 5001, Some(1007), PSH, b"+PONG\r\n");
    t.c(5, 1007, Some(5008), FIN, b"");
    t.s(6, 5008, Some(1008), FIN, b"");
    // The last ACK arrives after the close: remembered tuple, ignored.
    t.c(7, 1008, Some(5009), 0, b"");
    assert_eq!(
        t.rec.ev[0],
        Ev::Open {
            id: 1,
            client: t.c,
            server: t.s,
            midstream: false,
            role: RoleSource::Handshake
        }
    );
    assert_eq!(t.rec.stream(1, C2S), b"PING\r\n");
    assert_eq!(t.rec.stream(1, S2C), b"+PONG\r\n");
    assert!(t.rec.gaps().is_empty());
    assert!(t.rec.stalls().is_empty());
    let n = t.rec.ev.len();
    assert_eq!(t.rec.ev[n - 3], Ev::Fin { id: 1, dir: C2S });
    assert_eq!(t.rec.ev[n - 2], Ev::Fin { id: 1, dir: S2C });
    let closes = t.rec.closes();
    assert_eq!(closes.len(), 1);
    let (id, reason, st) = &closes[0];
    assert_eq!((*id, *reason), (1, CloseReason::Fin));
    assert_eq!(st.packets, 7);
    assert_eq!(st.bytes, [6, 7]);
    assert_eq!(st.retransmitted_segments, 0);
    assert_eq!(st.close_reason, Some(CloseReason::Fin));
    assert_eq!(t.r.connection_count(), 0);
    assert_eq!(t.r.stats().segments_after_close, 1);
    assert_eq!(t.r.stats().segments_ignored, 0);
    assert_eq!(t.r.stats().closed.fin, 1);
    t.finish();
    assert_eq!(t.rec.closes().len(), 1);
}

#[test]
fn in_order_data_is_not_held() {
    let mut t = T::new();
    t.handshake(1, 2);
    t.c(3, 2, Some(3), 0, b"abc");
    t.c(4, 5, Some(3), 0, b"def");
    for (_, _, _, held) in t.rec.data_events() {
        assert_eq!(held, Duration(0));
    }
    assert_eq!(t.rec.data_events().len(), 2);
}

#[test]
fn sequence_wraparound_with_reordering() {
    let mut t = T::new();
    // Client data starts 4 bytes before the wrap; server data starts exactly at 0.
    t.handshake(u32::MAX - 5, u32::MAX);
    let c0 = (u32::MAX - 4, b"0123456789".as_slice()); // covers the wrap: ends at seq 5
    let c1 = (5u32, b"abcdef".as_slice());
    t.c(3, c1.0, Some(0), 0, c1.1);
    t.c(4, c0.0, Some(0), 0, c0.1);
    t.c(5, c0.0, Some(0), 0, c0.1); // duplicate after delivery
    t.s(6, 0, Some(11), 0, b"xyz");
    t.s(7, 3, Some(11), 0, b"!");
    assert_eq!(t.rec.stream(1, C2S), b"0123456789abcdef");
    assert_eq!(t.rec.stream(1, S2C), b"xyz!");
    assert!(t.rec.gaps().is_empty());
    t.finish();
    let (_, _, st) = &t.rec.closes()[0];
    assert_eq!(st.out_of_order_segments, 1);
    assert_eq!(st.retransmitted_segments, 1);
    assert_eq!(st.retransmitted_bytes, 10);
}

#[test]
fn lost_heartbeat_holds_three_segments_200ms() {
    let mut t = T::new();
    t.handshake(100, 900);
    let seg = |i: u8| vec![b'a' + i; 21];
    // Segment 0 (seq 101) is lost; the next three arrive and wait.
    t.c(1000, 122, Some(901), PSH, &seg(1));
    t.c(1001, 143, Some(901), PSH, &seg(2));
    t.c(1002, 164, Some(901), PSH, &seg(3));
    assert!(t.rec.data_events().is_empty());
    assert_eq!(t.r.buffered_bytes(), 63);
    // The retransmission, 200 ms after the first held segment.
    t.c(1200, 101, Some(901), PSH, &seg(0));
    let data = t.rec.data_events();
    assert_eq!(data.len(), 1, "one chunk");
    let (_, dir, bytes, held) = &data[0];
    assert_eq!(*dir, C2S);
    assert_eq!(bytes.len(), 84);
    assert_eq!(bytes[..], [seg(0), seg(1), seg(2), seg(3)].concat()[..]);
    assert_eq!(*held, Duration::from_millis(200));
    assert_eq!(t.rec.stalls(), vec![Duration::from_millis(200)]);
    // The Stall comes right before the Data it explains.
    let n = t.rec.ev.len();
    assert!(matches!(t.rec.ev[n - 2], Ev::Stall { dir: C2S, .. }));
    assert_eq!(t.r.buffered_bytes(), 0);
    t.finish();
    let (_, _, st) = &t.rec.closes()[0];
    assert_eq!(st.max_retransmission_delay, Duration::from_millis(200));
    assert_eq!(st.out_of_order_segments, 3);
    assert_eq!(st.gaps, 0);
    assert_eq!(st.bytes, [84, 0]);
}

#[test]
fn hole_revealed_by_a_pure_ack_is_timed_when_filled() {
    // Captured at the receiver: the client's second request segment is lost on the wire and
    // nothing follows it (the client waits for replies), so nothing is buffered; only the
    // client's next pure ACK, whose sequence number is past the stream, shows that bytes are
    // missing. The retransmission 200 ms after the last delivered segment is a stall.
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(1000, 101, Some(901), PSH, b"first part ");
    t.s(1001, 901, Some(112), PSH, b"ack");
    t.c(1040, 122, Some(904), ACK, b""); // seq 122 > next 112: 10 bytes unseen
    assert!(t.rec.stalls().is_empty());
    t.c(1200, 112, Some(904), PSH, b"0123456789");
    assert_eq!(t.rec.stream(1, C2S), b"first part 0123456789");
    assert_eq!(t.rec.stalls(), vec![Duration::from_millis(200)]);
    // An ordinary pure ACK at the stream's edge reveals nothing.
    t.c(1300, 122, Some(904), ACK, b"");
    t.c(1400, 122, Some(904), PSH, b"next");
    assert_eq!(t.rec.stalls(), vec![Duration::from_millis(200)]);
    t.finish();
    let (_, _, st) = &t.rec.closes()[0];
    assert_eq!(st.max_retransmission_delay, Duration::from_millis(200));
    assert_eq!(st.gaps, 0);
}

#[test]
fn retransmission_of_delivered_bytes_is_timed() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 101, Some(901), PSH, b"hello");
    t.c(310, 101, Some(901), PSH, b"hello");
    // Partly new: the delivered prefix is a retransmission, the rest is data.
    t.c(320, 103, Some(901), PSH, b"llo world");
    assert_eq!(t.rec.stream(1, C2S), b"hello world");
    assert_eq!(
        t.rec.stalls(),
        vec![Duration::from_millis(300), Duration::from_millis(310)]
    );
    t.finish();
    let (_, _, st) = &t.rec.closes()[0];
    assert_eq!(st.retransmitted_segments, 2);
    assert_eq!(st.retransmitted_bytes, 8);
    assert_eq!(st.max_retransmission_delay, Duration::from_millis(310));
}

#[test]
fn port_reuse_on_open_connection() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(3, 101, Some(901), PSH, b"abc");
    // A retransmitted SYN (same ISN) changes nothing.
    t.c(4, 100, None, SYN, b"");
    assert_eq!(t.rec.opens().len(), 1);
    // A SYN with a new ISN: the old connection ends, a new one starts.
    t.c(50, 7777, None, SYN, b"");
    t.s(51, 3333, Some(7778), SYN, b"");
    t.c(52, 7778, Some(3334), PSH, b"new");
    let closes = t.rec.closes();
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].0, 1);
    assert_eq!(closes[0].1, CloseReason::PortReuse);
    assert_eq!(closes[0].2.retransmitted_segments, 1);
    assert_eq!(t.rec.opens().len(), 2);
    assert_eq!(t.rec.stream(1, C2S), b"abc");
    assert_eq!(t.rec.stream(2, C2S), b"new");
    assert_eq!(t.r.stats().closed.port_reuse, 1);
}

#[test]
fn port_reuse_after_fin_close() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(3, 101, Some(901), FIN, b"");
    t.s(4, 901, Some(102), FIN, b"");
    assert_eq!(t.rec.closes().len(), 1);
    // Trailing packets are ignored, not opened as a mid-stream connection.
    t.c(5, 102, Some(902), 0, b"");
    t.s(6, 901, Some(102), FIN, b"");
    t.c(7, 102, Some(902), PSH, b"late");
    assert_eq!(t.rec.opens().len(), 1);
    assert_eq!(t.r.stats().segments_after_close, 3);
    // A new SYN opens a new connection with a new id.
    t.c(100, 5000, None, SYN, b"");
    t.s(101, 6000, Some(5001), SYN, b"");
    t.c(102, 5001, Some(6001), PSH, b"again");
    assert_eq!(t.rec.opens().len(), 2);
    assert_eq!(t.rec.stream(2, C2S), b"again");
    assert_eq!(
        t.rec.closes().len(),
        1,
        "no PortReuse close: the first was closed"
    );
}

#[test]
fn closed_tuple_is_forgotten_after_time_wait() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(3, 101, Some(901), RST, b"");
    t.c(10, 101, Some(901), PSH, b"x");
    assert_eq!(t.rec.opens().len(), 1);
    t.c(40_000, 101, Some(901), PSH, b"y");
    assert_eq!(
        t.rec.opens().len(),
        2,
        "after time_wait the tuple may open mid-stream"
    );
}

#[test]
fn midstream_pickup_port_rule() {
    let mut t = T::new();
    // A bare ACK cannot open a connection.
    t.c(0, 99, Some(4000), 0, b"");
    assert!(t.rec.opens().is_empty());
    // The server (lower port) speaks first.
    t.s(1, 5000, Some(100), PSH, b"+OK\r\n");
    t.c(2, 100, Some(5005), PSH, b"GET k\r\n");
    t.s(3, 5005, Some(107), PSH, b"$1\r\nv\r\n");
    assert_eq!(
        t.rec.opens()[0],
        Ev::Open {
            id: 1,
            client: t.c,
            server: t.s,
            midstream: true,
            role: RoleSource::PortRule
        }
    );
    assert_eq!(t.rec.classify_calls, 1);
    assert_eq!(t.rec.stream(1, S2C), b"+OK\r\n$1\r\nv\r\n");
    assert_eq!(t.rec.stream(1, C2S), b"GET k\r\n");
    assert!(t.rec.gaps().is_empty());
    assert_eq!(t.r.stats().midstream_connections, 1);
    assert_eq!(t.r.stats().segments_ignored, 1);
}

#[test]
fn midstream_bytes_before_the_first_seen_are_not_delivered() {
    let mut t = T::new();
    t.c(0, 1000, None, PSH, b"later");
    t.c(1, 990, None, PSH, b"0123456789");
    assert_eq!(t.rec.stream(1, C2S), b"later");
    assert!(t.rec.gaps().is_empty());
}

#[test]
fn roles_from_probe_and_server_ports() {
    let mut t = T::new();
    t.rec.hint = RoleHint::SrcIsServer;
    t.c(0, 1, None, PSH, b"hello");
    assert!(matches!(
        t.rec.opens()[0],
        Ev::Open { client, server, role: RoleSource::Probe, .. } if client == t.s && server == t.c
    ));
    assert_eq!(t.rec.stream(1, S2C), b"hello");

    let mut t = T::with(ReassemblyConfig {
        server_ports: vec![40000],
        ..ReassemblyConfig::default()
    });
    t.s(0, 1, None, PSH, b"x");
    assert!(matches!(
        t.rec.opens()[0],
        Ev::Open { client, server, role: RoleSource::ServerPort, .. } if client == t.s && server == t.c
    ));
    assert_eq!(t.rec.classify_calls, 0);

    // Equal ports: the destination of the first segment is the server.
    let mut t = T::new();
    t.c = ep("10.0.0.1:7000");
    t.s = ep("10.0.0.2:7000");
    t.s(0, 1, None, PSH, b"x");
    assert!(matches!(
        t.rec.opens()[0],
        Ev::Open { client, role: RoleSource::PortRule, .. } if client == t.s
    ));
}

#[test]
fn roles_from_syn_ack_only() {
    let mut t = T::new();
    // The SYN was not captured.
    t.s(1, 900, Some(101), SYN, b"");
    t.c(2, 101, Some(901), PSH, b"hi");
    t.s(3, 901, Some(103), PSH, b"yo");
    assert_eq!(
        t.rec.opens()[0],
        Ev::Open {
            id: 1,
            client: t.c,
            server: t.s,
            midstream: false,
            role: RoleSource::Handshake
        }
    );
    assert_eq!(t.rec.stream(1, C2S), b"hi");
    assert_eq!(t.rec.stream(1, S2C), b"yo");
    // The late SYN (capture reordering) is not a new connection.
    t.c(4, 100, None, SYN, b"");
    assert_eq!(t.rec.opens().len(), 1);
}

#[test]
fn syn_with_data() {
    let mut t = T::new();
    t.c(0, 100, None, SYN, b"tfo");
    t.s(1, 900, Some(104), SYN, b"");
    t.c(2, 104, Some(901), 0, b"!");
    assert_eq!(t.rec.stream(1, C2S), b"tfo!");
}

#[test]
fn rst_delivers_buffered_bytes_around_the_hole() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), PSH, b"world");
    t.s(20, 901, None, RST, b"");
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(5, GapReason::Closed), b("world")]
    );
    let n = t.rec.ev.len();
    assert_eq!(t.rec.ev[n - 2], Ev::Rst { id: 1, dir: S2C });
    assert!(matches!(
        t.rec.ev[n - 1],
        Ev::Close {
            id: 1,
            reason: CloseReason::Rst,
            ..
        }
    ));
    assert_eq!(t.r.buffered_bytes(), 0);
    assert_eq!(t.r.connection_count(), 0);
    assert_eq!(t.r.stats().closed.rst, 1);
}

#[test]
fn unacceptable_rsts_are_ignored() {
    let mut t = T::new();
    t.c(0, 100, None, SYN, b"");
    // Injected: acknowledges the ISN itself, not the SYN.
    t.s(1, 0, Some(100), RST, b"");
    t.s(2, 900, Some(101), SYN, b"");
    t.c(3, 101, Some(901), PSH, b"hello");
    // Far from the server's stream position.
    t.s(4, 901 + (200 << 20), Some(106), RST, b"");
    t.c(5, 106, Some(901), PSH, b" world");
    assert_eq!(t.rec.stream(1, C2S), b"hello world");
    assert!(t.rec.closes().is_empty());
    assert_eq!(t.r.stats().rst_ignored, 2);
    // A RST at the right place is believed.
    t.s(6, 901, Some(112), RST, b"");
    assert_eq!(t.rec.closes()[0].1, CloseReason::Rst);
}

#[test]
fn refused_connection_closes_by_rst() {
    let mut t = T::new();
    t.c(0, 100, None, SYN, b"");
    t.s(1, 0, Some(101), RST, b"");
    assert_eq!(t.rec.closes()[0].1, CloseReason::Rst);
    assert_eq!(t.rec.ev[1], Ev::Rst { id: 1, dir: S2C });
}

#[test]
fn stray_rst_opens_nothing() {
    let mut t = T::new();
    t.c(0, 1, None, RST, b"");
    assert!(t.rec.ev.is_empty());
    assert_eq!(t.r.stats().segments_ignored, 1);
}

#[test]
fn fin_with_hole_waits_for_the_retransmission_even_after_both_fins() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.c(11, 111, Some(901), FIN, b"");
    t.s(20, 901, Some(101), FIN, b"");
    // Both sides closed, but a retransmission may still come: nothing declared yet.
    assert!(t.rec.gaps().is_empty());
    assert!(t.rec.closes().is_empty());
    t.c(210, 101, Some(902), 0, b"hello");
    assert_eq!(t.rec.stream(1, C2S), b"helloworld");
    assert!(t.rec.gaps().is_empty());
    let closes = t.rec.closes();
    assert_eq!(closes[0].1, CloseReason::Fin);
    assert_eq!(
        closes[0].2.max_retransmission_delay,
        Duration::from_millis(200)
    );
    let n = t.rec.ev.len();
    assert_eq!(t.rec.ev[n - 2], Ev::Fin { id: 1, dir: C2S });
}

#[test]
fn fin_with_nothing_buffered_before_it_times_out() {
    let mut t = T::two_second_holes();
    t.handshake(100, 900);
    t.c(10, 111, Some(901), FIN, b"");
    t.s(11, 901, Some(101), FIN, b"");
    assert!(t.rec.gaps().is_empty());
    t.r.advance_time(ms(2012), &mut t.rec);
    assert_eq!(t.rec.pieces(1, C2S), vec![Gap(10, GapReason::FinWithHole)]);
    assert_eq!(t.rec.closes()[0].1, CloseReason::Fin);
}

#[test]
fn fin_with_hole_declared_at_hole_timeout() {
    let mut t = T::two_second_holes();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.c(11, 111, Some(901), FIN, b"");
    t.r.advance_time(ms(2010), &mut t.rec);
    assert!(t.rec.gaps().is_empty());
    t.r.advance_time(ms(2011), &mut t.rec);
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(5, GapReason::FinWithHole), b("world")]
    );
    assert!(t.rec.ev.contains(&Ev::Fin { id: 1, dir: C2S }));
    assert!(t.rec.closes().is_empty(), "the server has not finished");
    t.finish();
    assert_eq!(t.rec.closes()[0].1, CloseReason::EndOfCapture);
}

#[test]
fn fin_after_hole_filled_is_delivered_in_order() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), FIN, b"world");
    t.c(15, 101, Some(901), 0, b"hello");
    assert_eq!(t.rec.stream(1, C2S), b"helloworld");
    let n = t.rec.ev.len();
    assert_eq!(t.rec.ev[n - 1], Ev::Fin { id: 1, dir: C2S });
    // Bytes claiming to come after the FIN are not part of the stream.
    t.c(16, 111, Some(901), 0, b"junk");
    assert_eq!(t.rec.stream(1, C2S), b"helloworld");
}

#[test]
fn ack_of_unseen_bytes_is_a_gap() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.s(11, 901, Some(111), 0, b"");
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(5, GapReason::AckedUnseen), b("world")]
    );
    // An ACK beyond everything captured.
    t.s(12, 901, Some(121), 0, b"");
    assert_eq!(
        t.rec.gaps().last(),
        Some(&(1, C2S, 10, GapReason::AckedUnseen))
    );
    // Acknowledging what was delivered changes nothing.
    t.s(13, 901, Some(121), 0, b"");
    t.c(14, 121, Some(901), 0, b"!");
    assert_eq!(t.rec.gaps().len(), 2);
    assert_eq!(t.rec.stream(1, C2S), b"world!");
}

#[test]
fn ack_of_fin_is_not_a_gap() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(3, 101, Some(901), FIN, b"bye");
    t.s(4, 901, Some(105), 0, b"");
    assert!(t.rec.gaps().is_empty());
}

#[test]
fn hole_timeout_declares_gap_then_delivers() {
    let mut t = T::two_second_holes();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.r.advance_time(ms(2010), &mut t.rec);
    assert!(t.rec.gaps().is_empty());
    // Any later packet (of any connection) moves capture time on.
    t.c = ep("10.0.0.9:1234");
    t.c(2011, 1, None, PSH, b"other");
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(5, GapReason::HoleTimeout), b("world")]
    );
    let held: Vec<Duration> = t
        .rec
        .data_events()
        .iter()
        .filter(|d| d.0 == 1)
        .map(|d| d.3)
        .collect();
    assert_eq!(held, vec![Duration::from_millis(2001)]);
    assert_eq!(t.r.stats().gaps_by_reason.hole_timeout, 1);
}

#[test]
fn several_holes_time_out_in_order() {
    let mut t = T::two_second_holes();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"bb");
    t.c(20, 111, Some(901), 0, b"cc");
    t.r.advance_time(ms(5000), &mut t.rec);
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![
            Gap(5, GapReason::HoleTimeout),
            b("bb"),
            Gap(3, GapReason::HoleTimeout),
            b("cc")
        ]
    );
    assert_eq!(t.r.buffered_bytes(), 0);
}

#[test]
fn max_connections_evicts_least_recently_active() {
    let mut t = T::with(ReassemblyConfig {
        max_connections: 2,
        ..ReassemblyConfig::default()
    });
    t.c = ep("10.0.0.1:41001");
    t.c(0, 1, None, PSH, b"a1");
    t.c = ep("10.0.0.1:41002");
    t.c(1, 1, None, PSH, b"b1");
    t.c(2, 10, None, PSH, b"b-late"); // buffered behind a hole
    t.c = ep("10.0.0.1:41001");
    t.c(3, 3, None, PSH, b"a2");
    // Opening a third evicts 41002, the least recently active.
    t.c = ep("10.0.0.1:41003");
    t.c(4, 1, None, PSH, b"c1");
    let closes = t.rec.closes();
    assert_eq!(closes.len(), 1);
    assert_eq!((closes[0].0, closes[0].1), (2, CloseReason::Evicted));
    assert_eq!(
        t.rec.pieces(2, C2S),
        vec![b("b1"), Gap(7, GapReason::Eviction), b("b-late")]
    );
    assert_eq!(t.r.stats().evictions, 1);
    assert_eq!(t.r.connection_count(), 2);
    assert_eq!(t.r.stats().peak_connections, 2);
    assert_eq!(t.r.buffered_bytes(), 0);
}

#[test]
fn reorder_budget_skips_oldest_hole() {
    let mut t = T::with(ReassemblyConfig {
        max_conn_buffer_bytes: 100,
        ..ReassemblyConfig::default()
    });
    t.handshake(100, 900);
    let blk = [b'x'; 50];
    t.c(10, 111, Some(901), 0, &blk);
    t.c(11, 161, Some(901), 0, &blk);
    assert!(t.rec.gaps().is_empty());
    t.c(12, 211, Some(901), 0, &blk);
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(10, GapReason::ReorderBudget), Bytes(vec![b'x'; 150])]
    );
    assert_eq!(t.r.buffered_bytes(), 0);
    assert_eq!(t.r.stats().peak_buffered_bytes, 100);
}

#[test]
fn segment_count_budget_skips_oldest_hole() {
    let mut t = T::with(ReassemblyConfig {
        max_segments_per_direction: 2,
        ..ReassemblyConfig::default()
    });
    t.handshake(100, 900);
    t.c(10, 102, Some(901), 0, b"b");
    t.c(11, 104, Some(901), 0, b"d");
    t.c(12, 106, Some(901), 0, b"f");
    // Three pieces > 2: the first hole (1 byte) is skipped; "b" is delivered and the next
    // hole remains.
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(1, GapReason::ReorderBudget), b("b")]
    );
    t.c(13, 103, Some(901), 0, b"c");
    t.c(14, 105, Some(901), 0, b"e");
    assert_eq!(t.rec.stream(1, C2S), b"bcdef");
}

#[test]
fn global_memory_budget_skips_oldest_hole_anywhere() {
    let mut t = T::with(ReassemblyConfig {
        max_total_buffer_bytes: 100,
        ..ReassemblyConfig::default()
    });
    t.c = ep("10.0.0.1:41001");
    t.c(0, 1, None, PSH, b"a");
    t.c(1, 10, None, PSH, &[b'A'; 60]);
    t.c = ep("10.0.0.1:41002");
    t.c(2, 1, None, PSH, b"b");
    t.c(3, 10, None, PSH, &[b'B'; 60]);
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![
            b("a"),
            Gap(8, GapReason::MemoryBudget),
            Bytes(vec![b'A'; 60])
        ]
    );
    assert_eq!(t.rec.pieces(2, C2S), vec![b("b")]);
    assert_eq!(t.r.buffered_bytes(), 60);
}

#[test]
fn backwards_timestamps_are_counted_and_never_negative() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(1000, 101, Some(901), 0, b"abc");
    t.c(500, 104, Some(901), 0, b"def");
    t.c(400, 113, Some(901), 0, b"xyz");
    t.c(300, 107, Some(901), 0, b"ghijkl");
    t.c(200, 101, Some(901), 0, b"abc"); // retransmission, "before" its original
    assert_eq!(t.rec.stream(1, C2S), b"abcdefghijklxyz");
    assert!(t.rec.stalls().is_empty(), "no positive delay was observed");
    let mut last = Timestamp(0);
    for e in &t.rec.ev {
        if let Ev::Data { ts, held, .. } = e {
            assert!(*ts >= last);
            assert_eq!(*held, Duration(0));
            last = *ts;
        }
    }
    assert_eq!(t.r.stats().ts_backwards, 4);
    t.finish();
    assert_eq!(t.rec.closes()[0].2.ts_backwards, 4);
}

#[test]
fn snaplen_truncated_segments_leave_gaps() {
    let mut t = T::new();
    t.handshake(100, 900);
    // In order: 4 of 10 bytes captured.
    t.seg_full(true, ms(10), 101, Some(901), 0, b"abcd", Some(10));
    t.c(11, 111, Some(901), 0, b"xyz");
    // Out of order: 2 of 5 captured, then the bytes before it arrive.
    t.seg_full(true, ms(12), 124, Some(901), 0, b"pq", Some(5));
    t.c(13, 114, Some(901), 0, b"0123456789");
    t.c(14, 129, Some(901), 0, b"!");
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![
            b("abcd"),
            Gap(6, GapReason::SnaplenTruncated),
            b("xyz0123456789pq"),
            Gap(3, GapReason::SnaplenTruncated),
            b("!")
        ]
    );
}

#[test]
fn conflicting_overlap_is_counted_and_first_copy_wins() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.c(11, 104, Some(901), 0, b"XXYYY");
    t.c(12, 101, Some(901), 0, b"hel");
    assert_eq!(t.rec.stream(1, C2S), b"helXXworld");
    t.finish();
    let st = &t.rec.closes()[0].2;
    // Bytes, not segments: "YYY" against "wor".
    assert_eq!(st.overlap_conflicts, 3);
    assert_eq!(st.retransmitted_segments, 1);
    assert_eq!(st.retransmitted_bytes, 3);
}

#[test]
fn conflict_with_delivered_bytes_is_counted_within_the_window() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 101, Some(901), PSH, b"hello world");
    // Same bytes again: a plain retransmission.
    t.c(11, 101, Some(901), PSH, b"hello world");
    assert_eq!(t.r.stats().overlap_conflicts, 0);
    // Two bytes differ from what was delivered; the first copy stays.
    t.c(12, 101, Some(901), PSH, b"hellO_world");
    assert_eq!(t.r.stats().overlap_conflicts, 2);
    // Partly new: only the old part is compared.
    t.c(13, 107, Some(901), PSH, b"WORLD!");
    assert_eq!(t.r.stats().overlap_conflicts, 7);
    assert_eq!(t.rec.stream(1, C2S), b"hello world!");
    // A keep-alive probe (one garbage byte just before the stream position) is no conflict.
    t.c(14, 112, Some(901), ACK, b"\0");
    assert_eq!(t.r.stats().overlap_conflicts, 7);
    // Bytes older than the window are not compared (documented).
    t.c(15, 113, Some(901), PSH, &[b'x'; WINDOW]);
    t.c(16, 101, Some(901), PSH, b"HELLO WORLD");
    assert_eq!(t.r.stats().overlap_conflicts, 7);
    // After a gap, the window holds only what was delivered since.
    t.c(17, 113 + WINDOW as u32 + 10, Some(901), PSH, b"abc");
    t.s(18, 901, Some(113 + WINDOW as u32 + 13), ACK, b"");
    assert_eq!(t.rec.gaps().len(), 1);
    t.c(19, 113 + WINDOW as u32 + 5, Some(901), PSH, b"zzzzzXbc");
    assert_eq!(t.r.stats().overlap_conflicts, 8);
    t.finish();
    let st = &t.rec.closes()[0].2;
    assert_eq!(st.overlap_conflicts, 8);
    assert_eq!(st.retransmitted_segments, 6);
}

#[test]
fn syn_ack_with_a_new_isn_is_not_a_retransmission() {
    // The client retransmits its SYN; the server answers afresh with another ISN, and the
    // client acknowledges that one: the stream follows it.
    let mut t = T::new();
    t.c(0, 100, None, SYN, b"");
    t.s(1, 900, Some(101), SYN, b"");
    t.c(1000, 100, None, SYN, b"");
    t.s(1001, 5000, Some(101), SYN, b"");
    t.c(1002, 101, Some(5001), 0, b"");
    t.s(1003, 5001, Some(101), PSH, b"+OK\r\n");
    t.c(1004, 101, Some(5006), PSH, b"hi");
    assert_eq!(t.rec.stream(1, S2C), b"+OK\r\n");
    assert_eq!(t.rec.stream(1, C2S), b"hi");
    assert!(t.rec.gaps().is_empty(), "{:?}", t.rec.gaps());
    assert_eq!(t.rec.opens().len(), 1);
    t.finish();
    let st = &t.rec.closes()[0].2;
    // Only the client's SYN (same ISN) was retransmitted.
    assert_eq!(st.retransmitted_segments, 1);

    // Same, but the client acknowledges the first SYN-ACK: the stream stays on it.
    let mut t = T::new();
    t.c(0, 100, None, SYN, b"");
    t.s(1, 900, Some(101), SYN, b"");
    t.s(2, 5000, Some(101), SYN, b"");
    t.c(3, 101, Some(901), 0, b"");
    t.s(4, 901, Some(101), PSH, b"+OK\r\n");
    assert_eq!(t.rec.stream(1, S2C), b"+OK\r\n");
    assert!(t.rec.gaps().is_empty());
    t.finish();
    assert_eq!(t.rec.closes()[0].2.retransmitted_segments, 0);
}

#[test]
fn idle_connections_close() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 101, Some(901), 0, b"a");
    t.r.advance_time(ms(300_010), &mut t.rec);
    assert!(t.rec.closes().is_empty());
    t.r.advance_time(ms(300_011), &mut t.rec);
    assert_eq!(t.rec.closes()[0].1, CloseReason::IdleTimeout);
    assert_eq!(t.r.connection_count(), 0);
    // A later packet opens a new, mid-stream connection.
    t.c(300_020, 102, Some(901), 0, b"b");
    assert_eq!(t.rec.opens().len(), 2);
    assert_eq!(t.rec.stream(2, C2S), b"b");
}

#[test]
fn finish_declares_pending_holes_and_closes_everything() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 106, Some(901), 0, b"world");
    t.c = ep("10.0.0.1:1");
    t.c(11, 1, None, PSH, b"z");
    t.finish();
    assert_eq!(
        t.rec.pieces(1, C2S),
        vec![Gap(5, GapReason::EndOfCapture), b("world")]
    );
    let closes = t.rec.closes();
    assert_eq!(closes.len(), 2);
    assert_eq!((closes[0].0, closes[0].1), (1, CloseReason::EndOfCapture));
    assert_eq!(closes[1].0, 2);
    assert_eq!(t.r.connection_count(), 0);
    assert_eq!(t.r.buffered_bytes(), 0);
    assert_eq!(t.r.stats().closed.end_of_capture, 2);
}

#[test]
fn far_future_segment_is_out_of_window() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 101 + (1 << 30) + 5, Some(901), 0, b"bogus");
    assert_eq!(t.r.buffered_bytes(), 0);
    assert_eq!(t.r.stats().out_of_window_segments, 1);
}

#[test]
fn stats_serialize() {
    let mut t = T::new();
    t.handshake(100, 900);
    t.c(10, 101, Some(901), 0, b"a");
    t.finish();
    let json = serde_json::to_string(t.r.stats()).expect("serialize");
    assert!(json.contains("\"connections_opened\":1"));
    let st = serde_json::to_string(&t.rec.closes()[0].2).expect("serialize");
    assert!(st.contains("\"max_retransmission_delay_us\":0"));
    assert!(st.contains("\"close_reason\":\"end_of_capture\""));
}

#[test]
fn ipv6_connection() {
    let mut t = T::new();
    t.c = ep("[fd77::2]:40003");
    t.s = ep("[fd77::1]:9000");
    t.handshake(7, 9);
    t.c(3, 8, Some(10), PSH, b"v6 hello");
    t.s(4, 10, Some(16), PSH, b"v6 reply");
    t.c(5, 16, Some(18), FIN, b"");
    t.s(6, 18, Some(17), FIN, b"");
    assert_eq!(t.rec.stream(1, C2S), b"v6 hello");
    assert_eq!(t.rec.stream(1, S2C), b"v6 reply");
    assert_eq!(t.rec.closes()[0].1, CloseReason::Fin);
}
