#!/usr/bin/env bash
# Builds the Debian package of ferrolb (docs/packaging.md):
#
#   scripts/package.sh [--profile release|dev] [--out DIR] [--bin-dir DIR]
#                      [--compress xz|gzip|none]
#
# --bin-dir packages binaries already built there instead of building
# (tests/package.rs, which runs while cargo holds the build lock, and
# packages without compression to stay quick).
#
# The appliance (/usr/sbin/ferrolb), ferrolbctl (/usr/bin), the systemd
# units, the example config (/etc/ferrolb/ferrolb.toml, a conffile), man
# pages and shell completions generated from the binaries themselves, and
# the docs. Built with dpkg-deb from a staging tree (Debian's own tool,
# always there; nothing to install first); the shared-library dependencies
# come from dpkg-shlibdeps, the DPDK drivers (loaded as plugins, so not in
# the binaries' NEEDED) are listed by hand. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=target/debian
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin-dir) bin=$2; shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    *) echo "usage: scripts/package.sh [--profile release|dev] [--out DIR] [--bin-dir DIR] [--compress xz|gzip|none]" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) dir=release ;;
  dev) dir=debug ;;
  *) echo "package.sh: --profile is release or dev" >&2; exit 2 ;;
esac
for tool in dpkg-deb dpkg-shlibdeps gzip strip; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (apt-get install dpkg-dev)" >&2; exit 1; }
done

if [ -z "$bin" ]; then
  cargo build --profile "$profile" -p ferrolb -p control --bins
  bin=${CARGO_TARGET_DIR:-target}/$dir
fi
for b in ferrolb ferrolbctl; do
  [ -x "$bin/$b" ] || { echo "package.sh: $bin/$b is missing" >&2; exit 1; }
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/ferrolb_${version}_$arch

install -D -m 0755 "$bin/ferrolb" "$root/usr/sbin/ferrolb"
install -D -m 0755 "$bin/ferrolbctl" "$root/usr/bin/ferrolbctl"
# As dh_strip would: no debug info or symbol tables in the package.
strip --strip-unneeded "$root/usr/sbin/ferrolb" "$root/usr/bin/ferrolbctl"
for unit in ferrolb ferrolb-daemon; do
  install -D -m 0644 "packaging/$unit.service" "$root/lib/systemd/system/$unit.service"
done
install -D -m 0644 packaging/ferrolb.toml "$root/etc/ferrolb/ferrolb.toml"

# Man pages and completions, from the command-line definitions.
mkdir -p "$root/usr/share/man/man8" "$root/usr/share/man/man1"
"$bin/ferrolb" --man > "$root/usr/share/man/man8/ferrolb.8"
"$bin/ferrolbctl" man --dir "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man*/*
for prog in ferrolb ferrolbctl; do
  gen() { if [ "$prog" = ferrolb ]; then "$bin/ferrolb" --completions "$1"; else "$bin/ferrolbctl" completions "$1"; fi; }
  install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
  gen bash > "$root/usr/share/bash-completion/completions/$prog"
  gen zsh > "$root/usr/share/zsh/vendor-completions/_$prog"
  gen fish > "$root/usr/share/fish/vendor_completions.d/$prog.fish"
done

doc=$root/usr/share/doc/ferrolb
install -d "$doc"
install -m 0644 README.md docs/*.md "$doc/"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ferrolb

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

# Dependencies: the libraries the binaries link, then the DPDK drivers
# the example config and the documented setups load at run time.
work=$stage/shlibs
mkdir -p "$work/debian"
printf 'Source: ferrolb\n\nPackage: ferrolb\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$root/usr/sbin/ferrolb" "$root/usr/bin/ferrolbctl" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
drivers="librte-mempool-ring23, librte-net-ring23, librte-net-null23, librte-net-pcap23, librte-net-af-packet23, librte-net-tap23"

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: ferrolb
Version: $version
Architecture: $arch
Maintainer: ferrolb engineers <ferrolb@localhost>
Installed-Size: $size
Depends: $shlibs, $drivers
Recommends: dpdk, librte-net-af-xdp23, librte-net-bond23, ethtool
Suggests: bird2, keepalived
Section: net
Priority: optional
Homepage: https://github.com/ferrolb/ferrolb
Description: layer-4 load balancer on DPDK (LVS/IPVS, DPVS, Katran class)
 ferrolb balances TCP and UDP in DR, TUN, NAT, FULLNAT and SNAT modes with
 the IPVS schedulers and Maglev, on poll-mode DPDK workers with per-core
 session tables. ferrolbctl configures it at run time over a Unix socket
 and, as a daemon, runs health checks, reloads the config file, serves
 Prometheus metrics and drives BIRD for BGP announcements.
CONTROL
echo /etc/ferrolb/ferrolb.toml > "$root/DEBIAN/conffiles"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$root/DEBIAN/"

deb=$out/ferrolb_${version}_$arch.deb
dpkg-deb --build --root-owner-group -Z"$compress" "$root" "$deb" >/dev/null
echo "$deb"
