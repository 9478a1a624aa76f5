#!/usr/bin/env bash
# The appliance on a self-contained default: two DPDK net_pcap ports, no NIC
# or hugepages. Generates sample client traffic, runs ferrolb until the
# input is drained, and shows what came out where.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

demo=target/demo
mkdir -p "$demo"
rm -f "$demo"/*.pcap
dir=$(cd "$demo" && pwd)
target/release/trafficgen -o "$dir/client.in.pcap" --flows 300 --seed 1 --vip 192.0.2.10 --port 80
target/release/trafficgen -o "$dir/servers.in.pcap" --empty

cat > "$dir/ferrolb.toml" <<TOML
# A FULLNAT web service on two virtual ports: client connections arrive on
# "client" (from the router 10.0.0.254), leave rewritten on "servers" towards
# three real servers, each from a local address and port of ours.
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry",
        "--file-prefix", "ferrolb-demo-$$", "--log-level", "*:warning"]

[control]
socket = "$dir/ferrolb.sock"    # ferrolbctl -s $dir/ferrolb.sock list

[[port]]
name = "client"
device = "net_pcap0,rx_pcap=$dir/client.in.pcap,tx_pcap=$dir/client.out.pcap"
mac = "02:00:00:00:00:fe"

[[port]]
name = "servers"
device = "net_pcap1,rx_pcap=$dir/servers.in.pcap,tx_pcap=$dir/servers.out.pcap"
mac = "02:00:00:00:01:fe"

[workers]
cores = [$(( $(nproc) > 1 ? 1 : 0 ))]

[sessions]
capacity = 65536

[[interface]]
port = "client"
addresses = ["10.0.0.1/24"]

[[interface]]
port = "servers"
addresses = ["10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:01"

[[neighbour]]
address = "10.0.1.11"
mac = "02:00:00:00:01:0b"

[[neighbour]]
address = "10.0.1.12"
mac = "02:00:00:00:01:0c"

[[neighbour]]
address = "10.0.1.13"
mac = "02:00:00:00:01:0d"

[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
scheduler = "wrr"
local_addresses = ["10.0.1.100", "10.0.1.101"]

[[service.backend]]
address = "10.0.1.11"
port = 8080
weight = 1

[[service.backend]]
address = "10.0.1.12"
port = 8080
weight = 2

[[service.backend]]
address = "10.0.1.13"
port = 8080
weight = 3
TOML

echo
echo "== config: $dir/ferrolb.toml"
grep -v '^#' "$dir/ferrolb.toml" | sed '/^$/d'
echo
echo "== running: target/release/ferrolb -c $dir/ferrolb.toml --exit-when-idle"
target/release/ferrolb -c "$dir/ferrolb.toml" --exit-when-idle | tee "$dir/report.txt"
echo
echo "== which backend got what (weights 1:2:3)"
awk '$1 ~ /^be:/ { split($1, k, "/"); printf "  %-18s %6d connections %7d packets\n", k[3], $2, $4 }' "$dir/report.txt"
echo
echo "== output files"
ls -l "$dir"/*.out.pcap
