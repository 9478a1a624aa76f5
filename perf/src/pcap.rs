//! Reading and writing pcap files for replay cases (pcap-file does the
//! format; net_pcap writes nanosecond-resolution files, which it reads).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, TsResolution};

/// Writes Ethernet frames, one microsecond apart.
pub fn write(path: &Path, frames: &[Vec<u8>]) {
    let file = File::create(path).expect("create pcap");
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let pkt = PcapPacket::new(Duration::from_micros(i as u64), f.len() as u32, f);
        w.write_packet(&pkt).expect("write packet");
    }
}

/// Reads every frame of a pcap file (any timestamp resolution).
pub fn read(path: &Path) -> Vec<Vec<u8>> {
    let file = File::open(path).expect("open pcap");
    let mut r = PcapReader::new(file).expect("pcap header");
    let mut frames = Vec::new();
    while let Some(pkt) = r.next_packet() {
        frames.push(pkt.expect("pcap packet").data.into_owned());
    }
    frames
}

/// The timestamp resolution a pcap file declares.
pub fn resolution(path: &Path) -> TsResolution {
    let file = File::open(path).expect("open pcap");
    PcapReader::new(file)
        .expect("pcap header")
        .header()
        .ts_resolution
}
