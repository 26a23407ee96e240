//! Routing-table persistence: the node id and its contacts in a small binary file,
//! written atomically and checked on load, so a restarted node rejoins without a
//! bootstrap address and a torn or corrupt file is never trusted.
//!
//! Format (all integers big-endian): `DIPSEART`, version byte `1`, the 20-byte node
//! id, a `u32` contact count, then per contact a family byte (4 or 6) and its compact
//! node info (26 or 38 bytes, BEP 5 / BEP 32), and finally the SHA-1 of everything
//! before it.
//!
//! This module only encodes and decodes (the node stays sans-I/O); the UDP driver
//! reads and writes the file, crash-safely ([`save`], [`load`], re-exported here from
//! the driver's `state_file` module). A file that is torn or corrupt anyway (a disk
//! error, an edit by hand) fails its checksum and is ignored with a warning.

use std::io;

use crate::id::{Id, NodeInfo, ID_LEN};
use crate::wire::{
    read_compact_node, write_compact_node, COMPACT_NODE_V4_LEN, COMPACT_NODE_V6_LEN,
};

pub use super::udp::state_file::{load, remove_stale_temp_files, save};

const MAGIC: &[u8; 8] = b"DIPSEART";
const VERSION: u8 = 1;
/// Most contacts read back; a table never holds more than 160 buckets of k.
const MAX_CONTACTS: u32 = 160 * 64;

/// What a state file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// The node id to keep.
    pub id: Id,
    /// Contacts to bootstrap from.
    pub contacts: Vec<NodeInfo>,
}

/// Why a state file was not used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("state file i/o: {0}")]
    Io(#[from] io::Error),
    /// The file is not a dipsea state file, is truncated or corrupt; it is ignored
    /// and replaced at the next save.
    #[error("state file is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Encodes a state file's bytes.
pub fn encode(id: Id, contacts: &[NodeInfo]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(33 + contacts.len() * 39 + ID_LEN);
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    buf.extend_from_slice(id.as_bytes());
    let count = u32::try_from(contacts.len())
        .unwrap_or(u32::MAX)
        .min(MAX_CONTACTS);
    buf.extend_from_slice(&count.to_be_bytes());
    for contact in contacts.iter().take(count as usize) {
        buf.push(if contact.addr.is_ipv4() { 4 } else { 6 });
        write_compact_node(contact, &mut buf);
    }
    let digest = Id::sha1(&buf);
    buf.extend_from_slice(digest.as_bytes());
    buf
}

/// Decodes a state file's bytes, checking its checksum and every length.
pub fn decode(bytes: &[u8]) -> Result<SavedState, StateError> {
    let body_len = bytes
        .len()
        .checked_sub(ID_LEN)
        .ok_or(StateError::Corrupt("too short"))?;
    let (body, digest) = bytes.split_at(body_len);
    if Id::sha1(body).as_bytes()[..] != digest[..] {
        return Err(StateError::Corrupt("checksum mismatch"));
    }
    let rest = body
        .strip_prefix(&MAGIC[..])
        .ok_or(StateError::Corrupt("not a dipsea state file"))?;
    let (&version, rest) = rest.split_first().ok_or(StateError::Corrupt("truncated"))?;
    if version != VERSION {
        return Err(StateError::Corrupt("unknown version"));
    }
    let (id, rest) = split(rest, ID_LEN)?;
    let id = Id::from_slice(id).map_err(|_| StateError::Corrupt("bad id"))?;
    let (count, mut rest) = split(rest, 4)?;
    let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    if count > MAX_CONTACTS {
        return Err(StateError::Corrupt("too many contacts"));
    }
    let mut contacts = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&family, after) = rest.split_first().ok_or(StateError::Corrupt("truncated"))?;
        let len = match family {
            4 => COMPACT_NODE_V4_LEN,
            6 => COMPACT_NODE_V6_LEN,
            _ => return Err(StateError::Corrupt("bad address family")),
        };
        let (entry, after) = split(after, len)?;
        contacts.push(read_compact_node(entry).ok_or(StateError::Corrupt("bad contact"))?);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(StateError::Corrupt("trailing bytes"));
    }
    Ok(SavedState { id, contacts })
}

fn split(bytes: &[u8], n: usize) -> Result<(&[u8], &[u8]), StateError> {
    if bytes.len() < n {
        return Err(StateError::Corrupt("truncated"));
    }
    Ok(bytes.split_at(n))
}

/// A state of a random id and two contacts, one per address family, for tests of
/// the codec here and of the state file in the UDP driver.
#[cfg(test)]
pub(crate) fn sample() -> SavedState {
    let v4: std::net::SocketAddr = "127.0.0.1:6881".parse().expect("addr");
    let v6: std::net::SocketAddr = "[::1]:6882".parse().expect("addr");
    SavedState {
        id: Id::random(),
        contacts: vec![
            NodeInfo::new(Id::random(), v4),
            NodeInfo::new(Id::random(), v6),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(decode(&encode(s.id, &s.contacts)).expect("decodes"), s);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let s = sample();
        let bytes = encode(s.id, &s.contacts);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flipped byte {i}");
        }
    }
}
