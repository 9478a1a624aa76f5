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
dir=$(cd "$demo" && pwd)
target/release/trafficgen -o "$dir/client.in.pcap" --count 10000 --seed 1
target/release/trafficgen -o "$dir/server.in.pcap" --empty

cat > "$dir/ferrolb.toml" <<TOML
# Two virtual ports: frames received on "client" leave by "server" with
# their MAC addresses swapped (testpmd's macswap), until the pipeline lands.
[eal]
args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry",
        "--file-prefix", "ferrolb-demo-$$", "--log-level", "*:warning"]

[[port]]
name = "client"
device = "net_pcap0,rx_pcap=$dir/client.in.pcap,tx_pcap=$dir/client.out.pcap"

[[port]]
name = "server"
device = "net_pcap1,rx_pcap=$dir/server.in.pcap,tx_pcap=$dir/server.out.pcap"

[workers]
cores = [$(( $(nproc) > 1 ? 1 : 0 ))]

[forward]
mode = "macswap"
topology = "paired"
TOML

echo
echo "== config: $dir/ferrolb.toml"
grep -v '^#' "$dir/ferrolb.toml" | sed '/^$/d'
echo
echo "== running: target/release/ferrolb -c $dir/ferrolb.toml --exit-when-idle"
target/release/ferrolb -c "$dir/ferrolb.toml" --exit-when-idle
echo
echo "== output files"
ls -l "$dir"/*.out.pcap
