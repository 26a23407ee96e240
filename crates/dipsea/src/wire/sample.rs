//! BEP 51 `sample_infohashes` samples: a string of 20-byte info-hashes a node
//! stores peers for, read without copying.

use super::DecodeError;
use crate::id::{Id, ID_LEN};

/// The `samples` of a `sample_infohashes` answer (BEP 51): info-hashes, 20 bytes each,
/// borrowed from the datagram or from a caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Samples<'a> {
    bytes: &'a [u8],
}

impl<'a> Samples<'a> {
    /// Views `bytes` as samples; fails unless its length is a multiple of 20.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Samples<'a>, DecodeError> {
        if !bytes.len().is_multiple_of(ID_LEN) {
            return Err(DecodeError::BadNodesLength {
                key: "samples",
                len: bytes.len(),
                entry: ID_LEN,
            });
        }
        Ok(Samples { bytes })
    }

    /// The raw bytes, as sent.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// How many info-hashes there are.
    pub fn len(&self) -> usize {
        self.bytes.len() / ID_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The info-hashes, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = Id> + 'a {
        self.bytes
            .chunks_exact(ID_LEN)
            .filter_map(|chunk| Id::from_slice(chunk).ok())
    }
}

/// Appends `ids` as the bytes of a `samples` string (no length prefix): the buffer a
/// [`Samples`] is then viewed from.
pub fn write_samples(ids: &[Id], out: &mut Vec<u8>) {
    out.reserve(ids.len() * ID_LEN);
    for id in ids {
        out.extend_from_slice(id.as_bytes());
    }
}
