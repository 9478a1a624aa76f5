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
    /// Write `--count` spoofed SYNs to `--vip`:`--port` instead (sources
    /// from 100.64.0.0/10), from `--src-mac` to `--dst-mac`.
    #[arg(long)]
    syn_flood: bool,
    #[arg(long, value_parser = parse_mac, default_value = "02:00:00:00:00:01")]
    src_mac: [u8; 6],
    #[arg(long, value_parser = parse_mac, default_value = "02:00:00:00:00:fe")]
    dst_mac: [u8; 6],
}

/// `aa:bb:cc:dd:ee:ff`.
fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).map_err(|e| format!("{s}: {e}")))
        .collect::<Result<_, _>>()?;
    bytes.try_into().map_err(|_| format!("{s}: not six bytes"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let traffic = if args.empty {
        Vec::new()
    } else if args.syn_flood {
        let macs = (args.src_mac, args.dst_mac);
        frames::syn_flood(args.count, args.seed, macs, args.vip.octets(), args.port)
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
