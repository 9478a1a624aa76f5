#!/usr/bin/env bash
# The end-to-end topology: real Linux TCP/IP stacks in network namespaces
# around ferrolb (docs/end-to-end.md). Needs root and iproute2 (+ ethtool).
#
#   scripts/netns.sh up NAME MODE   # build run NAME for MODE (dr | nat | fullnat | snat)
#   scripts/netns.sh down NAME      # remove run NAME, whatever state it is in
#   scripts/netns.sh list           # runs that exist (their NAME)
#   scripts/netns.sh kernel NAME    # before ferrolb starts with kernel interfaces
#   scripts/netns.sh kernel-route NAME  # once they exist: the lb host's routes
#   scripts/netns.sh ipv6 NAME      # IPv6 on the router's and s1's links to ferrolb
#   scripts/netns.sh ipv6dr NAME    # a `dr` run's client, router and servers over IPv6 (below)
#   scripts/netns.sh ipv6nat NAME   # a `nat` run's router (the client) and servers over IPv6 (below)
#   scripts/netns.sh ipv6nat64 NAME # a `fullnat` run's client IPv6-only, servers IPv4 (NAT64, below)
#   scripts/netns.sh ipv6fullnat NAME # a `fullnat` run's router (the client) and servers over IPv6 (below)
#   scripts/netns.sh bond NAME      # once ferrolb runs with a bonded ext: its links (below)
#   scripts/netns.sh lacp NAME      # veth pairs for an 802.3ad ext and its partner (below)
#   scripts/netns.sh scaleout NAME  # build run NAME as the many-nodes lab (below)
#   scripts/netns.sh ha NAME        # build run NAME as an active/backup pair (below)
#   scripts/netns.sh mtu NAME MTU [router]  # a built run's links at MTU (below)
#
# Namespaces are NAME-client, NAME-router, NAME-lb, NAME-lan, NAME-s1..s3
# and NAME-outside; every interface lives inside them (nothing is added to
# the caller's namespace), so two runs with different NAMEs never collide.
#
#   client 10.0.0.2 --- 10.0.0.1 router 10.0.2.254 --- ext [ferrolb in NAME-lb] lan
#                              | 10.0.1.254    | 198.51.100.1      10.0.2.1    10.0.1.1
#                              |               +--- outside 198.51.100.2        |
#                          [bridge br0 in NAME-lan] --------------------------------+
#                              |        |        |
#                             s1       s2       s3   10.0.1.11, .12, .13
#
# ferrolb's ports are `net_af_packet` on the veth ends `ext` and `lan` in
# NAME-lb, whose MACs are set to ferrolb's (EXT_MAC, LAN_MAC below); that
# namespace has no IP address, so its kernel stays out of the way.
#
# MODE decides the real servers' side:
#   dr       VIP 192.0.2.10 on lo, arp_ignore=1, arp_announce=2; default
#            route via the router (replies go straight back to the client)
#   nat      default route via ferrolb (10.0.1.1)
#   fullnat  default route via the router (ferrolb is not in their path)
#   snat     default route via ferrolb, as nat
#
# The many-nodes lab (`scaleout`, docs/many-nodes.md) has no lb namespace
# but two nodes, NAME-a and NAME-b, each a ferrolb with ONE port on the LAN
# (one-armed) whose kernel interface flb-lan carries the node's host
# address, over which the node's BIRD peers with the router's:
#
#   client 10.0.0.2 --- 10.0.0.1 router 10.0.1.254 --- [bridge br0 in NAME-lan]
#                       (BIRD, L4 ECMP)                  |        |       |  |  |
#                                                     node a   node b     s1 s2 s3
#   node a: port `lan` MAC 02:00:00:00:0a:01, host 10.0.1.2 (flb-lan),
#           dataplane 10.0.1.21, FULLNAT local address 10.0.1.31
#   node b: port `lan` MAC 02:00:00:00:0b:01, host 10.0.1.3 (flb-lan),
#           dataplane 10.0.1.22, FULLNAT local address 10.0.1.32
#   servers 10.0.1.11-13: DR servers (VIP 192.0.2.10 on lo), default route
#           via the router.
#
# The router has no route to the VIPs until the nodes announce them.
set -euo pipefail

VIP=192.0.2.10
EXT_MAC=02:00:00:00:02:01
LAN_MAC=02:00:00:00:01:01
SERVERS=(s1 s2 s3)

die() { echo "netns.sh: $*" >&2; exit 1; }

namespaces() {
  local n=$1
  echo "$n-client $n-router $n-lb $n-lan $n-s1 $n-s2 $n-s3 $n-outside"
}

scaleout_namespaces() {
  local n=$1
  echo "$n-client $n-router $n-lan $n-a $n-b $n-s1 $n-s2 $n-s3"
}

# Every namespace of a run, the ones half-built included.
existing() {
  local n=$1
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${n//./\\.}-(client|router|lb|lan|a|b|lba|lbb|front|sw|s[0-9]+|outside)$" || true
}

down() {
  local n=$1 ns pid
  for ns in $(existing "$n"); do
    # Processes started in the namespace (servers, ferrolb, the daemon).
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for ns in $(existing "$n"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  [ -z "$(existing "$n")" ] || die "could not remove every namespace of $n: $(existing "$n" | tr '\n' ' ')"
}

# sysctl inside a namespace.
nsctl() { ip netns exec "$1" sysctl -qw "$2" >/dev/null; }

# A veth pair: IF1 in NS1, IF2 in NS2, both up, offloads off (af_packet
# would otherwise see GSO super-frames and unfinished checksums).
veth() {
  local ns1=$1 if1=$2 ns2=$3 if2=$4
  ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2"
  for side in "$ns1 $if1" "$ns2 $if2"; do
    set -- $side
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 \
      || ip netns exec "$1" ethtool -K "$2" tx off >/dev/null \
      || die "ethtool -K $2 tx off failed in $1"
  done
}

addr() { ip -n "$1" addr add "$3" dev "$2"; }
up() { ip -n "$1" link set "$2" up; }

# Checks that run NAME can be built, then makes the namespaces NAME-ROLE
# for each ROLE given: loopback up, IPv6 off, reverse-path filtering off.
new_namespaces() {
  local n=$1 role ns
  shift
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
  command -v ethtool >/dev/null || die "ethtool is missing (scripts/setup.sh --deps installs it)"
  [ -z "$(existing "$n")" ] || die "run $n exists already (scripts/netns.sh down $n)"
  for role in "$@"; do
    ns=$n-$role
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    nsctl "$ns" net.ipv6.conf.all.disable_ipv6=1
    nsctl "$ns" net.ipv6.conf.default.disable_ipv6=1
    nsctl "$ns" net.ipv4.conf.all.rp_filter=0
    nsctl "$ns" net.ipv4.conf.default.rp_filter=0
  done
}

build() {
  local n=$1 mode=$2 ns
  new_namespaces "$n" client router lb lan s1 s2 s3 outside
  local c=$n-client r=$n-router lb=$n-lb lan=$n-lan out=$n-outside

  # client <-> router
  veth "$c" eth0 "$r" client
  addr "$c" eth0 10.0.0.2/24; up "$c" eth0
  addr "$r" client 10.0.0.1/24; up "$r" client
  ip -n "$c" route add default via 10.0.0.1

  # router <-> ferrolb's ext port
  veth "$r" lb "$lb" ext
  addr "$r" lb 10.0.2.254/24; up "$r" lb
  ip -n "$lb" link set ext address "$EXT_MAC"; up "$lb" ext

  # router <-> outside
  veth "$r" outside "$out" eth0
  addr "$r" outside 198.51.100.1/24; up "$r" outside
  addr "$out" eth0 198.51.100.2/24; up "$out" eth0
  ip -n "$out" route add default via 198.51.100.1

  # the LAN: a bridge joining the router, ferrolb's lan port and the servers
  ip -n "$lan" link add br0 type bridge
  up "$lan" br0
  veth "$lan" router "$r" lan
  addr "$r" lan 10.0.1.254/24; up "$r" lan
  veth "$lan" lb "$lb" lan
  ip -n "$lb" link set lan address "$LAN_MAC"; up "$lb" lan
  local i=11 s
  for s in "${SERVERS[@]}"; do
    veth "$lan" "$s" "$n-$s" eth0
    addr "$n-$s" eth0 "10.0.1.$i/24"; up "$n-$s" eth0
    i=$((i + 1))
  done
  for p in router lb "${SERVERS[@]}"; do
    ip -n "$lan" link set "$p" master br0
    up "$lan" "$p"
  done

  # The router: VIPs and SNAT addresses are behind ferrolb.
  nsctl "$r" net.ipv4.ip_forward=1
  ip -n "$r" route add 192.0.2.0/24 via 10.0.2.1
  ip -n "$r" route add 203.0.113.0/24 via 10.0.2.1

  for s in "${SERVERS[@]}"; do
    ns=$n-$s
    case "$mode" in
      dr) dr_server "$ns" ;;
      fullnat) ip -n "$ns" route add default via 10.0.1.254 ;;
      nat | snat) ip -n "$ns" route add default via 10.0.1.1 ;;
    esac
  done
}

# ferrolb's kernel interfaces (docs/kernel-path.md) live in NAME-lb:
# flb-ext (10.0.2.2/24) twins the ext port, flb-lan (10.0.1.2/24) the lan
# port. The veths ext and lan carry the same MACs, so the lb namespace's
# kernel must not answer on them, or it would be reached without ferrolb:
# no ARP answers there (arp_ignore=8) and strict reverse-path filtering
# (a packet from the client on ext fails it: the route back is flb-ext).
kernel_prepare() {
  local lb=$1-lb dev
  for dev in ext lan; do
    nsctl "$lb" "net.ipv4.conf.$dev.arp_ignore=8"
    nsctl "$lb" "net.ipv4.conf.$dev.rp_filter=1"
  done
}

# IPv6 on the links next to ferrolb (docs/ipv6.md, stage 1: ferrolb is an
# IPv6 host on its interfaces, it does not route IPv6 yet): the router's
# side of ext 2001:db8:2::fe/64, s1's eth0 2001:db8:1::11/64, without DAD
# (nodad) so they are usable at once. NAME-lb keeps IPv6 off: its kernel
# must not answer Neighbour Discovery on the veths ferrolb owns.
ipv6_links() {
  local n=$1 spec
  for spec in "$n-router lb 2001:db8:2::fe/64" "$n-s1 eth0 2001:db8:1::11/64"; do
    set -- $spec
    nsctl "$1" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$1" "net.ipv6.conf.$2.disable_ipv6=0"
    ip -n "$1" addr add "$3" dev "$2" nodad
  done
}

# IPv6 DR (docs/ipv6.md): after `up NAME dr`, the same lab over IPv6. The
# client 2001:db8:3::2/64 behind the router (2001:db8:3::1, forwarding),
# which reaches the VIP 2001:db8:10::10 on its link to ferrolb's ext
# (2001:db8:2::fe/64; a /128 route `dev lb`, so it resolves the VIP by
# Neighbour Discovery, which ferrolb answers); the servers s1..s3 at
# 2001:db8:1::11..13/64 with the VIP on lo (Linux answers a solicitation
# only for the addresses of the interface it came in on: IPv6's
# arp_ignore) and their default route via the router's 2001:db8:1::fe.
# Every address `nodad`, so none waits for duplicate address detection.
ipv6dr_links() {
  local n=$1 spec i s
  nsctl "$n-router" net.ipv6.conf.all.disable_ipv6=0
  nsctl "$n-router" net.ipv6.conf.all.forwarding=1
  for spec in "$n-router client 2001:db8:3::1/64" "$n-router lb 2001:db8:2::fe/64" \
    "$n-router lan 2001:db8:1::fe/64" "$n-client eth0 2001:db8:3::2/64"; do
    set -- $spec
    nsctl "$1" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$1" "net.ipv6.conf.$2.disable_ipv6=0"
    ip -n "$1" addr add "$3" dev "$2" nodad
  done
  ip -n "$n-client" -6 route add default via 2001:db8:3::1
  ip -n "$n-router" -6 route add 2001:db8:10::10/128 dev lb
  i=11
  for s in "${SERVERS[@]}"; do
    nsctl "$n-$s" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$n-$s" net.ipv6.conf.eth0.disable_ipv6=0
    nsctl "$n-$s" net.ipv6.conf.lo.disable_ipv6=0
    ip -n "$n-$s" addr add "2001:db8:1::$i/64" dev eth0 nodad
    ip -n "$n-$s" addr add 2001:db8:10::10/128 dev lo nodad
    ip -n "$n-$s" -6 route add default via 2001:db8:1::fe
    i=$((i + 1))
  done
}

# IPv6 NAT (docs/ipv6.md, stage 3): after `up NAME nat`, the router is
# the client, on ferrolb's ext link (2001:db8:2::fe/64; a /128 route to
# the VIP 2001:db8:10::10 `dev lb`, resolved by Neighbour Discovery):
# ferrolb sends the replies to a client on a connected prefix (IPv6 routes
# are another stage). The servers s1..s3 at 2001:db8:1::11..13/64, their
# default route via ferrolb's lan address 2001:db8:1::1, so their replies
# come back through it. Every address `nodad`.
ipv6nat_links() {
  local n=$1 i s
  nsctl "$n-router" net.ipv6.conf.all.disable_ipv6=0
  nsctl "$n-router" net.ipv6.conf.lb.disable_ipv6=0
  ip -n "$n-router" addr add 2001:db8:2::fe/64 dev lb nodad
  ip -n "$n-router" -6 route add 2001:db8:10::10/128 dev lb
  i=11
  for s in "${SERVERS[@]}"; do
    nsctl "$n-$s" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$n-$s" net.ipv6.conf.eth0.disable_ipv6=0
    ip -n "$n-$s" addr add "2001:db8:1::$i/64" dev eth0 nodad
    ip -n "$n-$s" -6 route add default via 2001:db8:1::1
    i=$((i + 1))
  done
}

# NAT64 (docs/ipv6.md, "NAT64 in FULLNAT"): after `up NAME fullnat`, the
# client is IPv6-only: its IPv4 address gone, 2001:db8:3::2/64 behind the
# router (2001:db8:3::1, forwarding IPv6), which reaches the VIP
# 2001:db8:10::10 on its link to ferrolb's ext (2001:db8:2::fe/64; a /128
# route `dev lb`, resolved by Neighbour Discovery). The servers keep IPv6
# off: IPv4 only, their replies to ferrolb's local addresses on the lan.
# Every address `nodad`.
ipv6nat64_links() {
  local n=$1 spec
  # No DAD on these links: while the router's link-local address on `lb`
  # is tentative it cannot solicit the VIP, and the client's first
  # datagram waited 2 s in its queue (the first UDP echo lost to the
  # client's timeout, e2e_nat64_fragments). The addresses below are
  # `nodad` already.
  for spec in "$n-router client" "$n-router lb" "$n-client eth0"; do
    set -- $spec
    nsctl "$1" net.ipv6.conf.all.accept_dad=0
    nsctl "$1" "net.ipv6.conf.$2.accept_dad=0"
  done
  nsctl "$n-router" net.ipv6.conf.all.disable_ipv6=0
  nsctl "$n-router" net.ipv6.conf.all.forwarding=1
  for spec in "$n-router client 2001:db8:3::1/64" "$n-router lb 2001:db8:2::fe/64" \
    "$n-client eth0 2001:db8:3::2/64"; do
    set -- $spec
    nsctl "$1" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$1" "net.ipv6.conf.$2.disable_ipv6=0"
    ip -n "$1" addr add "$3" dev "$2" nodad
  done
  ip -n "$n-client" -4 addr flush dev eth0
  ip -n "$n-client" -6 route add default via 2001:db8:3::1
  ip -n "$n-router" -6 route add 2001:db8:10::10/128 dev lb
}

# IPv6 FULLNAT (docs/ipv6.md): after `up NAME fullnat`, the router is the
# client, on ferrolb's ext link (2001:db8:2::fe/64; a /128 route to the
# VIP 2001:db8:10::10 `dev lb`, resolved by Neighbour Discovery). The
# servers s1..s3 at 2001:db8:1::11..13/64 get no IPv6 route beyond their
# link: they answer ferrolb's local addresses (2001:db8:1::100/101, on
# that link, resolved by ND) and could not reach the client if its address
# leaked through. Every address `nodad`.
ipv6fullnat_links() {
  local n=$1 i s
  nsctl "$n-router" net.ipv6.conf.all.disable_ipv6=0
  nsctl "$n-router" net.ipv6.conf.lb.disable_ipv6=0
  ip -n "$n-router" addr add 2001:db8:2::fe/64 dev lb nodad
  ip -n "$n-router" -6 route add 2001:db8:10::10/128 dev lb
  i=11
  for s in "${SERVERS[@]}"; do
    nsctl "$n-$s" net.ipv6.conf.all.disable_ipv6=0
    nsctl "$n-$s" net.ipv6.conf.eth0.disable_ipv6=0
    ip -n "$n-$s" addr add "2001:db8:1::$i/64" dev eth0 nodad
    i=$((i + 1))
  done
}

# A bonded ext port (docs/bonding.md): ferrolb's `ext` is an
# active-backup bond of two net_tap members whose interfaces, bm0 and bm1,
# it makes in NAME-lb when it starts. This kernel has no bonding (or team)
# module, so the far side of the two links is a Linux bridge, bext, in
# NAME-lb, joining both taps and the veth to the router: whichever member
# the bond uses reaches the router, as through a switch (or a Linux bond)
# on the far side. The veth gives ferrolb's MAC back (a bridge delivers
# frames for its ports' own MACs to itself instead of forwarding them).
bond_links() {
  local lb=$1-lb dev
  for dev in bm0 bm1; do
    ip -n "$lb" link show "$dev" >/dev/null 2>&1 \
      || die "$dev does not exist in $lb (is ferrolb running with the bonded ext port?)"
  done
  ip -n "$lb" link set ext address 02:00:00:00:02:fe
  ip -n "$lb" link show bext >/dev/null 2>&1 || ip -n "$lb" link add bext type bridge
  for dev in ext bm0 bm1; do
    ip -n "$lb" link set "$dev" master bext
  done
  up "$lb" bext
}

# An 802.3ad lab (docs/bonding.md): ferrolb's ext is a bond over l0 and
# l1 in NAME-lb; their peers p0 and p1 are in NAME-sw with the veth `ext`
# (moved there from NAME-lb), where the LACP partner runs: dpdk-testpmd
# with its own net_bonding in mode 4 over p0 and p1, forwarding between
# that bond and `ext` (no kernel module speaks LACP here). A namespace of
# its own, because two DPDK processes' af_packet sockets in one namespace
# can pick the same PACKET_FANOUT group id (DPDK derives it from the pid
# and the ifindex) and then one of them fails to probe.
lacp_links() {
  local lb=$1-lb sw=$1-sw i
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  nsctl "$sw" net.ipv6.conf.all.disable_ipv6=1
  nsctl "$sw" net.ipv6.conf.default.disable_ipv6=1
  ip -n "$lb" link set ext netns "$sw"
  up "$sw" ext
  for i in 0 1; do
    veth "$lb" "l$i" "$sw" "p$i"
    up "$lb" "l$i"; up "$sw" "p$i"
  done
}

# Once ferrolb made flb-ext: the host's default route goes through it.
kernel_route() {
  local lb=$1-lb
  ip -n "$lb" link show flb-ext >/dev/null 2>&1 || die "flb-ext does not exist in $lb (is ferrolb running with kernel interfaces?)"
  ip -n "$lb" route replace default via 10.0.2.254 dev flb-ext
}

# A server on the LAN as DR wants it: the VIP on lo, never answering ARP
# for it, replies straight to the client through the router.
dr_server() {
  local ns=$1
  nsctl "$ns" net.ipv4.conf.all.arp_ignore=1
  nsctl "$ns" net.ipv4.conf.all.arp_announce=2
  nsctl "$ns" net.ipv4.conf.eth0.arp_ignore=1
  nsctl "$ns" net.ipv4.conf.eth0.arp_announce=2
  ip -n "$ns" addr add "$VIP/32" dev lo
  ip -n "$ns" route add default via 10.0.1.254
}

build_scaleout() {
  local n=$1
  new_namespaces "$n" client router lan a b s1 s2 s3
  local c=$n-client r=$n-router lan=$n-lan

  veth "$c" eth0 "$r" client
  addr "$c" eth0 10.0.0.2/24; up "$c" eth0
  addr "$r" client 10.0.0.1/24; up "$r" client
  ip -n "$c" route add default via 10.0.0.1

  ip -n "$lan" link add br0 type bridge
  up "$lan" br0
  veth "$lan" router "$r" lan
  addr "$r" lan 10.0.1.254/24; up "$r" lan
  # Layer-4 ECMP over the nodes' BGP routes (docs/many-nodes.md).
  nsctl "$r" net.ipv4.ip_forward=1
  nsctl "$r" net.ipv4.fib_multipath_hash_policy=3
  nsctl "$r" net.ipv4.fib_multipath_hash_fields=0x0037

  local node mac
  for node in a b; do
    mac=02:00:00:00:0$node:01
    veth "$lan" "node$node" "$n-$node" lan
    ip -n "$n-$node" link set lan address "$mac"; up "$n-$node" lan
    # The veth twins the kernel interface's MAC: its own stack must stay
    # out of the way (see kernel_prepare).
    nsctl "$n-$node" net.ipv4.conf.lan.arp_ignore=8
    nsctl "$n-$node" net.ipv4.conf.lan.rp_filter=1
  done
  local i=11 s
  for s in "${SERVERS[@]}"; do
    veth "$lan" "$s" "$n-$s" eth0
    addr "$n-$s" eth0 "10.0.1.$i/24"; up "$n-$s" eth0
    dr_server "$n-$s"
    i=$((i + 1))
  done
  for p in router nodea nodeb "${SERVERS[@]}"; do
    ip -n "$lan" link set "$p" master br0
    up "$lan" "$p"
  done
}

# The active/backup pair (docs/high-availability.md), run NAME:
#
#   client 10.0.2.50 ---[bridge br0 in NAME-front]--- ext [ferrolb in NAME-lba] lan ---+
#                                       |                                              |
#                                       +--------- ext [ferrolb in NAME-lbb] lan ------+
#                                                                                      |
#                          s1 s2 s3 10.0.1.11, .12, .13 ---[bridge br0 in NAME-lan]----+
#
# The client reaches 192.0.2.0/24 on its link (it resolves the VIPs by
# ARP, so gratuitous ARP is what moves them). Each lb namespace holds its
# node's two af_packet veths (ext, lan), prepared as for `kernel` (their
# MACs are the ports': node a 02:00:00:00:0X:0a, node b ...:0b), and gets
# its kernel interfaces when ferrolb starts. The servers' default route is
# 10.0.1.1, the floating gateway VRRP gives to the master (NAT replies).
HA_NAMESPACES="client front lba lbb lan s1 s2 s3"

build_ha() {
  local n=$1 ns node
  # shellcheck disable=SC2086 # a list of roles
  new_namespaces "$n" $HA_NAMESPACES
  local c=$n-client front=$n-front lan=$n-lan
  ip -n "$front" link add br0 type bridge
  ip -n "$lan" link add br0 type bridge
  up "$front" br0; up "$lan" br0

  veth "$front" client "$c" eth0
  addr "$c" eth0 10.0.2.50/24; up "$c" eth0
  ip -n "$c" route add 192.0.2.0/24 dev eth0
  ip -n "$front" link set client master br0; up "$front" client

  for node in a b; do
    ns=$n-lb$node
    veth "$front" "lb$node" "$ns" ext
    veth "$lan" "lb$node" "$ns" lan
    ip -n "$ns" link set ext address "02:00:00:00:02:0$node"
    ip -n "$ns" link set lan address "02:00:00:00:01:0$node"
    up "$ns" ext; up "$ns" lan
    ip -n "$front" link set "lb$node" master br0; up "$front" "lb$node"
    ip -n "$lan" link set "lb$node" master br0; up "$lan" "lb$node"
    for dev in ext lan; do
      nsctl "$ns" "net.ipv4.conf.$dev.arp_ignore=8"
      nsctl "$ns" "net.ipv4.conf.$dev.rp_filter=1"
    done
  done

  local i=11 s
  for s in "${SERVERS[@]}"; do
    veth "$lan" "$s" "$n-$s" eth0
    addr "$n-$s" eth0 "10.0.1.$i/24"; up "$n-$s" eth0
    ip -n "$n-$s" route add default via 10.0.1.1
    ip -n "$lan" link set "$s" master br0; up "$lan" "$s"
    i=$((i + 1))
  done
}

# The jumbo lab (tests/e2e_jumbo.rs), on a run built by `up`: every link
# at MTU (the client's, the router's, ferrolb's veths, the LAN bridge and
# the servers), except that with `router` the router's end of the client
# link stays at 1500, so the narrow hop is the router's, beyond ferrolb.
# ferrolb sets its own veths to its ports' `mtu` when it starts.
set_mtu() {
  local n=$1 mtu=$2 narrow=${3:-} dev s
  [[ "$mtu" =~ ^[0-9]{3,4}$ ]] || die "bad MTU $mtu"
  [ -z "$narrow" ] || [ "$narrow" = router ] || die "unknown narrow hop $narrow (router)"
  ip -n "$n-client" link set eth0 mtu "$mtu"
  if [ "$narrow" = router ]; then
    ip -n "$n-router" link set client mtu 1500
  else
    ip -n "$n-router" link set client mtu "$mtu"
  fi
  for dev in lb lan; do ip -n "$n-router" link set "$dev" mtu "$mtu"; done
  for dev in ext lan; do ip -n "$n-lb" link set "$dev" mtu "$mtu"; done
  for dev in router lb "${SERVERS[@]}"; do ip -n "$n-lan" link set "$dev" mtu "$mtu"; done
  ip -n "$n-lan" link set br0 mtu "$mtu"
  for s in "${SERVERS[@]}"; do ip -n "$n-$s" link set eth0 mtu "$mtu"; done
}

cmd=${1:-}
case "$cmd" in
  mtu)
    [ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: netns.sh mtu NAME MTU [router]"
    set_mtu "$2" "$3" "${4:-}"
    ;;
  kernel)
    [ $# -eq 2 ] || die "usage: netns.sh kernel NAME"
    kernel_prepare "$2"
    ;;
  kernel-route)
    [ $# -eq 2 ] || die "usage: netns.sh kernel-route NAME"
    kernel_route "$2"
    ;;
  bond)
    [ $# -eq 2 ] || die "usage: netns.sh bond NAME"
    bond_links "$2"
    ;;
  lacp)
    [ $# -eq 2 ] || die "usage: netns.sh lacp NAME"
    lacp_links "$2"
    ;;
  ipv6)
    [ $# -eq 2 ] || die "usage: netns.sh ipv6 NAME"
    ipv6_links "$2"
    ;;
  ipv6dr)
    [ $# -eq 2 ] || die "usage: netns.sh ipv6dr NAME"
    ipv6dr_links "$2"
    ;;
  ipv6nat)
    [ $# -eq 2 ] || die "usage: netns.sh ipv6nat NAME"
    ipv6nat_links "$2"
    ;;
  ipv6nat64)
    [ $# -eq 2 ] || die "usage: netns.sh ipv6nat64 NAME"
    ipv6nat64_links "$2"
    ;;
  ipv6fullnat)
    [ $# -eq 2 ] || die "usage: netns.sh ipv6fullnat NAME"
    ipv6fullnat_links "$2"
    ;;
  scaleout)
    [ $# -eq 2 ] || die "usage: netns.sh scaleout NAME"
    [[ "$2" =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad run name $2"
    trap 'down "$2" >/dev/null 2>&1 || true' ERR
    build_scaleout "$2"
    trap - ERR
    echo "netns.sh: $2 up (scaleout): $(scaleout_namespaces "$2")"
    ;;
  up)
    [ $# -eq 3 ] || die "usage: netns.sh up NAME dr|nat|fullnat|snat"
    case "$3" in dr | nat | fullnat | snat) ;; *) die "unknown mode $3 (dr | nat | fullnat | snat)" ;; esac
    [[ "$2" =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad run name $2"
    # A failure half way leaves nothing behind.
    trap 'down "$2" >/dev/null 2>&1 || true' ERR
    build "$2" "$3"
    trap - ERR
    echo "netns.sh: $2 up ($3): $(namespaces "$2")"
    ;;
  ha)
    [ $# -eq 2 ] || die "usage: netns.sh ha NAME"
    [[ "$2" =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad run name $2"
    trap 'down "$2" >/dev/null 2>&1 || true' ERR
    build_ha "$2"
    trap - ERR
    echo "netns.sh: $2 up (ha): $(for x in $HA_NAMESPACES; do printf '%s ' "$2-$x"; done)"
    ;;
  down)
    [ $# -eq 2 ] || die "usage: netns.sh down NAME"
    down "$2"
    ;;
  list)
    ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/-(client)$//p'
    ;;
  *)
    die "usage: netns.sh up NAME MODE | down NAME | list | kernel NAME | kernel-route NAME | ipv6 NAME | ipv6dr NAME | ipv6nat NAME | ipv6fullnat NAME | ipv6nat64 NAME | bond NAME | lacp NAME | scaleout NAME | ha NAME | mtu NAME MTU [router]"
    ;;
esac
