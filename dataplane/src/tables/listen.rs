//! Which service a packet's (protocol, destination address, destination
//! port) names. A service listens on one port, on a range of ports
//! (`port`..=`port_last`), or on every port (`port = 0`, IPVS's port-zero
//! services). Services of one (protocol, VIP) may not share a port, with
//! one exception: a port-0 service catches whatever the VIP's other
//! services leave (a packet goes to the service on its exact port, else to
//! the range holding it, else to port 0). `overlap` names the clash when the
//! tables are compiled.
//!
//! Every service is also indexed by its key (its first port): that is its
//! identity for config changes and control requests.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::tuple::IpProto;
use ferrolb_types::ServiceKey;

/// Ports `first..=last` of one (protocol, VIP), and what they lead to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span<V> {
    proto: IpProto,
    vip: IpAddr,
    first: u16,
    last: u16,
    value: V,
}

impl<V> Span<V> {
    fn width(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first)
    }
}

/// The services' listening ports, for one lookup per new flow.
#[derive(Clone, Debug)]
pub struct ListenIndex<V> {
    /// Every service by its key, and the only lookup a packet needs when
    /// no service listens on more than one port.
    by_key: HashMap<ServiceKey, V>,
    /// Services on more than one port, narrowest first.
    spans: Vec<Span<V>>,
}

impl<V> Default for ListenIndex<V> {
    fn default() -> Self {
        ListenIndex {
            by_key: HashMap::new(),
            spans: Vec::new(),
        }
    }
}

impl<V: Copy> ListenIndex<V> {
    /// Adds (or replaces) the service `key` listening on `key.port..=last`
    /// (`key.port == 0`: every port, whatever `last` says).
    pub fn insert(&mut self, key: ServiceKey, last: u16, value: V) {
        self.by_key.insert(key, value);
        self.spans
            .retain(|s| (s.proto, s.vip, s.first) != (key.proto, key.vip, key.port));
        let last = if key.port == 0 { u16::MAX } else { last };
        if last > key.port {
            self.spans.push(Span {
                proto: key.proto,
                vip: key.vip,
                first: key.port,
                last,
                value,
            });
            self.spans.sort_by_key(Span::width);
        }
    }

    /// The service whose key this is (its first port): its identity.
    pub fn by_key(&self, key: &ServiceKey) -> Option<V> {
        self.by_key.get(key).copied()
    }

    /// The service a packet to `key` reaches: the one listening on exactly
    /// that port, else the narrowest range holding it.
    #[inline]
    pub fn lookup(&self, key: &ServiceKey) -> Option<V> {
        if let Some(&v) = self.by_key.get(key) {
            return Some(v);
        }
        if self.spans.is_empty() {
            return None;
        }
        self.lookup_span(key)
    }

    #[cold]
    fn lookup_span(&self, key: &ServiceKey) -> Option<V> {
        self.spans
            .iter()
            .find(|s| {
                s.proto == key.proto && s.vip == key.vip && (s.first..=s.last).contains(&key.port)
            })
            .map(|s| s.value)
    }

    /// A service already listening on part of `key.port..=last`: the same
    /// key, or any shared port, except with a port-0 service (which only
    /// catches what is left).
    pub fn overlap(&self, key: &ServiceKey, last: u16) -> Option<ServiceKey> {
        if self.by_key.contains_key(key) {
            return Some(*key);
        }
        if key.port == 0 {
            return None;
        }
        let last = last.max(key.port);
        let same_vip = |proto: IpProto, vip: IpAddr| proto == key.proto && vip == key.vip;
        if let Some(s) = self.spans.iter().find(|s| {
            s.first != 0 && same_vip(s.proto, s.vip) && s.first <= last && key.port <= s.last
        }) {
            return Some(ServiceKey {
                proto: s.proto,
                vip: s.vip,
                port: s.first,
            });
        }
        // A range over ports that single-port services already hold.
        if last > key.port {
            return self
                .by_key
                .keys()
                .find(|k| {
                    same_vip(k.proto, k.vip) && k.port != 0 && (key.port..=last).contains(&k.port)
                })
                .copied();
        }
        None
    }

    /// Whether some service listens on `vip` (any protocol, any port).
    pub fn listens_on(&self, vip: IpAddr) -> bool {
        self.by_key.keys().any(|k| k.vip == vip)
    }

    /// Services indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> ServiceKey {
        ServiceKey {
            proto: IpProto::TCP,
            vip: Ipv4Addr::new(192, 0, 2, 1).into(),
            port,
        }
    }

    #[test]
    fn a_single_port_beats_a_range_and_a_range_beats_port_zero() {
        let mut ix = ListenIndex::default();
        ix.insert(key(0), 0, 'z');
        ix.insert(key(8000), 8099, 'r');
        ix.insert(key(8080), 8080, 's');
        assert_eq!(ix.lookup(&key(8080)), Some('s'));
        assert_eq!(ix.lookup(&key(8000)), Some('r'));
        assert_eq!(ix.lookup(&key(8099)), Some('r'));
        assert_eq!(ix.lookup(&key(8100)), Some('z'));
        assert_eq!(ix.lookup(&key(1)), Some('z'));
        assert_eq!(ix.lookup(&key(0)), Some('z'));
        let other_vip = ServiceKey {
            vip: Ipv4Addr::new(192, 0, 2, 2).into(),
            ..key(8000)
        };
        assert_eq!(ix.lookup(&other_vip), None);
        let udp = ServiceKey {
            proto: IpProto::UDP,
            ..key(8000)
        };
        assert_eq!(ix.lookup(&udp), None);
        assert_eq!(
            ix.by_key(&key(8001)),
            None,
            "identity is the first port only"
        );
        assert_eq!(ix.len(), 3);
    }

    #[test]
    fn replacing_a_key_replaces_its_range() {
        let mut ix = ListenIndex::default();
        ix.insert(key(8000), 8099, 1);
        ix.insert(key(8000), 8009, 2);
        assert_eq!(ix.lookup(&key(8005)), Some(2));
        assert_eq!(ix.lookup(&key(8050)), None);
    }

    #[test]
    fn overlaps_are_named_except_under_port_zero() {
        let mut ix = ListenIndex::default();
        ix.insert(key(0), 0, ());
        ix.insert(key(8000), 8099, ());
        ix.insert(key(443), 443, ());
        assert_eq!(ix.overlap(&key(8050), 8150), Some(key(8000)));
        assert_eq!(ix.overlap(&key(7990), 8000), Some(key(8000)));
        assert_eq!(ix.overlap(&key(8050), 8050), Some(key(8000)));
        assert_eq!(ix.overlap(&key(400), 500), Some(key(443)));
        assert_eq!(ix.overlap(&key(8000), 8000), Some(key(8000)));
        assert_eq!(ix.overlap(&key(0), 0), Some(key(0)));
        assert_eq!(ix.overlap(&key(8100), 8199), None);
        assert_eq!(ix.overlap(&key(80), 80), None);
    }
}
