//! Bencode, the serialization KRPC is written in (BEP 3): a strict, zero-copy reader
//! and append-only writers.
//!
//! Entry points: [`validate`] checks that a buffer holds exactly one well-formed value;
//! [`write_bytes`] and [`write_int`] append encodings to a caller's `Vec<u8>` (what
//! BEP 44 signing needs to build the signed bytes). The pull reader the KRPC decoder
//! walks messages with is crate-private.
//!
//! What the reader accepts, and why:
//! - at most [`MAX_MESSAGE_LEN`] bytes and [`MAX_DEPTH`] levels of nesting, so hostile
//!   input costs bounded time and stack;
//! - integers in canonical form only (`i0e`, `i-5e`; not `i05e`, `i-0e`, `ie`) that fit
//!   an `i64`; string lengths in canonical form that fit in the input;
//! - exactly one value, with no trailing bytes;
//! - dict keys that are byte strings, never twice in one dict. Keys out of sorted order
//!   are tolerated, because deployed clients send them. A dict whose keys ascend is
//!   proven duplicate-free by comparing each key with the one before, at no cost. When
//!   a dict's keys first go out of order, its earlier keys are collected (one re-walk of
//!   that dict so far) into a fixed table, and from then on each new key is checked
//!   against it. The table holds [`MAX_TRACKED_KEYS`] keys of the unsorted dicts open at
//!   once, and re-walks cover at most [`MAX_MESSAGE_LEN`] bytes in all; a message that
//!   needs more is rejected ([`DecodeError::UnsortedKeys`]). So no allocation, and time
//!   linear in the input. Sorted dicts (everything this crate encodes) never touch the
//!   table, so re-encoding a decoded message cannot exceed it.

use std::cmp::Ordering;

use super::DecodeError;

/// Largest datagram the decoder looks at, in bytes (64 KiB).
///
/// A UDP payload cannot be larger (65,507 bytes over IPv4), and KRPC messages are far
/// smaller: BEP 44 caps a stored value at 1000 bytes and a reply carries at most a
/// few hundred bytes of nodes and peers. Anything longer is rejected before parsing.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Deepest nesting of lists and dicts accepted, counting the message dict as 1.
///
/// KRPC itself nests three levels (message, arguments, a `values` or `want` list);
/// the rest is room for BEP 44 values, which may be any bencoded structure. The bound
/// keeps the recursive reader's stack use fixed.
pub const MAX_DEPTH: usize = 32;

/// Size of the table that detects duplicate keys in dicts whose keys arrive out of
/// sorted order (counting the keys of every unsorted dict open at that point).
///
/// KRPC dicts hold about a dozen keys; 64 leaves room for an unsorted BEP 44 value
/// inside an unsorted message while keeping the table small enough for the stack.
pub const MAX_TRACKED_KEYS: usize = 64;

/// Appends the bencoding of a byte string: `<len>:<bytes>`.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_decimal(out, bytes.len() as u64, false);
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// The bencoding of a byte string, `<len>:<bytes>`, as a new buffer: the `v` of a
/// BEP 44 immutable item that holds `bytes`.
pub fn encode_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 6);
    write_bytes(&mut out, bytes);
    out
}

/// The contents of `buf` if it is exactly one bencoded byte string, else `None`.
pub fn decode_bytes(buf: &[u8]) -> Option<&[u8]> {
    match parse_bytes(buf, 0) {
        Ok((bytes, end)) if end == buf.len() => Some(bytes),
        _ => None,
    }
}

/// Appends the bencoding of an integer: `i<n>e`.
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    write_decimal(out, n.unsigned_abs(), n < 0);
    out.push(b'e');
}

/// Appends `n` in decimal (with a leading `-` when `negative`), without allocating.
fn write_decimal(out: &mut Vec<u8>, n: u64, negative: bool) {
    if negative {
        out.push(b'-');
    }
    // Lengths and most integers are short: skip the general loop for them.
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    if n < 100 {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
        return;
    }
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut n = n;
    while n > 0 && start > 0 {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Checks that `buf` is exactly one well-formed bencoded value under the rules in the
/// module docs (length, depth, canonical integers, keys, nothing after it).
///
/// Use it on a BEP 44 value before sending it in a `put`, whose encoder copies `v`
/// verbatim.
pub fn validate(buf: &[u8]) -> Result<(), DecodeError> {
    check_len(buf)?;
    let mut reader = Reader::new(buf);
    reader.skip_value(1)?;
    reader.finish()
}

/// Rejects a buffer longer than [`MAX_MESSAGE_LEN`].
pub(crate) fn check_len(buf: &[u8]) -> Result<(), DecodeError> {
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong {
            len: buf.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(())
}

/// One value as the reader saw it: scalars decoded, containers validated and kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A byte string's contents.
    Bytes(&'a [u8]),
    /// An integer.
    Int(i64),
    /// A list, as its full raw encoding (`l...e`).
    List(&'a [u8]),
    /// A dict, as its full raw encoding (`d...e`).
    Dict(&'a [u8]),
}

/// The state of one open dict while its keys are read.
#[derive(Debug)]
pub(crate) struct DictState<'a> {
    /// Offset of its first key (just after the `d`).
    start: usize,
    /// First entry of the key table that belongs to this dict.
    base: usize,
    /// The previous key, for the sorted-order check.
    prev: Option<&'a [u8]>,
    /// Whether every key so far came in ascending order; if not, all its keys so far
    /// are in the table from `base` on.
    sorted: bool,
}

/// A strict pull reader over one buffer: the caller walks dicts and lists and either
/// reads or skips each value. Never panics; every slice access is checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offsets and lengths of the keys of the open unsorted dicts, innermost last.
    /// Created on first use: most messages have sorted keys only, and skipping its
    /// initialization is a measurable share of decoding a small message.
    keys: Option<[(u16, u16); MAX_TRACKED_KEYS]>,
    /// Number of entries of `keys` in use.
    top: usize,
    /// Bytes that re-walks of unsorted dicts may still cover.
    rewalk_budget: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`. The caller checks the length bound first.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            keys: None,
            top: 0,
            rewalk_budget: MAX_MESSAGE_LEN,
        }
    }

    /// Fails unless the whole buffer has been consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.pos < self.buf.len() {
            return Err(DecodeError::TrailingBytes { pos: self.pos });
        }
        Ok(())
    }

    #[inline]
    fn peek(&self) -> Result<u8, DecodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated { pos: self.pos })
    }

    /// Whether the next value is a dict (without consuming anything).
    #[inline]
    pub(crate) fn at_dict(&self) -> bool {
        self.buf.get(self.pos) == Some(&b'd')
    }

    /// Current offset in the buffer.
    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes from `start` to `end` (empty if out of range).
    #[inline]
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// Whether the next value is a list (without consuming anything).
    #[inline]
    pub(crate) fn at_list(&self) -> bool {
        self.buf.get(self.pos) == Some(&b'l')
    }

    /// Whether the next value is a byte string (without consuming anything).
    #[inline]
    pub(crate) fn at_bytes(&self) -> bool {
        self.buf.get(self.pos).is_some_and(u8::is_ascii_digit)
    }

    /// Reads a byte string `<len>:<bytes>` and returns its contents.
    #[inline]
    pub(crate) fn read_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let (bytes, end) = parse_bytes(self.buf, self.pos)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads an integer `i<n>e` in canonical form that fits an `i64`.
    #[inline]
    pub(crate) fn read_int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        let bad = DecodeError::BadInteger { pos: start };
        if self.peek()? != b'i' {
            return Err(DecodeError::UnexpectedByte {
                pos: self.pos,
                byte: self.peek()?,
            });
        }
        self.pos += 1;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        // Accumulate towards the sign so that i64::MIN parses without overflow.
        let mut n: i64 = 0;
        let mut digits = 0usize;
        loop {
            let c = self.peek()?;
            match c {
                b'0'..=b'9' => {
                    if digits == 1 && n == 0 {
                        return Err(bad); // leading zero
                    }
                    let d = i64::from(c - b'0');
                    n = n
                        .checked_mul(10)
                        .and_then(|n| {
                            if negative {
                                n.checked_sub(d)
                            } else {
                                n.checked_add(d)
                            }
                        })
                        .ok_or(bad)?;
                    digits += 1;
                    self.pos += 1;
                }
                b'e' => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(bad),
            }
        }
        if digits == 0 || (negative && n == 0) {
            return Err(bad); // "ie", "i-e", "i-0e"
        }
        Ok(n)
    }

    /// Consumes the `d` that opens a dict at nesting `depth`.
    #[inline]
    pub(crate) fn begin_dict(&mut self, depth: usize) -> Result<DictState<'a>, DecodeError> {
        self.open(b'd', depth)?;
        Ok(DictState {
            start: self.pos,
            base: self.top,
            prev: None,
            sorted: true,
        })
    }

    /// Consumes the `l` that opens a list at nesting `depth`.
    #[inline]
    pub(crate) fn begin_list(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.open(b'l', depth)
    }

    #[inline]
    fn open(&mut self, tag: u8, depth: usize) -> Result<(), DecodeError> {
        let c = self.peek()?;
        if c != tag {
            return Err(DecodeError::UnexpectedByte {
                pos: self.pos,
                byte: c,
            });
        }
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                pos: self.pos,
                max: MAX_DEPTH,
            });
        }
        self.pos += 1;
        Ok(())
    }

    /// Whether the open list has another item; consumes its closing `e` if not.
    #[inline]
    pub(crate) fn list_has_next(&mut self) -> Result<bool, DecodeError> {
        if self.peek()? == b'e' {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads the next key of the open dict `dict`, or consumes its closing `e` and
    /// returns `None`. The caller must then read or skip the key's value.
    #[inline]
    pub(crate) fn next_key(
        &mut self,
        dict: &mut DictState<'a>,
    ) -> Result<Option<&'a [u8]>, DecodeError> {
        let c = self.peek()?;
        if c == b'e' {
            self.pos += 1;
            // Drop this dict's keys from the table (nested dicts already dropped theirs).
            self.top = dict.base;
            return Ok(None);
        }
        if !c.is_ascii_digit() {
            return Err(DecodeError::KeyNotString { pos: self.pos });
        }
        let key_pos = self.pos;
        let key = self.read_bytes()?;
        if dict.sorted {
            match dict.prev.map(|prev| cmp_keys(key, prev)) {
                None | Some(Ordering::Greater) => {
                    // Ascending so far: distinct from every earlier key.
                    dict.prev = Some(key);
                    return Ok(Some(key));
                }
                Some(Ordering::Equal) => return Err(DecodeError::DuplicateKey { pos: key_pos }),
                Some(Ordering::Less) => {
                    dict.sorted = false;
                    self.track_earlier_keys(dict, key_pos)?;
                }
            }
        }
        let tracked = self.keys.as_ref().and_then(|k| k.get(dict.base..self.top));
        for &(start, len) in tracked.unwrap_or_default() {
            let start = usize::from(start);
            if self.buf.get(start..start + usize::from(len)) == Some(key) {
                return Err(DecodeError::DuplicateKey { pos: key_pos });
            }
        }
        self.track(self.pos - key.len(), self.pos)?;
        Ok(Some(key))
    }

    /// Puts the key at `start..end` in the table.
    fn track(&mut self, start: usize, end: usize) -> Result<(), DecodeError> {
        let full = DecodeError::UnsortedKeys { pos: start };
        // Both fit u16 in a buffer of at most MAX_MESSAGE_LEN (64 KiB): a key starts
        // before its end and, with its length prefix, is shorter than it.
        let entry = u16::try_from(start)
            .ok()
            .zip(u16::try_from(end - start).ok())
            .ok_or(full)?;
        let slot = self
            .keys
            .get_or_insert([(0, 0); MAX_TRACKED_KEYS])
            .get_mut(self.top)
            .ok_or(full)?;
        *slot = entry;
        self.top += 1;
        Ok(())
    }

    /// Puts the keys of `dict` before offset `until` in the table, by walking the
    /// (already validated) entries again.
    fn track_earlier_keys(
        &mut self,
        dict: &DictState<'a>,
        until: usize,
    ) -> Result<(), DecodeError> {
        let cost = until.saturating_sub(dict.start);
        self.rewalk_budget = self
            .rewalk_budget
            .checked_sub(cost)
            .ok_or(DecodeError::UnsortedKeys { pos: until })?;
        let mut pos = dict.start;
        while pos < until {
            let (key, end) = parse_bytes(self.buf, pos)?;
            self.track(end - key.len(), end)?;
            pos = skip_validated(self.buf, end).ok_or(DecodeError::Truncated { pos: end })?;
        }
        Ok(())
    }

    /// Reads one value at nesting `depth`: scalars decoded, containers validated in
    /// full and returned raw.
    #[inline]
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let mut slot = None;
        self.value_into(depth, &mut slot)?;
        slot.ok_or(DecodeError::Truncated { pos: self.pos })
    }

    /// [`value`](Self::value), stored straight into `slot`.
    ///
    /// Hot loops use this form: returning a freshly built `Value` through a `Result`
    /// and copying it into place stalled on store forwarding, a measurable share of
    /// decoding a small message.
    #[inline]
    pub(crate) fn value_into(
        &mut self,
        depth: usize,
        slot: &mut Option<Value<'a>>,
    ) -> Result<(), DecodeError> {
        let start = self.pos;
        match self.peek()? {
            b'i' => *slot = Some(Value::Int(self.read_int()?)),
            b'0'..=b'9' => *slot = Some(Value::Bytes(self.read_bytes()?)),
            b'l' => *slot = Some(Value::List(self.skip_value(depth)?)),
            b'd' => *slot = Some(Value::Dict(self.skip_value(depth)?)),
            byte => return Err(DecodeError::UnexpectedByte { pos: start, byte }),
        }
        Ok(())
    }

    /// Validates and steps over one value at nesting `depth`, returning its raw bytes.
    ///
    /// Recursion is bounded by [`MAX_DEPTH`]: `begin_dict`/`begin_list` refuse deeper.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        match self.peek()? {
            b'i' => {
                self.read_int()?;
            }
            b'0'..=b'9' => {
                self.read_bytes()?;
            }
            b'l' => {
                self.begin_list(depth)?;
                while self.list_has_next()? {
                    self.skip_value(depth + 1)?;
                }
            }
            b'd' => {
                let mut dict = self.begin_dict(depth)?;
                while self.next_key(&mut dict)?.is_some() {
                    self.skip_value(depth + 1)?;
                }
            }
            byte => return Err(DecodeError::UnexpectedByte { pos: start, byte }),
        }
        Ok(self.buf.get(start..self.pos).unwrap_or_default())
    }
}

/// Orders two keys as bencode does (bytewise), deciding on the first byte when it
/// differs, as it does between most KRPC keys, without a call to `memcmp`.
#[inline]
fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Parses the byte string `<len>:<bytes>` at `pos`: its contents and end offset.
#[inline]
fn parse_bytes(buf: &[u8], pos: usize) -> Result<(&[u8], usize), DecodeError> {
    let mut at = pos;
    let mut len: usize = 0;
    loop {
        let c = *buf.get(at).ok_or(DecodeError::Truncated { pos: at })?;
        match c {
            b'0'..=b'9' => {
                // A leading zero is only canonical as the whole length "0".
                if at > pos && len == 0 {
                    return Err(DecodeError::BadLength { pos });
                }
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(c - b'0')))
                    .ok_or(DecodeError::BadLength { pos })?;
                at += 1;
            }
            b':' if at > pos => break,
            _ if at == pos => return Err(DecodeError::UnexpectedByte { pos, byte: c }),
            _ => return Err(DecodeError::BadLength { pos }),
        }
    }
    let start = at + 1;
    let end = start
        .checked_add(len)
        .ok_or(DecodeError::BadLength { pos })?;
    let bytes = buf.get(start..end).ok_or(DecodeError::BadLength { pos })?;
    Ok((bytes, end))
}

/// The end offset of the value at `pos`, which has been validated already: walks
/// tokens without recursion or checks beyond bounds. `None` if it runs off the end.
fn skip_validated(buf: &[u8], mut pos: usize) -> Option<usize> {
    let mut open = 0usize;
    loop {
        match *buf.get(pos)? {
            b'i' => pos += buf.get(pos..)?.iter().position(|&c| c == b'e')? + 1,
            b'l' | b'd' => {
                open += 1;
                pos += 1;
            }
            b'e' => {
                open = open.checked_sub(1)?;
                pos += 1;
            }
            _ => pos = parse_bytes(buf, pos).ok()?.1,
        }
        if open == 0 {
            return Some(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &[u8]) {
        let head = String::from_utf8_lossy(&s[..s.len().min(80)]);
        assert_eq!(validate(s), Ok(()), "{head:?}");
    }

    fn err(s: &[u8]) -> DecodeError {
        match validate(s) {
            Ok(()) => panic!(
                "accepted {:?}",
                String::from_utf8_lossy(&s[..s.len().min(80)])
            ),
            Err(e) => e,
        }
    }

    fn int(s: &[u8]) -> Result<i64, DecodeError> {
        let mut r = Reader::new(s);
        let n = r.read_int()?;
        r.finish()?;
        Ok(n)
    }

    #[test]
    fn canonical_integers() {
        assert_eq!(int(b"i0e"), Ok(0));
        assert_eq!(int(b"i-1e"), Ok(-1));
        assert_eq!(int(b"i42e"), Ok(42));
        assert_eq!(int(b"i9223372036854775807e"), Ok(i64::MAX));
        assert_eq!(int(b"i-9223372036854775808e"), Ok(i64::MIN));
        for bad in [
            &b"ie"[..],
            b"i-e",
            b"i-0e",
            b"i00e",
            b"i01e",
            b"i-01e",
            b"i9223372036854775808e",
            b"i-9223372036854775809e",
            b"i1.5e",
            b"i+1e",
            b"i 1e",
            b"i--1e",
        ] {
            assert!(
                matches!(int(bad), Err(DecodeError::BadInteger { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(int(b"i12"), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn canonical_lengths() {
        ok(b"0:");
        ok(b"3:abc");
        ok(b"10:0123456789");
        assert!(matches!(err(b"03:abc"), DecodeError::BadLength { .. }));
        assert!(matches!(err(b"00:"), DecodeError::BadLength { .. }));
        assert!(matches!(err(b"4:abc"), DecodeError::BadLength { .. }));
        assert!(matches!(
            err(b"99999999999999999999999:x"),
            DecodeError::BadLength { .. }
        ));
        assert!(matches!(err(b"3"), DecodeError::Truncated { .. }));
        assert!(matches!(err(b"3x"), DecodeError::BadLength { .. }));
        assert!(matches!(err(b""), DecodeError::Truncated { .. }));
    }

    #[test]
    fn structure() {
        ok(b"le");
        ok(b"de");
        ok(b"li1e3:abcd1:ai2eee");
        assert!(matches!(
            err(b"i1ei2e"),
            DecodeError::TrailingBytes { pos: 3 }
        ));
        assert!(matches!(err(b"l"), DecodeError::Truncated { .. }));
        assert!(matches!(err(b"d1:a"), DecodeError::Truncated { .. }));
        assert!(matches!(err(b"di1ei2ee"), DecodeError::KeyNotString { .. }));
        assert!(matches!(err(b"x"), DecodeError::UnexpectedByte { .. }));
        assert!(matches!(err(b"d1:ae"), DecodeError::UnexpectedByte { .. }));
    }

    #[test]
    fn depth_is_bounded() {
        let nested = |n: usize| [vec![b'l'; n], vec![b'e'; n]].concat();
        ok(&nested(MAX_DEPTH));
        assert!(matches!(
            err(&nested(MAX_DEPTH + 1)),
            DecodeError::TooDeep { .. }
        ));
        // Deep enough to overflow an unbounded recursive parser's stack.
        assert!(matches!(
            err(&nested(MAX_MESSAGE_LEN / 2)),
            DecodeError::TooDeep { .. }
        ));
    }

    #[test]
    fn length_is_bounded() {
        let mut big = b"65530:".to_vec();
        big.resize(6 + 65530, b'x');
        ok(&big); // exactly MAX_MESSAGE_LEN
        big.push(b'x');
        assert!(matches!(err(&big), DecodeError::TooLong { .. }));
    }

    #[test]
    fn duplicate_and_unsorted_keys() {
        ok(b"d1:ai1e1:bi2ee");
        // Out of order is tolerated...
        ok(b"d1:bi1e1:ai2ee");
        ok(b"d1:ti1e1:yi1e1:qi1e1:ai1ee");
        // ...but never a key twice, sorted or not, adjacent or not.
        assert!(matches!(
            err(b"d1:ai1e1:ai2ee"),
            DecodeError::DuplicateKey { pos: 7 }
        ));
        assert!(matches!(
            err(b"d1:bi1e1:ai2e1:bi3ee"),
            DecodeError::DuplicateKey { .. }
        ));
        assert!(matches!(
            err(b"d1:ai1e1:ci1e1:bi2e1:ai3ee"),
            DecodeError::DuplicateKey { .. }
        ));
        // Keys of a nested dict do not clash with the enclosing dict's.
        ok(b"d1:bd1:bi1e1:ai1ee1:ai1ee");
        // A key may repeat in sibling dicts.
        ok(b"ld1:bi1e1:ai1eed1:bi1e1:ai1eee");
    }

    #[test]
    fn sorted_dicts_have_no_key_limit() {
        let mut d = b"d".to_vec();
        for i in 0..1000 {
            write_bytes(&mut d, format!("{i:04}").as_bytes());
            write_int(&mut d, i);
        }
        d.push(b'e');
        ok(&d);
        // The same keys, last one out of order: too many to track.
        let mut d = b"d".to_vec();
        for i in 1..1000 {
            write_bytes(&mut d, format!("{i:04}").as_bytes());
            write_int(&mut d, i);
        }
        write_bytes(&mut d, b"0000");
        write_int(&mut d, 0);
        d.push(b'e');
        assert!(matches!(err(&d), DecodeError::UnsortedKeys { .. }));
    }

    #[test]
    fn unsorted_dicts_within_the_table() {
        let mut d = b"d".to_vec();
        for i in (0..MAX_TRACKED_KEYS).rev() {
            write_bytes(&mut d, format!("{i:04}").as_bytes());
            write_int(&mut d, 0);
        }
        d.push(b'e');
        ok(&d);
        let mut d = b"d".to_vec();
        for i in (0..=MAX_TRACKED_KEYS).rev() {
            write_bytes(&mut d, format!("{i:04}").as_bytes());
            write_int(&mut d, 0);
        }
        d.push(b'e');
        assert!(matches!(err(&d), DecodeError::UnsortedKeys { .. }));
    }

    #[test]
    fn writers() {
        let mut out = Vec::new();
        write_int(&mut out, 0);
        write_int(&mut out, -7);
        write_int(&mut out, i64::MIN);
        write_int(&mut out, i64::MAX);
        write_bytes(&mut out, b"");
        write_bytes(&mut out, b"spam");
        assert_eq!(
            out,
            b"i0ei-7ei-9223372036854775808ei9223372036854775807e0:4:spam".to_vec()
        );
    }
}
