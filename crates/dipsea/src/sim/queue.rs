//! The event queue: a timing wheel of one-millisecond slots over the next
//! [`SLOTS`] milliseconds, and a binary heap for events further out.
//!
//! A million nodes keep a million timer events queued; a binary heap of them costs
//! some twenty cache misses per pop. Nearly every event is due within a minute
//! (datagram deliveries, query timeouts, the next maintenance run), so the wheel
//! makes push and pop O(1); the far heap holds the rest (re-publishing, refresh
//! checks) and feeds the wheel as time reaches them.
//!
//! Order is exactly (time, sequence number): within a slot, events sit in the order
//! they were pushed, which is sequence order, because an event for time `t` goes to
//! the far heap while `t` is beyond the wheel and to the slot once it is within, and
//! the far heap's events for `t` are moved into the slot, in order, the moment `t`
//! comes within the wheel, before anything can be pushed there directly.

use std::collections::BinaryHeap;

/// Milliseconds the wheel covers: 65.5 s, past the maintenance interval (60 s), so
/// that the next maintenance run and every delivery stays on the wheel.
pub(crate) const SLOTS: u64 = 1 << 16;

/// Capacity a drained slot may keep.
const KEEP: usize = 16;

/// A queued event with its payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<T> {
    pub at: u64,
    pub seq: u64,
    pub item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap, we want the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events ordered by (time, sequence number); see the module docs.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    /// Slot `t % SLOTS` holds the events due at `t`, for `t` in
    /// `cur..cur + SLOTS`.
    slots: Vec<Vec<Entry<T>>>,
    /// Events due at `cur + SLOTS` or later.
    far: BinaryHeap<Entry<T>>,
    /// The millisecond being drained.
    cur: u64,
    /// How many events of slot `cur` were popped already.
    cursor: usize,
    /// Events on the wheel (popped ones excluded).
    near: usize,
    seq: u64,
}

impl<T: Copy> Queue<T> {
    /// An empty queue at time zero.
    pub fn new() -> Queue<T> {
        Queue {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            far: BinaryHeap::new(),
            cur: 0,
            cursor: 0,
            near: 0,
            seq: 0,
        }
    }

    /// Queued events.
    pub fn len(&self) -> usize {
        self.near + self.far.len()
    }

    /// Queues `item` at `at` (a time already passed counts as now); returns its
    /// sequence number.
    pub fn push(&mut self, at: u64, item: T) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let at = at.max(self.cur);
        let entry = Entry { at, seq, item };
        if at < self.cur + SLOTS {
            self.slots[(at % SLOTS) as usize].push(entry);
            self.near += 1;
        } else {
            self.far.push(entry);
        }
        seq
    }

    /// The time of the next event. The wheel stays where it is: the caller may
    /// still push events before that time (the clock has not moved there).
    pub fn peek_at(&self) -> Option<u64> {
        if self.cursor < self.slots[(self.cur % SLOTS) as usize].len() {
            return Some(self.cur);
        }
        if self.near == 0 {
            return self.far.peek().map(|e| e.at);
        }
        // Only slot `cur` can hold popped events; a later non-empty slot is due.
        (self.cur + 1..self.cur + SLOTS).find(|t| !self.slots[(t % SLOTS) as usize].is_empty())
    }

    /// The next event.
    pub fn pop(&mut self) -> Option<Entry<T>> {
        if !self.settle() {
            return None;
        }
        let slot = &self.slots[(self.cur % SLOTS) as usize];
        let entry = slot[self.cursor];
        self.cursor += 1;
        self.near -= 1;
        Some(entry)
    }

    /// Moves `cur` to the next millisecond with an unpopped event; false if none.
    fn settle(&mut self) -> bool {
        loop {
            let index = (self.cur % SLOTS) as usize;
            if self.cursor < self.slots[index].len() {
                return true;
            }
            if self.near == 0 && self.far.is_empty() {
                return false;
            }
            // The slot is drained: recycle it and step to the next millisecond,
            // jumping straight to the far heap's first event when the wheel is empty.
            // A slot keeps a small buffer; a big one goes back to the allocator,
            // else 65,536 slots would each keep the most they ever held (hundreds
            // of megabytes after a busy build).
            let slot = &mut self.slots[index];
            if slot.capacity() > KEEP {
                *slot = Vec::new();
            } else {
                slot.clear();
            }
            self.cursor = 0;
            self.cur = if self.near == 0 {
                self.far.peek().map_or(self.cur + 1, |e| e.at)
            } else {
                self.cur + 1
            };
            // Everything the wheel now reaches moves onto it, in order.
            let horizon = self.cur + SLOTS;
            while self.far.peek().is_some_and(|e| e.at < horizon) {
                if let Some(e) = self.far.pop() {
                    self.slots[(e.at % SLOTS) as usize].push(e);
                    self.near += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn pops_in_time_then_sequence_order() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let mut q = Queue::new();
        let mut all = Vec::new();
        let mut now = 0u64;
        let mut popped = Vec::new();
        for round in 0..20_000u32 {
            // Mostly near, some far, some at the current time.
            let at = match rng.gen_range(0..10) {
                0 => now + rng.gen_range(0..SLOTS * 5),
                1 => now,
                _ => now + rng.gen_range(0..200),
            };
            let seq = q.push(at, round);
            all.push((at, seq));
            if rng.gen_bool(0.45) {
                if let Some(e) = q.pop() {
                    assert!(e.at >= now);
                    now = e.at;
                    popped.push((e.at, e.seq));
                }
            }
        }
        // Peeking moves nothing: an event pushed before the peeked time still
        // comes first.
        if let Some(next) = q.peek_at() {
            if next > now + 1 {
                let seq = q.push(now + 1, u32::MAX);
                all.push((now + 1, seq));
                assert_eq!(q.peek_at(), Some(now + 1));
            }
        }
        while let Some(next) = q.peek_at() {
            let e = q.pop().expect("a peeked event pops");
            assert_eq!(e.at, next, "peek and pop agree");
            popped.push((e.at, e.seq));
        }
        assert!(q.pop().is_none());
        assert_eq!(q.len(), 0);
        let mut sorted = popped.clone();
        sorted.sort_unstable();
        assert_eq!(popped, sorted, "popped out of order");
        assert_eq!(popped.len(), all.len());
    }
}
