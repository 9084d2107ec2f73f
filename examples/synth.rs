//! Write a synthetic in-order Ethernet/IPv4/TCP capture (Redis-like SET/GET exchanges) for
//! benchmarks and memory tests. `cargo run --release --example synth -- OUT.pcap SIZE_MB`

use std::io::BufWriter;
use std::process::ExitCode;
use wiresift::synth::{write_pcap, SynthConfig};

const USAGE: &str = "usage: synth OUT.pcap SIZE_MB\n\nWrite a synthetic in-order \
Ethernet/IPv4/TCP capture of about SIZE_MB MiB (64 interleaved Redis-like connections).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (Some(path), Some(mb)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let cfg = SynthConfig {
        target_bytes: mb << 20,
        ..SynthConfig::default()
    };
    let r = std::fs::File::create(path)
        .and_then(|f| write_pcap(&mut BufWriter::with_capacity(1 << 20, f), &cfg));
    match r {
        Ok(n) => {
            eprintln!("wrote {n} bytes to {path}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synth: {path}: {e}");
            ExitCode::from(1)
        }
    }
}
