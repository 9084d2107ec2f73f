//! Every public capture in `../shared/pcaps` (when present) through the whole pipeline with
//! every plugin: no panic, every packet accounted for, every connection opened is closed, and a
//! damaged copy of each capture is processed up to the damage and then reported.

use std::path::{Path, PathBuf};
use wiresift::net::CaptureReader;
use wiresift::{Discard, Engine, EngineConfig};

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    p.is_dir().then_some(p)
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            out.push(p);
        }
    }
}

fn run_bytes(bytes: Vec<u8>) -> (wiresift::RunSummary, bool) {
    let Ok(mut reader) = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes))) else {
        return (
            Engine::new(
                EngineConfig::default(),
                wiresift::default_registry(),
                Discard,
            )
            .summary(),
            false,
        );
    };
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Discard,
    );
    let ok = engine.run(&mut reader, |_| {}).is_ok();
    (engine.summary(), ok)
}

#[test]
fn every_shared_capture_is_accounted_for() {
    let Some(dir) = shared() else {
        eprintln!("../shared/pcaps not present: skipped");
        return;
    };
    let mut files = Vec::new();
    captures(&dir, &mut files);
    files.sort();
    assert!(
        files.len() > 100,
        "expected the shared corpus, found {}",
        files.len()
    );
    let (mut packets, mut transactions, mut readable) = (0u64, 0u64, 0usize);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let (s, ok) = run_bytes(bytes.clone());
        let name = f.strip_prefix(&dir).unwrap().display().to_string();
        assert!(
            s.decode.accounted(),
            "{name}: decode outcomes do not sum to packets: {:?}",
            s.decode
        );
        let opened = s.reassembly.connections_opened;
        let closed: u64 = serde_json::to_value(&s.reassembly.closed)
            .unwrap()
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        assert_eq!(
            opened, closed,
            "{name}: connections opened {opened} != closed {closed}"
        );
        if ok {
            readable += 1;
        }
        packets += s.decode.packets;
        transactions += s.dissect.transactions;

        // The same capture cut in the middle of a record: processed up to the damage, then an
        // error (never a panic, never silently "fine" unless the cut fell on a boundary).
        if bytes.len() > 64 {
            let cut = bytes[..bytes.len() * 2 / 3].to_vec();
            let (s2, _) = run_bytes(cut);
            assert!(s2.decode.accounted(), "{name} (cut): not accounted");
            assert!(
                s2.decode.packets <= s.decode.packets,
                "{name} (cut): more packets than whole"
            );
        }
    }
    eprintln!(
        "{} captures ({readable} read to the end), {packets} packets, {transactions} transactions",
        files.len()
    );
    // One capture (gopacket test901, SHB version 2.0) is rejected by design.
    assert!(
        readable + 3 >= files.len(),
        "too many unreadable captures: {readable}/{}",
        files.len()
    );
}

#[test]
fn random_and_truncated_inputs_never_panic() {
    // Deterministic xorshift noise, raw and behind valid pcap/pcapng magics.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let magics: [&[u8]; 3] = [
        &[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        &[],
    ];
    for round in 0..300 {
        let len = (next() % 4096) as usize;
        let mut v: Vec<u8> = magics[round % 3].to_vec();
        v.extend((0..len).map(|_| next() as u8));
        let (s, _) = run_bytes(v);
        assert!(s.decode.accounted());
    }
}
