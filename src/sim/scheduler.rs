//! The event queue: ordered by (time, insertion sequence), so events at the same time run
//! in the order they were scheduled, and bounded, so a runaway node fails loudly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::Instant;

struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    fn time(&self) -> Instant {
        Instant::from_nanos(self.time)
    }
    /// Time in the high 64 bits, sequence in the low: one integer comparison orders both.
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: `BinaryHeap` is a max-heap and we pop the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

pub struct Scheduler<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    len_max: usize,
}

impl<E> Scheduler<E> {
    pub fn new(len_max: usize) -> Self {
        Scheduler { heap: BinaryHeap::new(), next_seq: 0, len_max }
    }

    pub fn push(&mut self, time: Instant, event: E) {
        assert!(
            self.heap.len() < self.len_max,
            "event queue holds {} events: a node is flooding the simulation",
            self.len_max
        );
        self.heap.push(Entry { time: time.as_nanos(), seq: self.next_seq, event });
        self.next_seq += 1;
    }

    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(Entry::time)
    }

    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.heap.pop().map(|e| (e.time(), e.event))
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

    #[test]
    fn bound_is_enforced() {
        let mut s = Scheduler::new(2);
        s.push(Instant::ZERO, ());
        s.push(Instant::ZERO, ());
        let overflow = std::panic::catch_unwind(move || s.push(Instant::ZERO, ()));
        assert!(overflow.is_err(), "a third event fit in a queue bounded at two");
    }
}
