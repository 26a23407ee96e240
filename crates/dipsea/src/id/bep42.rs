//! BEP 42 (DHT security extension): node ids tied to the node's IP address.
//!
//! Entry points: [`node_id_for`] derives an id for an address, [`id_conforms`]
//! checks one. A conforming id's first 21 bits are the top 21 bits of
//! `crc32c((ip & mask) | r << 29)` (IPv4; IPv6 masks the high 64 bits), where `r`
//! is the low 3 bits of the id's last byte. An attacker who wants ids near a target
//! key must therefore own addresses whose CRC lands there, instead of choosing any
//! id it likes (a Sybil or eclipse attack).
//!
//! Local addresses are exempt ([`is_exempt`]): a node on a LAN or on loopback cannot
//! know the address others will see, and nobody outside can reach it anyway, so
//! every id conforms for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;

use super::{Id, ID_LEN};

/// Bits of an IPv4 address that go into the CRC (BEP 42): the high bits of each
/// octet are masked off so that a /8 holds only 2^14 distinct inputs per `r`.
const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];

/// Bits of the high 64 bits of an IPv6 address that go into the CRC (BEP 42).
const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/// Whether `ip` is exempt from BEP 42: loopback (`127/8`, `::1`), private
/// (`10/8`, `172.16/12`, `192.168/16`, IPv6 unique local `fc00::/7`), link-local
/// (`169.254/16`, `fe80::/10`) or unspecified (`0.0.0.0`, `::`). An IPv4-mapped
/// IPv6 address (`::ffff:a.b.c.d`) is judged as the IPv4 address it maps.
///
/// Every id conforms for an exempt address ([`id_conforms`]), and an exempt
/// address reported as ours says nothing about our public address.
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_exempt(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_exempt(v4),
            None => v6_exempt(v6),
        },
    }
}

fn v4_exempt(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
}

fn v6_exempt(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // Unique local addresses, the IPv6 private ranges.
        || first & 0xfe00 == 0xfc00
        // Link-local unicast.
        || first & 0xffc0 == 0xfe80
}

/// The BEP 42 CRC of `ip` with the 3-bit `r` (only its low 3 bits are used). An
/// IPv4-mapped IPv6 address (what a dual-stack socket reports for an IPv4 peer) is
/// taken as the IPv4 address: that is the address the peer derived its id from.
fn crc(ip: IpAddr, r: u8) -> u32 {
    let r = (r & 0x07) << 5;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    match ip {
        IpAddr::V4(v4) => {
            let mut b = v4.octets();
            for (byte, mask) in b.iter_mut().zip(V4_MASK) {
                *byte &= mask;
            }
            b[0] |= r;
            crc32c::crc32c(&b)
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut b = [0u8; 8];
            for ((byte, src), mask) in b.iter_mut().zip(o).zip(V6_MASK) {
                *byte = src & mask;
            }
            b[0] |= r;
            crc32c::crc32c(&b)
        }
    }
}

/// The conforming id for `ip` whose last byte is `rand` and whose other free bits
/// (bits 21 to 151) are taken from `base`. Deterministic: with `base` a published
/// BEP 42 example id, it gives that id back.
///
/// ```
/// use dipsea::id::bep42::{id_conforms, node_id_with};
/// use dipsea::Id;
///
/// let ip = "124.31.75.21".parse().unwrap();
/// let id = node_id_with(ip, 1, Id::ZERO);
/// assert_eq!(&id.as_bytes()[..2], &[0x5f, 0xbf]);
/// assert!(id_conforms(&id, ip));
/// ```
pub fn node_id_with(ip: IpAddr, rand: u8, base: Id) -> Id {
    let c = crc(ip, rand).to_be_bytes();
    let mut b = *base.as_bytes();
    b[0] = c[0];
    b[1] = c[1];
    b[2] = (c[2] & 0xf8) | (b[2] & 0x07);
    b[ID_LEN - 1] = rand;
    Id::from_bytes(b)
}

/// A random id that conforms to BEP 42 for `ip`: the CRC prefix, a random last
/// byte, the rest random. Use it when the node's public address is known (e.g.
/// `NodeBuilder::id_for_ip`); for an exempt address any id would do.
pub fn node_id_for<R: Rng + ?Sized>(ip: IpAddr, rng: &mut R) -> Id {
    node_id_with(ip, rng.gen(), Id::random_with(rng))
}

/// Whether `id` conforms to BEP 42 for a node at `ip`: its first 21 bits equal the
/// top 21 bits of the CRC of `ip` with the low 3 bits of the id's last byte.
/// Always true for an exempt address ([`is_exempt`]).
pub fn id_conforms(id: &Id, ip: IpAddr) -> bool {
    if is_exempt(ip) {
        return true;
    }
    let b = id.as_bytes();
    let c = crc(ip, b[ID_LEN - 1]).to_be_bytes();
    b[0] == c[0] && b[1] == c[1] && b[2] & 0xf8 == c[2] & 0xf8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    /// The five examples of BEP 42: address, `rand`, the published id.
    const VECTORS: [(&str, u8, &str); 5] = [
        (
            "124.31.75.21",
            1,
            "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401",
        ),
        (
            "21.75.31.124",
            86,
            "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256",
        ),
        (
            "65.23.51.170",
            22,
            "a5d43220bc8f112a3d426c84764f8c2a1150e616",
        ),
        (
            "84.124.73.14",
            65,
            "1b0321dd1bb1fe518101ceef99462b947a01ff41",
        ),
        (
            "43.213.53.83",
            90,
            "e56f6cbf5b7c4be0237986d5243b87aa6d51305a",
        ),
    ];

    fn vectors() -> impl Iterator<Item = (IpAddr, u8, Id)> {
        VECTORS.iter().map(|(ip, rand, id)| {
            (
                ip.parse().expect("vector address"),
                *rand,
                id.parse().expect("vector id"),
            )
        })
    }

    #[test]
    fn bep42_vectors_derive_the_published_prefixes() {
        for (ip, rand, published) in vectors() {
            let id = node_id_with(ip, rand, Id::ZERO);
            let (got, want) = (id.as_bytes(), published.as_bytes());
            assert_eq!(got[..2], want[..2], "{ip}");
            assert_eq!(got[2] & 0xf8, want[2] & 0xf8, "{ip}");
            assert_eq!(got[19], rand, "{ip}");
            // With the published id as the base, derivation gives it back exactly.
            assert_eq!(node_id_with(ip, rand, published), published, "{ip}");
        }
    }

    #[test]
    fn bep42_vectors_conform_and_only_for_their_address() {
        let all: Vec<_> = vectors().collect();
        for (ip, _, id) in &all {
            assert!(id_conforms(id, *ip), "{ip}");
            for (other, _, _) in all.iter().filter(|(o, _, _)| o != ip) {
                assert!(!id_conforms(id, *other), "{id} conforms for {other}");
            }
        }
    }

    #[test]
    fn a_changed_rand_byte_breaks_a_vector() {
        // r is the low 3 bits of the last byte: changing them changes the CRC.
        for (ip, _, id) in vectors() {
            let mut b = *id.as_bytes();
            b[19] ^= 0x01;
            assert!(!id_conforms(&Id::from_bytes(b), ip), "{ip}");
        }
    }

    #[test]
    fn local_addresses_are_exempt() {
        for ip in [
            "127.0.0.1",
            "127.9.8.7",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.3.4",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd12:3456::1",
            "fc00::1",
            "::ffff:192.168.1.1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(is_exempt(ip), "{ip}");
            assert!(id_conforms(&Id::ZERO, ip), "{ip}");
        }
        for ip in [
            "124.31.75.21",
            "172.32.0.1",
            "8.8.8.8",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(!is_exempt(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_uses_the_high_64_bits_only() {
        let mut rng = SmallRng::seed_from_u64(42);
        let ip: IpAddr = "2a00:1450:4001:81d::200e".parse().expect("address");
        let id = node_id_for(ip, &mut rng);
        assert!(id_conforms(&id, ip));
        // Same /64, other interface id: the id still conforms.
        let same_net: IpAddr = "2a00:1450:4001:81d:1:2:3:4".parse().expect("address");
        assert!(id_conforms(&id, same_net));
    }

    #[test]
    fn a_mapped_address_is_judged_as_its_ipv4_form() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        assert!(id_conforms(&Id::MAX, mapped));
        for (ip, _, id) in vectors() {
            let IpAddr::V4(v4) = ip else { continue };
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert!(id_conforms(&id, mapped), "{mapped}");
            assert_eq!(node_id_with(mapped, 7, id), node_id_with(ip, 7, id));
        }
    }

    fn arb_public_v4() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 4]>()
            .prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
            .prop_filter("public", |ip| !is_exempt(*ip))
    }

    fn arb_public_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            arb_public_v4(),
            any::<[u8; 16]>()
                .prop_map(|b| IpAddr::V6(Ipv6Addr::from(b)))
                .prop_filter("public", |ip| !is_exempt(*ip)),
        ]
    }

    proptest! {
        /// Every derived id conforms for the address it was derived for.
        #[test]
        fn derived_ids_conform(ip in arb_public_ip(), seed: u64) {
            let id = node_id_for(ip, &mut SmallRng::seed_from_u64(seed));
            prop_assert!(id_conforms(&id, ip));
        }

        /// Flipping any of the first 21 bits breaks conformance for a public address.
        #[test]
        fn flipping_a_prefix_bit_breaks_conformance(
            ip in arb_public_ip(),
            seed: u64,
            bit in 0usize..21,
        ) {
            let id = node_id_for(ip, &mut SmallRng::seed_from_u64(seed));
            let mut b = *id.as_bytes();
            b[bit / 8] ^= 0x80 >> (bit % 8);
            prop_assert!(!id_conforms(&Id::from_bytes(b), ip));
        }

        /// Bits 21 to 151 are free: changing them keeps the id conforming.
        #[test]
        fn the_free_bits_do_not_matter(ip in arb_public_ip(), seed: u64, bit in 21usize..152) {
            let id = node_id_for(ip, &mut SmallRng::seed_from_u64(seed));
            let mut b = *id.as_bytes();
            b[bit / 8] ^= 0x80 >> (bit % 8);
            prop_assert!(id_conforms(&Id::from_bytes(b), ip));
        }

        /// A random id conforms for a public address with probability 2^-21: a
        /// handful of random ids never all do.
        #[test]
        fn random_ids_do_not_conform(ip in arb_public_v4(), ids in any::<[[u8; 20]; 4]>()) {
            prop_assert!(!ids.iter().all(|b| id_conforms(&Id::from_bytes(*b), ip)));
        }
    }
}
