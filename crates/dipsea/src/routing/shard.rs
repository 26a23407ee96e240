//! A shallow bucket: its contacts published for lock-free readers, its other state
//! behind a writer mutex.
//!
//! Lookups read buckets 0 and 1 in three of four calls, so a lock word there, even a
//! reader-writer lock's, bounces between cores on every call and two threads run
//! slower than one. Instead readers use a sequence counter (a seqlock): a writer,
//! holding the bucket's mutex, makes the counter odd, updates the contacts and makes
//! it even again; a reader reads the counter, the contacts and the counter again,
//! and retries if it changed or was odd. Readers write nothing shared. Everything is
//! an atomic, so there is no `unsafe` and a torn read is merely retried (any bits
//! decode to some contact; only validated reads are used).
//!
//! The ordering follows the classic atomics-only seqlock (H.-J. Boehm, "Can seqlocks
//! get along with programming language memory models?", 2012): the writer stores the
//! odd count, then a release fence, then the data; the reader loads the data, then an
//! acquire fence, then the count.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::bucket::{KBucket, Live};
use super::contact::Contact;

/// A shallow bucket. Contacts live only in `words` (no second copy): the writer
/// reads them back under the mutex.
#[derive(Debug)]
pub(super) struct Shard {
    /// Even when `words` and `len` are stable, odd while a writer changes them.
    seq: AtomicU32,
    /// Number of published contacts.
    len: AtomicU32,
    /// k contacts of four words each ([`Contact::to_words`]).
    words: Box<[AtomicU64]>,
    /// The writer lock, and the bucket's state beside its contacts.
    pub bucket: Mutex<KBucket>,
}

impl Shard {
    /// An empty bucket with room for `k` contacts.
    pub fn new(k: usize) -> Shard {
        Shard {
            seq: AtomicU32::new(0),
            len: AtomicU32::new(0),
            words: (0..k * 4).map(|_| AtomicU64::new(0)).collect(),
            bucket: Mutex::new(KBucket::default()),
        }
    }

    fn capacity(&self) -> usize {
        self.words.len() / 4
    }

    /// Heap bytes of the bucket, itself included.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Shard>()
            + self.words.len() * std::mem::size_of::<AtomicU64>()
            + self.bucket.lock().heap_bytes()
    }

    /// Runs `read` on a consistent view of the contacts (the words and their count),
    /// retrying while a writer intervenes, so `read` may run more than once and must
    /// start afresh each time. Takes no lock and writes nothing shared.
    #[inline]
    pub fn read<R>(&self, mut read: impl FnMut(&[AtomicU64], usize) -> R) -> R {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let len = (self.len.load(Ordering::Relaxed) as usize).min(self.capacity());
                let r = read(&self.words, len);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return r;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// The writer's view of the contacts. Only call it while holding `self.bucket`
    /// (the table does): writers must not overlap.
    pub fn published(&self) -> Published<'_> {
        Published { shard: self }
    }

    fn begin(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
    }

    fn end(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Release);
    }

    fn store(&self, i: usize, words: [u64; 4]) {
        for (slot, w) in self.words[i * 4..i * 4 + 4].iter().zip(words) {
            slot.store(w, Ordering::Relaxed);
        }
    }
}

/// Loads contact `i`'s words from published words (caller validates the read).
#[inline]
pub(super) fn load_words(words: &[AtomicU64], i: usize) -> [u64; 4] {
    let w = &words[i * 4..i * 4 + 4];
    [
        w[0].load(Ordering::Relaxed),
        w[1].load(Ordering::Relaxed),
        w[2].load(Ordering::Relaxed),
        w[3].load(Ordering::Relaxed),
    ]
}

/// A shard's contacts as its writer (holding the mutex) sees and changes them; every
/// change is one seqlock write section.
pub(super) struct Published<'a> {
    shard: &'a Shard,
}

impl Live for Published<'_> {
    fn len(&self) -> usize {
        self.shard.len.load(Ordering::Relaxed) as usize
    }

    fn get(&self, i: usize) -> Contact {
        Contact::from_words(load_words(&self.shard.words, i))
    }

    fn set(&mut self, i: usize, c: Contact) {
        self.shard.begin();
        self.shard.store(i, c.to_words());
        self.shard.end();
    }

    fn push(&mut self, c: Contact) {
        let n = self.len();
        if n >= self.shard.capacity() {
            // Callers check k first; never reached. Dropping beats panicking.
            return;
        }
        self.shard.begin();
        self.shard.store(n, c.to_words());
        self.shard.len.store(n as u32 + 1, Ordering::Relaxed);
        self.shard.end();
    }

    fn swap_remove(&mut self, i: usize) -> Contact {
        let n = self.len();
        let removed = self.get(i);
        let last = self.get(n - 1);
        self.shard.begin();
        self.shard.store(i, last.to_words());
        self.shard.len.store(n as u32 - 1, Ordering::Relaxed);
        self.shard.end();
        removed
    }
}
