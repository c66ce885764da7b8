//! Per-node clocks. A node reads simulated time plus its skew: an offset and a drift in
//! parts per million since the skew began. A node's clock never runs backwards: when a
//! skew is undone (NTP stepping the clock back), the reading stalls until simulated time
//! catches up, as a monotonic clock would. Timers are measured on the node's clock, so a
//! fast clock fires them early in simulated time.

use super::time::{Duration, Instant};

/// Drift is kept above -100%: a clock that stops would never fire a timer.
const DRIFT_PPM_MIN: i64 = -999_999;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ns: i64,
    drift_ppm: i64,
    drift_since: Instant,
    last_reading: Instant,
}

impl Clock {
    pub fn set_skew(&mut self, now: Instant, offset_ns: i64, drift_ppm: i64) {
        self.offset_ns = offset_ns;
        self.drift_ppm = drift_ppm.max(DRIFT_PPM_MIN);
        self.drift_since = now;
    }

    pub fn clear_skew(&mut self, now: Instant) {
        self.set_skew(now, 0, 0);
    }

    pub fn is_skewed(&self) -> bool {
        self.offset_ns != 0 || self.drift_ppm != 0
    }

    /// The node's reading at simulated time `now`.
    pub fn read(&mut self, now: Instant) -> Instant {
        if self.offset_ns == 0 && self.drift_ppm == 0 {
            // No skew: the reading is simulated time (held back only after a clear_skew).
            self.last_reading = self.last_reading.max(now);
            return self.last_reading;
        }
        let elapsed = now.saturating_since(self.drift_since).as_nanos() as i128;
        let drift = elapsed * self.drift_ppm as i128 / 1_000_000;
        let local = now.as_nanos() as i128 + self.offset_ns as i128 + drift;
        let local = Instant::from_nanos(local.clamp(0, u64::MAX as i128) as u64);
        self.last_reading = self.last_reading.max(local);
        self.last_reading
    }

    /// How long in simulated time a timer of `delay` on this clock takes.
    pub fn to_sim_delay(&self, delay: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return delay;
        }
        let scaled = delay.as_nanos() as u128 * 1_000_000 / (1_000_000 + self.drift_ppm) as u128;
        Duration::from_nanos(scaled.min(u64::MAX as u128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift() {
        let mut clock = Clock::default();
        let t0 = Instant::ZERO + Duration::from_secs(10);
        clock.set_skew(t0, 2_000_000_000, 1_000); // +2s, 0.1% fast
        let later = t0 + Duration::from_secs(100);
        assert_eq!(clock.read(later), later + Duration::from_millis(2_100));
        // A 0.1% fast clock counts 1s in a little less than 1s of simulated time.
        let sim = clock.to_sim_delay(Duration::from_secs(1));
        assert!(sim < Duration::from_secs(1) && sim > Duration::from_millis(998));
    }

    #[test]
    fn clearing_skew_never_runs_the_clock_backwards() {
        let mut clock = Clock::default();
        let t0 = Instant::ZERO + Duration::from_secs(1);
        clock.set_skew(t0, 5_000_000_000, 0);
        let ahead = clock.read(t0);
        clock.clear_skew(t0);
        assert_eq!(clock.read(t0 + Duration::from_secs(1)), ahead);
        let caught_up = t0 + Duration::from_secs(6);
        assert_eq!(clock.read(caught_up), caught_up);
    }

    #[test]
    fn negative_offset_saturates_at_zero() {
        let mut clock = Clock::default();
        clock.set_skew(Instant::ZERO, -5_000_000_000, 0);
        assert_eq!(clock.read(Instant::ZERO + Duration::from_secs(1)), Instant::ZERO);
    }
}
