//! Model-based proptest: two random byte streams, randomly segmented, duplicated, overlapped
//! by retransmissions and reordered, must come out exactly; with segments dropped, gaps must
//! appear exactly where no copy of a byte was captured.
//!
//! The reference model is deliberately simple: a per-direction "was this byte in any captured
//! segment" bitmap. The expected output of a direction is the sequence of covered runs (their
//! bytes) and uncovered runs (a gap of that length), from the first byte to the FIN.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

#[derive(Debug, Clone)]
struct Plan {
    streams: [Vec<u8>; 2],
    isn: [u32; 2],
    /// Segment sizes, used cyclically to cut each stream.
    cuts: Vec<usize>,
    /// Extra copies: (client?, start, length) — retransmissions overlapping anything.
    extra: Vec<(bool, Index, usize)>,
    /// Sort keys giving the capture order.
    keys: Vec<u32>,
    drop: Vec<bool>,
    dup: Vec<bool>,
    handshake: bool,
}

fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (u32::MAX - 2000)..=u32::MAX,
        (0x7fff_f000u32..0x8000_1000),
    ]
}

prop_compose! {
    fn plan(drop_p: f64)(
        c in prop::collection::vec(any::<u8>(), 0..1500),
        s in prop::collection::vec(any::<u8>(), 0..1500),
        cisn in isn(),
        sisn in isn(),
        cuts in prop::collection::vec(1usize..300, 1..20),
        extra in prop::collection::vec((any::<bool>(), any::<Index>(), 1usize..400), 0..10),
        keys in prop::collection::vec(any::<u32>(), 1..64),
        drop in prop::collection::vec(prop::bool::weighted(drop_p), 1..64),
        dup in prop::collection::vec(prop::bool::weighted(0.15), 1..64),
        handshake in prop::bool::weighted(0.8),
    ) -> Plan {
        Plan { streams: [c, s], isn: [cisn, sisn], cuts, extra, keys, drop, dup, handshake }
    }
}

#[derive(Debug, Clone, Copy)]
struct Seg {
    client: bool,
    off: usize,
    len: usize,
}

/// What one direction should look like: bytes and gap lengths, adjacent runs merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    B(Vec<u8>),
    G(u64),
}

fn normalise(pieces: Vec<Piece>) -> Vec<Out> {
    let mut v: Vec<Out> = Vec::new();
    for p in pieces {
        match (v.last_mut(), p) {
            (Some(Out::B(b)), Piece::Bytes(x)) => b.extend_from_slice(&x),
            (Some(Out::G(g)), Piece::Gap(n, _)) => *g += n,
            (_, Piece::Bytes(x)) => v.push(Out::B(x)),
            (_, Piece::Gap(n, _)) => v.push(Out::G(n)),
        }
    }
    v
}

fn expected(stream: &[u8], covered: &[bool]) -> Vec<Out> {
    let mut v: Vec<Out> = Vec::new();
    for (i, &c) in covered.iter().enumerate() {
        match (v.last_mut(), c) {
            (Some(Out::B(b)), true) => b.push(stream[i]),
            (Some(Out::G(g)), false) => *g += 1,
            (_, true) => v.push(Out::B(vec![stream[i]])),
            (_, false) => v.push(Out::G(1)),
        }
    }
    v
}

struct Run {
    t: T,
    covered: [Vec<bool>; 2],
}

fn run(p: &Plan) -> Run {
    let mut t = T::new();
    let [cisn, sisn] = p.isn;
    let mut base: Vec<Seg> = Vec::new();
    for (d, stream) in p.streams.iter().enumerate() {
        let mut off = 0;
        let mut i = 0;
        while off < stream.len() {
            let n = p.cuts[i % p.cuts.len()].min(stream.len() - off);
            base.push(Seg {
                client: d == 0,
                off,
                len: n,
            });
            off += n;
            i += 1;
        }
    }
    // Mid-stream pickup: each direction's first segment is captured first, so the stream
    // starts where the model's does.
    let mut first: Vec<Seg> = Vec::new();
    let mut rest: Vec<(u32, usize, Seg)> = Vec::new();
    let push = |rest: &mut Vec<(u32, usize, Seg)>, s: Seg| {
        let i = rest.len();
        rest.push((p.keys[i % p.keys.len()], i, s));
    };
    for (i, s) in base.iter().enumerate() {
        if !p.handshake && s.off == 0 {
            first.push(*s);
            continue;
        }
        if !p.drop[i % p.drop.len()] {
            push(&mut rest, *s);
        }
        if p.dup[i % p.dup.len()] {
            push(&mut rest, *s);
        }
    }
    for (client, idx, n) in &p.extra {
        let stream = &p.streams[usize::from(!client)];
        if stream.is_empty() {
            continue;
        }
        let off = idx.index(stream.len());
        let len = (*n).min(stream.len() - off);
        push(
            &mut rest,
            Seg {
                client: *client,
                off,
                len,
            },
        );
    }
    rest.sort_by_key(|&(k, i, _)| (k, i));

    if p.handshake {
        t.handshake(cisn, sisn);
    }
    let mut covered = [
        vec![false; p.streams[0].len()],
        vec![false; p.streams[1].len()],
    ];
    let mut prefix = [0usize; 2];
    let order = first.into_iter().chain(rest.into_iter().map(|(_, _, s)| s));
    for (i, s) in order.enumerate() {
        let d = usize::from(!s.client);
        let o = 1 - d;
        // The receiver acknowledges what it has contiguously: never more than was captured.
        let ack = p.isn[o].wrapping_add(1).wrapping_add(prefix[o] as u32);
        let seq = p.isn[d].wrapping_add(1).wrapping_add(s.off as u32);
        let data = &p.streams[d][s.off..s.off + s.len];
        t.seg_full(s.client, ms(3 + i as u64), seq, Some(ack), PSH, data, None);
        covered[d][s.off..s.off + s.len].fill(true);
        while prefix[d] < covered[d].len() && covered[d][prefix[d]] {
            prefix[d] += 1;
        }
    }
    // FINs after every data segment (at most ~130 packets at 1 ms): well inside hole_timeout,
    // so no hole is given up on before every copy was captured.
    let end_t = 600;
    for (d, client) in [(0usize, true), (1, false)] {
        let o = 1 - d;
        let seq = p.isn[d]
            .wrapping_add(1)
            .wrapping_add(p.streams[d].len() as u32);
        let ack = p.isn[o].wrapping_add(1).wrapping_add(prefix[o] as u32);
        t.seg_full(client, ms(end_t + d as u64), seq, Some(ack), FIN, b"", None);
    }
    // Holes left behind the FINs time out as FinWithHole and the connection closes by FIN.
    let later = ms(end_t).saturating_add(ReassemblyConfig::default().hole_timeout);
    t.r.advance_time(later.saturating_add(Duration::from_secs(1)), &mut t.rec);
    t.finish();
    Run { t, covered }
}

fn check(p: &Plan, r: &Run, allow_gaps: bool) -> Result<(), TestCaseError> {
    let rec = &r.t.rec;
    let opened = rec.opens().len();
    let any_data = !p.streams[0].is_empty() || !p.streams[1].is_empty();
    if !p.handshake && !any_data {
        prop_assert_eq!(opened, 0);
        return Ok(());
    }
    prop_assert_eq!(opened, 1, "exactly one connection");
    for (d, dir) in [(0usize, C2S), (1, S2C)] {
        let got = normalise(rec.pieces(1, dir));
        let want = expected(&p.streams[d], &r.covered[d]);
        prop_assert_eq!(got, want, "direction {}", dir.short());
    }
    for (_, _, _, reason) in rec.gaps() {
        prop_assert!(allow_gaps, "unexpected gap");
        prop_assert_eq!(reason, GapReason::FinWithHole);
    }
    let closes = rec.closes();
    prop_assert_eq!(closes.len(), 1);
    prop_assert_eq!(closes[0].1, CloseReason::Fin);
    prop_assert_eq!(
        closes[0].2.bytes,
        [
            r.covered[0].iter().filter(|&&c| c).count() as u64,
            r.covered[1].iter().filter(|&&c| c).count() as u64
        ]
    );
    prop_assert_eq!(r.t.r.buffered_bytes(), 0);
    prop_assert_eq!(r.t.r.connection_count(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reordered_duplicated_overlapping_segments_reassemble_exactly(p in plan(0.0)) {
        let r = run(&p);
        prop_assert!(r.covered.iter().all(|c| c.iter().all(|&b| b)));
        check(&p, &r, false)?;
    }

    #[test]
    fn dropped_segments_become_gaps_exactly_where_bytes_are_missing(p in plan(0.25)) {
        let r = run(&p);
        check(&p, &r, true)?;
    }
}
