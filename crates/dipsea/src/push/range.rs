//! Key ranges (the ids under a prefix) and subtrees of the id space.

use std::fmt;
use std::str::FromStr;

use crate::id::{Id, ID_BITS, ID_LEN};

/// Whether `id` lies in the subtree of height `height` around `own`: whether it shares
/// at least `160 - height` leading bits with `own`. Height 160 is the whole id space,
/// height 0 is `own` alone.
pub fn in_subtree(own: &Id, height: u8, id: &Id) -> bool {
    own.common_prefix_len(id) + usize::from(height) >= ID_BITS
}

/// The ids whose first `bits` bits equal those of a prefix: the keys "starting with
/// 0x3a" are `KeyRange::from_hex("3a")`, 8 bits. [`KeyRange::ALL`] is the whole space.
///
/// Bits of the prefix past `bits` are always zero, so equal ranges compare equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct KeyRange {
    prefix: Id,
    bits: u8,
}

/// Why a key range is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// More than 160 bits (40 hex digits); give a shorter prefix.
    #[error("a prefix has at most 160 bits, got {0}")]
    TooLong(usize),
    /// A character that is not a hex digit; use 0-9 and a-f.
    #[error("invalid hex digit {0:?} in the prefix")]
    HexDigit(char),
}

impl KeyRange {
    /// Every id: a broadcast to all nodes.
    pub const ALL: KeyRange = KeyRange {
        prefix: Id::ZERO,
        bits: 0,
    };

    /// The ids that share the first `bits` bits of `prefix` (the rest of `prefix` is
    /// ignored).
    pub fn new(prefix: Id, bits: usize) -> Result<KeyRange, RangeError> {
        if bits > ID_BITS {
            return Err(RangeError::TooLong(bits));
        }
        let mut bytes = *prefix.as_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            let keep = bits.saturating_sub(i * 8).min(8);
            *byte &= !(0xffu8.checked_shr(keep as u32).unwrap_or(0));
        }
        Ok(KeyRange {
            prefix: Id::from_bytes(bytes),
            // At most 160: checked above.
            bits: bits as u8,
        })
    }

    /// The ids starting with the hex digits `hex` (4 bits each, at most 40 digits);
    /// `""` is [`KeyRange::ALL`].
    pub fn from_hex(hex: &str) -> Result<KeyRange, RangeError> {
        let digits = hex.trim();
        if digits.len() > 2 * ID_LEN {
            return Err(RangeError::TooLong(digits.len() * 4));
        }
        let mut bytes = [0u8; ID_LEN];
        for (i, ch) in digits.chars().enumerate() {
            let nibble = ch.to_digit(16).ok_or(RangeError::HexDigit(ch))? as u8;
            bytes[i / 2] |= if i % 2 == 0 { nibble << 4 } else { nibble };
        }
        KeyRange::new(Id::from_bytes(bytes), digits.len() * 4)
    }

    /// The prefix, zero past [`bits`](Self::bits).
    pub fn prefix(&self) -> Id {
        self.prefix
    }

    /// How many leading bits of the prefix name the range (0 to 160).
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The height of the range's subtree: `160 - bits`.
    pub fn height(&self) -> u8 {
        ID_BITS as u8 - self.bits
    }

    /// Whether `id` is in the range.
    pub fn contains(&self, id: &Id) -> bool {
        in_subtree(&self.prefix, self.height(), id)
    }
}

impl fmt::Display for KeyRange {
    /// The prefix in hex, as many digits as cover its bits, then `/bits` when the
    /// bits are not a whole number of digits; `*` for the whole space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bits == 0 {
            return f.write_str("*");
        }
        let digits = usize::from(self.bits).div_ceil(4);
        let hex = self.prefix.to_string();
        f.write_str(hex.get(..digits).unwrap_or(&hex))?;
        if !self.bits.is_multiple_of(4) {
            write!(f, "/{}", self.bits)?;
        }
        Ok(())
    }
}

impl FromStr for KeyRange {
    type Err = RangeError;

    /// Hex digits, as [`KeyRange::from_hex`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyRange::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(hex: &str) -> Id {
        let mut padded = hex.to_string();
        padded.extend(std::iter::repeat_n('0', 40 - hex.len()));
        padded.parse().expect("hex id")
    }

    #[test]
    fn hex_prefixes() {
        let r = KeyRange::from_hex("3a").expect("range");
        assert_eq!(r.bits(), 8);
        assert_eq!(r.height(), 152);
        assert!(r.contains(&id("3a")));
        assert!(r.contains(&id("3aff")));
        assert!(!r.contains(&id("3b")));
        assert!(!r.contains(&id("ba")));
        assert_eq!(r.to_string(), "3a");
        assert_eq!(KeyRange::from_hex("").expect("all"), KeyRange::ALL);
        assert!(KeyRange::ALL.contains(&Id::MAX));
        assert_eq!(KeyRange::ALL.to_string(), "*");
        assert_eq!(KeyRange::from_hex("3g"), Err(RangeError::HexDigit('g')));
        assert!(KeyRange::from_hex(&"0".repeat(41)).is_err());
        assert_eq!("3A".parse::<KeyRange>(), Ok(r));
    }

    #[test]
    fn bits_past_the_prefix_are_cleared() {
        let r = KeyRange::new(id("3fff"), 6).expect("range");
        assert_eq!(r.prefix(), id("3c"));
        assert_eq!(r, KeyRange::new(id("3c"), 6).expect("range"));
        assert_eq!(r.to_string(), "3c/6");
        assert!(r.contains(&id("3f")));
        assert!(!r.contains(&id("40")));
        assert_eq!(
            KeyRange::new(Id::MAX, 160).expect("range").prefix(),
            Id::MAX
        );
        assert!(KeyRange::new(Id::MAX, 161).is_err());
    }

    #[test]
    fn subtrees() {
        let own = id("8000");
        assert!(in_subtree(&own, 160, &Id::ZERO));
        assert!(in_subtree(&own, 0, &own));
        assert!(!in_subtree(&own, 0, &id("8001")));
        // Height 159: the half of the space with own's first bit.
        assert!(in_subtree(&own, 159, &id("ff")));
        assert!(!in_subtree(&own, 159, &id("7f")));
    }
}
