//! `trafficgen`: writes a pcap of deterministic test traffic.
//!
//! `trafficgen -o in.pcap --count 10000 --seed 1` writes the mixed client
//! traffic the replay tests use (TCP handshakes and data, UDP, ICMP echo;
//! 54 to 1454 bytes). `--flows N --vip 192.0.2.10 --port 80` writes N
//! short client TCP connections to a service instead (the demo's traffic).
//! `--empty` writes a pcap with no packets, for ports that only transmit.

use std::path::PathBuf;

use clap::Parser;
use ferrolb_perf::{frames, pcap};

#[derive(Parser, Debug)]
#[command(about = "Write a pcap file of deterministic test traffic")]
struct Args {
    /// Output pcap file.
    #[arg(short, long)]
    output: PathBuf,
    /// Number of frames.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Seed; the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// Write no packets at all.
    #[arg(long)]
    empty: bool,
    /// Write this many client TCP connections (SYN, request, FIN) to
    /// `--vip`:`--port` instead of the mixed traffic.
    #[arg(long)]
    flows: Option<usize>,
    #[arg(long, default_value = "192.0.2.10")]
    vip: std::net::Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    port: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let traffic = if args.empty {
        Vec::new()
    } else if let Some(flows) = args.flows {
        frames::client_flows(flows, args.seed, args.vip.octets(), args.port)
    } else {
        frames::mixed_traffic(args.count, args.seed)
    };
    pcap::write(&args.output, &traffic);
    let bytes: usize = traffic.iter().map(Vec::len).sum();
    println!(
        "trafficgen: wrote {} frames ({bytes} bytes) to {}",
        traffic.len(),
        args.output.display()
    );
    Ok(())
}
