//! Aggregated findings: one bug tends to break thousands of records the same way, so a
//! violation carries a count and the first few examples.

use std::fmt::Write;

use crate::kafka::cluster::Layout;
use crate::kafka::protocol::value_producer_index;
use crate::sim::time::Instant;

/// Examples quoted per violation.
pub const EXAMPLES_MAX: usize = 5;

/// An aggregated violation being built: count, first examples, first time.
pub struct Finding {
    pub count: usize,
    pub time: Instant,
    pub examples: Vec<String>,
}

impl Finding {
    pub fn new() -> Self {
        Finding { count: 0, time: Instant::from_nanos(u64::MAX), examples: Vec::new() }
    }

    pub fn add(&mut self, time: Instant, example: impl FnOnce() -> String) {
        self.count += 1;
        self.time = self.time.min(time);
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(example());
        }
    }
}

/// Names a record value: its producer, the producer's restart count, its sequence.
pub fn value_name(layout: &Layout, value: u64) -> String {
    let index = value_producer_index(value) as usize;
    let producer = layout
        .producers
        .get(index)
        .map_or_else(|| format!("producer#{index}"), |&p| layout.name(p).to_string());
    let restarts = (value >> 32) & 0xff;
    let sequence = value & 0xffff_ffff;
    if restarts == 0 {
        format!("{producer}:{sequence}")
    } else {
        format!("{producer}:r{restarts}:{sequence}")
    }
}

pub fn summary(finding: &Finding, headline: &str) -> String {
    let mut text = headline.to_string();
    for example in &finding.examples {
        let _ = write!(text, "\n  - {example}");
    }
    if finding.count > finding.examples.len() {
        let _ = write!(text, "\n  - ... and {} more", finding.count - finding.examples.len());
    }
    text
}
