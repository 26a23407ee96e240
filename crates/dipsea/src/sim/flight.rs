//! The bytes of the datagrams in flight.
//!
//! Each datagram sent is copied to the end of an open chunk (an arena of
//! [`CHUNK`] bytes or so) and queued by its slot: which chunk, and where in it. A
//! chunk counts the datagrams it still holds and goes back to the spares when the
//! last is delivered (or dropped) and it is no longer open.
//!
//! Why not a buffer per datagram: at a million nodes a window's sends go to slots
//! freed at random moments, each a small heap buffer of its own somewhere, and
//! the copy into it was a cache miss on the simulator's one ordered thread (a third
//! of its time in applying a window's calls went to that copy). Appending to one
//! arena stays in cache, and the lanes then read a window's deliveries from a few
//! arenas.

/// Bytes after which the open chunk is closed and a new one opened.
const CHUNK: usize = 64 * 1024;

/// Where one datagram's bytes are.
#[derive(Clone, Copy, Debug)]
struct Slot {
    chunk: u32,
    start: u32,
    len: u32,
}

#[derive(Debug, Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Datagrams of this chunk not yet released.
    held: u32,
}

/// Datagram bytes by slot number; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Flight {
    chunks: Vec<Chunk>,
    /// Chunks holding nothing, their arenas emptied, to open again.
    spare: Vec<u32>,
    /// The chunk new datagrams are appended to.
    open: Option<u32>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
}

impl Flight {
    /// Copies `data` in and returns its slot.
    pub fn hold(&mut self, data: &[u8]) -> u32 {
        let chunk = match self.open {
            Some(chunk) => chunk,
            None => self.open_chunk(),
        };
        let bytes = &mut self.chunks[chunk as usize].bytes;
        let start = bytes.len();
        bytes.extend_from_slice(data);
        let full = bytes.len() >= CHUNK;
        self.chunks[chunk as usize].held += 1;
        if full {
            self.open = None;
        }
        let slot = Slot {
            chunk,
            start: start as u32,
            len: data.len() as u32,
        };
        match self.free_slots.pop() {
            Some(index) => {
                self.slots[index as usize] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// The bytes held in `slot` (empty for a slot never handed out).
    pub fn bytes(&self, slot: u32) -> &[u8] {
        let Some(s) = self.slots.get(slot as usize) else {
            return &[];
        };
        let start = s.start as usize;
        self.chunks[s.chunk as usize]
            .bytes
            .get(start..start + s.len as usize)
            .unwrap_or_default()
    }

    /// Frees `slot`: its datagram was delivered or dropped.
    pub fn release(&mut self, slot: u32) {
        let Some(&Slot { chunk, .. }) = self.slots.get(slot as usize) else {
            return;
        };
        self.free_slots.push(slot);
        let c = &mut self.chunks[chunk as usize];
        c.held -= 1;
        if c.held == 0 && self.open != Some(chunk) {
            c.bytes.clear();
            self.spare.push(chunk);
        }
    }

    fn open_chunk(&mut self) -> u32 {
        let chunk = self.spare.pop().unwrap_or_else(|| {
            self.chunks.push(Chunk {
                bytes: Vec::with_capacity(CHUNK + 2048),
                held: 0,
            });
            (self.chunks.len() - 1) as u32
        });
        self.open = Some(chunk);
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_until_released() {
        let mut flight = Flight::default();
        let a = flight.hold(b"first");
        let b = flight.hold(b"second");
        assert_eq!(flight.bytes(a), b"first");
        assert_eq!(flight.bytes(b), b"second");
        flight.release(a);
        assert_eq!(flight.bytes(b), b"second");
        // The freed slot is reused for the next datagram.
        let c = flight.hold(b"third");
        assert_eq!(c, a);
        assert_eq!(flight.bytes(c), b"third");
        assert_eq!(flight.bytes(999), b"");
    }

    #[test]
    fn a_full_chunk_is_reused_once_every_datagram_in_it_is_released() {
        let mut flight = Flight::default();
        let big = vec![7u8; CHUNK / 2];
        let slots: Vec<u32> = (0..3).map(|_| flight.hold(&big)).collect();
        // Two datagrams fill the first chunk; the third opened a second.
        assert_eq!(flight.chunks.len(), 2);
        flight.release(slots[0]);
        assert!(
            flight.spare.is_empty(),
            "one datagram still in the first chunk"
        );
        flight.release(slots[1]);
        assert_eq!(flight.spare, vec![0]);
        // The open chunk is not given back while open, even with nothing in it.
        flight.release(slots[2]);
        assert_eq!(flight.spare, vec![0]);
        for _ in 0..3 {
            let slot = flight.hold(&big);
            assert_eq!(flight.bytes(slot), &big[..]);
        }
        assert_eq!(flight.chunks.len(), 2, "the spare chunk was opened again");
    }
}
