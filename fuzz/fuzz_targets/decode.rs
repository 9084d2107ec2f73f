//! Packet-decoding fuzz target: the input is read both as a capture file (pcap or pcapng,
//! through `CaptureReader` and `Decoder`) and as one raw Ethernet frame. Nothing may panic and
//! every packet must be accounted for. The input is cut to 64 KiB (captures cost per byte).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use wiresift_core::Timestamp;
use wiresift_net::{CaptureReader, Decoder, LinkType, RawPacket};

fuzz_target!(|data: &[u8]| {
    let data = wiresift_fuzz::cap(data, 64 << 10);
    // As a capture file. Cap the packet count so a tiny input cannot loop for long.
    if let Ok(mut reader) = CaptureReader::from_read(Box::new(Cursor::new(data.to_vec()))) {
        let mut decoder = Decoder::default();
        let mut n = 0;
        while let Ok(Some(pkt)) = reader.next_packet() {
            if let Some(seg) = decoder.decode(&pkt) {
                assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
            }
            n += 1;
            if n > 10_000 {
                break;
            }
        }
        decoder.finish();
        assert!(decoder.stats().accounted());
    }

    // As one frame on each link type the decoder knows, Ethernet first.
    let mut decoder = Decoder::default();
    for link in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::RAW,
        LinkType::NFLOG,
    ] {
        let pkt = RawPacket {
            ts: Timestamp(0),
            link_type: link,
            data,
            orig_len: data.len() as u32,
            interface: 0,
        };
        if let Some(seg) = decoder.decode(&pkt) {
            assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
        }
    }
    decoder.finish();
    assert!(decoder.stats().accounted());
});
