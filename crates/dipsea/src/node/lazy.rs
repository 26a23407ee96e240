//! State a node allocates on first use.
//!
//! A simulator holds a million nodes, and most of them never subscribe, hold a
//! subscription or take part in a broadcast: what those features keep (a few hundred
//! bytes of locks, maps and counters each) would be a tenth of such a node. Behind a
//! [`Lazy`] it costs one pointer until the node first needs it.

use std::sync::OnceLock;

/// A boxed `T`, built on first use by [`Lazy::get_or_init`]; [`Lazy::get`] reads it
/// without building it (a tick or a stats call on a node that never used it).
pub(super) struct Lazy<T>(OnceLock<Box<T>>);

impl<T> Lazy<T> {
    /// Nothing allocated yet.
    pub(super) const fn new() -> Lazy<T> {
        Lazy(OnceLock::new())
    }

    /// The state, if it was ever built.
    pub(super) fn get(&self) -> Option<&T> {
        self.0.get().map(|b| &**b)
    }

    /// The state, built with `init` if this is its first use.
    pub(super) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(|| Box::new(init()))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(t) => t.fmt(f),
            None => f.write_str("(unused)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_on_first_use_and_not_by_reading() {
        let lazy: Lazy<Vec<u8>> = Lazy::new();
        assert!(lazy.get().is_none());
        assert_eq!(lazy.get_or_init(|| vec![1]), &[1]);
        assert_eq!(lazy.get_or_init(|| vec![2]), &[1]);
        assert_eq!(lazy.get(), Some(&vec![1]));
    }
}
