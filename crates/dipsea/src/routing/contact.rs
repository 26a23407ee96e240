//! The compact form of a contact as a bucket stores it: 32 bytes, no heap.
//!
//! A routing table of a node in a million-node network holds about 140 contacts, and
//! a simulator holds a million such tables, so every byte of a contact counts. The
//! IPv4 endpoint is stored inline (6 bytes); an IPv6 endpoint (rare: BEP 32 keeps a
//! separate table per address family) lives in the bucket's side table, keyed by id,
//! and the contact carries only the [`V6`] flag.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::id::{bep42, Id, NodeInfo};
use crate::time::Time;

/// Flag: the endpoint is IPv6 and lives in the bucket's side table.
pub(super) const V6: u8 = 1;
/// Flag: the node answered one of our queries at least once. Always set for bucket
/// contacts (only nodes that answered belong in a bucket); a replacement-cache entry
/// without it has only queried us.
pub(super) const VERIFIED: u8 = 2;
/// Flag: the table asked the caller to ping this node and no result has come back
/// yet; keeps the table from asking for the same ping twice.
pub(super) const PINGING: u8 = 4;
/// Flag: the id conforms to BEP 42 for the endpoint's address (always set for an
/// exempt, e.g. local, address). Kept up to date with the endpoint by
/// [`Contact::set_v4`], so the table never recomputes a CRC to compare contacts.
pub(super) const CONFORMS: u8 = 8;

/// One contact: id, endpoint, when it was last heard from and how many queries to it
/// failed in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Contact {
    /// The node's id.
    pub id: Id,
    /// Seconds since the driver's epoch when it last answered us or (for a node that
    /// answered before) last queried us. Second resolution is plenty for a
    /// 15-minute window and keeps the contact at 32 bytes.
    pub last_seen: u32,
    /// IPv4 address, big-endian (unused when [`V6`] is set).
    pub ip4: [u8; 4],
    /// UDP port (unused when [`V6`] is set).
    pub port: u16,
    /// Queries to it that failed in a row, saturating.
    pub fails: u8,
    /// [`V6`], [`VERIFIED`], [`PINGING`], [`CONFORMS`].
    pub flags: u8,
}

impl Contact {
    /// A contact for `id` last seen at `now_s`, with an IPv4 endpoint filled in when
    /// `addr` is one (the caller records an IPv6 one in the side table).
    pub fn new(id: Id, addr: SocketAddr, now_s: u32, flags: u8) -> Contact {
        let mut contact = Contact {
            id,
            last_seen: now_s,
            ip4: [0; 4],
            port: 0,
            fails: 0,
            flags,
        };
        contact.set_v4(addr);
        contact
    }

    /// Stores `addr` inline when it is IPv4 (clearing [`V6`]); sets [`V6`] otherwise.
    /// Sets [`CONFORMS`] as the id's BEP 42 check for `addr` says.
    pub fn set_v4(&mut self, addr: SocketAddr) {
        if bep42::id_conforms(&self.id, addr.ip()) {
            self.flags |= CONFORMS;
        } else {
            self.flags &= !CONFORMS;
        }
        match addr {
            SocketAddr::V4(a) => {
                self.ip4 = a.ip().octets();
                self.port = a.port();
                self.flags &= !V6;
            }
            SocketAddr::V6(_) => {
                self.ip4 = [0; 4];
                self.port = 0;
                self.flags |= V6;
            }
        }
    }

    /// The inline IPv4 endpoint (meaningless when [`V6`] is set).
    #[inline]
    pub fn v4(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(self.ip4), self.port))
    }

    /// Whether the endpoint lives in the side table.
    #[inline]
    pub fn is_v6(&self) -> bool {
        self.flags & V6 != 0
    }

    /// Whether `flag` is set.
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The contact as the four words of a published bucket: bytes 0..20 the id,
    /// 20..24 `last_seen`, 24..28 the IPv4 address, 28..30 the port, 30 `fails`,
    /// 31 `flags` (little-endian words).
    #[inline]
    pub fn to_words(self) -> [u64; 4] {
        let mut b = [0u8; 32];
        b[..20].copy_from_slice(self.id.as_bytes());
        b[20..24].copy_from_slice(&self.last_seen.to_le_bytes());
        b[24..28].copy_from_slice(&self.ip4);
        b[28..30].copy_from_slice(&self.port.to_le_bytes());
        b[30] = self.fails;
        b[31] = self.flags;
        let word = |w: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[w * 8..w * 8 + 8]);
            u64::from_le_bytes(x)
        };
        [word(0), word(1), word(2), word(3)]
    }

    /// The inverse of [`Self::to_words`]. Any words decode to some contact, so a
    /// torn read is harmless until the reader validates it.
    #[inline]
    pub fn from_words(w: [u64; 4]) -> Contact {
        let mut b = [0u8; 32];
        for (chunk, word) in b.chunks_exact_mut(8).zip(w) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        let mut id = [0u8; 20];
        id.copy_from_slice(&b[..20]);
        Contact {
            id: Id::from_bytes(id),
            last_seen: u32::from_le_bytes([b[20], b[21], b[22], b[23]]),
            ip4: [b[24], b[25], b[26], b[27]],
            port: u16::from_le_bytes([b[28], b[29]]),
            fails: b[30],
            flags: b[31],
        }
    }

    /// [`Self::last_seen`] as a [`Time`].
    pub fn last_seen_time(&self) -> Time {
        Time::from_millis(u64::from(self.last_seen) * 1000)
    }
}

/// `(fails, flags)` of a contact in word form, without decoding the rest.
#[inline]
pub(super) fn meta(w: &[u64; 4]) -> (u8, u8) {
    ((w[3] >> 48) as u8, (w[3] >> 56) as u8)
}

/// The id of a contact in word form as a big-endian (high 128 bits, low 32 bits)
/// pair, the form XOR distances are compared in.
#[inline]
pub(super) fn id_key(w: &[u64; 4]) -> (u128, u32) {
    // Words are little-endian, ids big-endian: swap each word's bytes.
    let hi = (u128::from(w[0].swap_bytes()) << 64) | u128::from(w[1].swap_bytes());
    (hi, (w[2] as u32).swap_bytes())
}

/// The node of a contact in word form (IPv4 contacts only).
#[inline]
pub(super) fn node_from_words(w: &[u64; 4]) -> NodeInfo {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(&w[0].to_le_bytes());
    id[8..16].copy_from_slice(&w[1].to_le_bytes());
    id[16..].copy_from_slice(&w[2].to_le_bytes()[..4]);
    let ip = Ipv4Addr::from((w[3] as u32).to_le_bytes());
    let port = (w[3] >> 32) as u16;
    NodeInfo::new(
        Id::from_bytes(id),
        SocketAddr::V4(SocketAddrV4::new(ip, port)),
    )
}

/// `now` in whole seconds since the driver's epoch, saturating (u32 seconds last
/// 136 years).
#[inline]
pub(super) fn secs(now: Time) -> u32 {
    u32::try_from(now.as_millis() / 1000).unwrap_or(u32::MAX)
}
