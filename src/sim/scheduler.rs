//! The event queue: ordered by (time, insertion sequence), so events at the same time run
//! in the order they were scheduled, and bounded, so a runaway node fails loudly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::Instant;

/// Bits of a [`Key`] that hold the slot; the sequence number takes the rest of the low
/// half.
const SLOT_BITS: u32 = 24;
/// Most events queued at once: every one needs a slot number.
const SLOTS_MAX: usize = 1 << SLOT_BITS;
/// Sequence numbers a run may use (about 10^12 events).
const SEQ_MAX: u64 = 1 << (64 - SLOT_BITS);

/// What the heap orders: one integer, so that sifting moves and compares 16 bytes, not the
/// event (a message is over 100 bytes), which waits in its slot of [`Scheduler::slots`].
/// Time in the high 64 bits, then the sequence number, then the slot: integer order is
/// (time, sequence) order, sequence numbers being unique.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u128);

impl Key {
    fn new(time: Instant, seq: u64, slot: u32) -> Self {
        assert!(seq < SEQ_MAX, "the run used up its event sequence numbers");
        assert!((slot as usize) < SLOTS_MAX);
        let low = (seq << SLOT_BITS) | u64::from(slot);
        Key((u128::from(time.as_nanos()) << 64) | u128::from(low))
    }

    fn time(&self) -> Instant {
        Instant::from_nanos((self.0 >> 64) as u64)
    }

    fn slot(&self) -> usize {
        (self.0 as usize) & (SLOTS_MAX - 1)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    /// Reversed: `BinaryHeap` is a max-heap and we pop the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

pub struct Scheduler<E> {
    heap: BinaryHeap<Key>,
    /// The queued events by slot; `None` marks a free slot (listed in `free`).
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
    len_max: usize,
}

impl<E> Scheduler<E> {
    pub fn new(len_max: usize) -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            len_max,
        }
    }

    pub fn push(&mut self, time: Instant, event: E) {
        assert!(
            self.heap.len() < self.len_max.min(SLOTS_MAX),
            "event queue holds {} events: a node is flooding the simulation",
            self.heap.len()
        );
        let slot = match self.free.pop() {
            Some(slot) => {
                assert!(self.slots[slot as usize].is_none(), "a free slot holds an event");
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 queued events");
                self.slots.push(Some(event));
                slot
            }
        };
        self.heap.push(Key::new(time, self.next_seq, slot));
        self.next_seq += 1;
    }

    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(Key::time)
    }

    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let key = self.heap.pop()?;
        let event = self.slots[key.slot()].take().expect("a queued key has its event");
        self.free.push(key.slot() as u32);
        Some((key.time(), event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::time::Duration;

    #[test]
    fn pops_by_time_then_insertion() {
        let mut s = Scheduler::new(100);
        let t = |ms| Instant::ZERO + Duration::from_millis(ms);
        s.push(t(5), "c");
        s.push(t(1), "a");
        s.push(t(5), "d");
        s.push(t(1), "b");
        let order: Vec<&str> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    /// Interleaved pushes and pops against a sorted list: the same order, and the slots of
    /// popped events are reused (the storage stays at the most events queued at once).
    #[test]
    fn matches_a_sorted_list_and_reuses_slots() {
        let mut rng = crate::sim::SimRng::stream(7, "test/scheduler");
        let mut s = Scheduler::new(1000);
        let mut model: Vec<(u64, u64)> = Vec::new();
        let (mut seq, mut most) = (0, 0);
        for _ in 0..5000 {
            if model.is_empty() || rng.chance(0.55) {
                let time = rng.below(50);
                s.push(Instant::from_nanos(time), seq);
                model.push((time, seq));
                seq += 1;
                most = most.max(model.len());
            } else {
                model.sort_unstable();
                let (time, first) = model.remove(0);
                assert_eq!(s.pop(), Some((Instant::from_nanos(time), first)));
            }
            assert_eq!(s.len(), model.len());
        }
        assert_eq!(s.slots.len(), most);
    }

    #[test]
    fn bound_is_enforced() {
        let mut s = Scheduler::new(2);
        s.push(Instant::ZERO, ());
        s.push(Instant::ZERO, ());
        let overflow = std::panic::catch_unwind(move || s.push(Instant::ZERO, ()));
        assert!(overflow.is_err(), "a third event fit in a queue bounded at two");
    }
}
