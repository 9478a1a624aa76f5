#!/usr/bin/env bash
# The appliance on a self-contained default, no NIC or hugepages needed.
#
# As root: the live demo. Builds the network-namespace topology of the
# end-to-end tests (scripts/netns.sh, docs/end-to-end.md): a client, a
# router, ferrolb on two net_af_packet ports, three real servers (HTTP, TCP
# and UDP echo) behind it. Starts ferrolb (FULLNAT, wrr 1:2:3) and
# `ferrolbctl daemon` (HTTP health checks), sends requests from the client
# namespace printing which server answered each, shows
# `ferrolbctl list --stats`, and tears everything down.
#
# Without root: the pcap demo. Two DPDK net_pcap ports; generates sample
# client traffic, runs ferrolb until the input is drained, and shows what
# came out where.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

bin=${CARGO_TARGET_DIR:-target}/release

live_demo() {
  # Global, for the EXIT trap.
  name="demo$$" pids=()
  local dir
  mkdir -p target/demo/live
  dir=$(cd target/demo/live && pwd)
  rm -f "$dir"/*
  teardown() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    scripts/netns.sh down "$name" || true
  }
  trap teardown EXIT

  echo "== topology: scripts/netns.sh up $name fullnat"
  scripts/netns.sh up "$name" fullnat
  cat <<'PICTURE'

   client 10.0.0.2 --- router --- [ferrolb: ext 10.0.2.1 | lan 10.0.1.1] --- LAN bridge
                          |                                                   |  |  |
                          +---------------- 10.0.1.254 on the LAN ------------+  |  |
                                                                   s1 10.0.1.11 s2 .12 s3 .13
   VIP 192.0.2.10:80 (FULLNAT, wrr 1:2:3, local addresses 10.0.1.100-101)
PICTURE
  local i=1 s
  for s in s1 s2 s3; do
    ip netns exec "$name-$s" "$bin/e2e-server" --name "$s" --http 80 --tcp-echo 7007 --udp-echo 7007 \
      2>"$dir/$s.log" &
    pids+=($!)
  done

  cat > "$dir/ferrolb.toml" <<TOML
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry",
        "--file-prefix", "ferrolb-demo-$$", "--log-level", "*:warning"]
main_lcore = 0

[control]
socket = "$dir/ferrolb.sock"

[[port]]
name = "ext"
device = "net_af_packet0,iface=ext,framecnt=4096"
mac = "02:00:00:00:02:01"

[[port]]
name = "lan"
device = "net_af_packet1,iface=lan,framecnt=4096"
mac = "02:00:00:00:01:01"

[workers]
cores = [$(( $(nproc) > 1 ? 1 : 0 ))]

[sessions]
capacity = 65536

[[interface]]
port = "ext"
addresses = ["10.0.2.1/24"]

[[interface]]
port = "lan"
addresses = ["10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.2.254"

[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
scheduler = "wrr"
local_addresses = ["10.0.1.100", "10.0.1.101"]
check = { type = "http", path = "/healthz", interval_ms = 500, timeout_ms = 300, rise = 2, fall = 2 }

[[service.backend]]
address = "10.0.1.11"
weight = 1

[[service.backend]]
address = "10.0.1.12"
weight = 2

[[service.backend]]
address = "10.0.1.13"
weight = 3
TOML
  echo
  echo "== ferrolb in namespace $name-lb: $bin/ferrolb -c $dir/ferrolb.toml"
  ip netns exec "$name-lb" "$bin/ferrolb" -c "$dir/ferrolb.toml" >"$dir/ferrolb.out" 2>"$dir/ferrolb.err" &
  pids+=($!)
  local ctl=("$bin/ferrolbctl" -s "$dir/ferrolb.sock") n=0
  until "${ctl[@]}" hello >/dev/null 2>&1; do
    n=$((n + 1))
    if [ "$n" -gt 300 ]; then
      echo "demo: ferrolb did not start:" >&2; cat "$dir/ferrolb.err" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "== health checks: ferrolbctl daemon -c $dir/ferrolb.toml (in the router namespace)"
  ip netns exec "$name-router" "$bin/ferrolbctl" daemon -c "$dir/ferrolb.toml" 2>"$dir/daemon.log" &
  pids+=($!)
  sleep 1

  echo
  echo "== 12 requests from the client namespace: curl-like GET http://192.0.2.10/"
  ip netns exec "$name-client" "$bin/e2e-client" http --target 192.0.2.10:80 --count 12 --interval-ms 100 |
    awk '$1 == "ok" { split($2, i, "="); split($4, s, "="); split($5, p, "=");
                      printf "  request %2d answered by %s (which saw the connection come from %s)\n", i[2] + 1, s[2], p[2] }
         $1 == "fail" { print "  " $0 }'
  echo
  echo "== 588 more, quietly (the weights are 1:2:3)"
  ip netns exec "$name-client" "$bin/e2e-client" http --target 192.0.2.10:80 --count 588 --quiet |
    sed -n 's/^done /  /p'
  echo
  echo "== ferrolbctl list --stats"
  "${ctl[@]}" list --stats
  echo
  echo "== daemon log"
  sed 's/^/  /' "$dir/daemon.log"
  echo
  echo "== tearing down (scripts/netns.sh down $name)"
}

if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
  live_demo
  exit 0
fi
echo "demo: not root, so no network namespaces: running the pcap demo instead (sudo $0 for the live one)"
echo

demo=target/demo
mkdir -p "$demo"
rm -f "$demo"/*.pcap
dir=$(cd "$demo" && pwd)
"$bin/trafficgen" -o "$dir/client.in.pcap" --flows 300 --seed 1 --vip 192.0.2.10 --port 80
"$bin/trafficgen" -o "$dir/servers.in.pcap" --empty

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
echo "== running: $bin/ferrolb -c $dir/ferrolb.toml --exit-when-idle"
"$bin/ferrolb" -c "$dir/ferrolb.toml" --exit-when-idle | tee "$dir/report.txt"
echo
echo "== which backend got what (weights 1:2:3)"
awk '$1 ~ /^be:/ { split($1, k, "/"); printf "  %-18s %6d connections %7d packets\n", k[3], $2, $4 }' "$dir/report.txt"
echo
echo "== output files"
ls -l "$dir"/*.out.pcap
