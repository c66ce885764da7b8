//! One replica's partition log: records with dense offsets, the leader-epoch cache, the
//! log end offset (LEO) and the high watermark (HW).
//!
//! The in-memory records mirror the partition's disk file entry for entry (record `i` is
//! entry `i`), so a restart rebuilds the log by reading the file. Kafka does not fsync by
//! default; neither does this log: the disk's writeback decides what a power loss keeps.

use crate::sim::disk::Disk;

use super::protocol::{Entry, Record, TopicPartition};

/// One entry of the leader-epoch cache (Kafka's `leader-epoch-checkpoint`): `epoch` starts
/// at `start_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: u32,
    pub start_offset: u64,
}

/// What a follower does with an OffsetsForLeaderEpoch answer (Kafka's
/// `OffsetTruncationState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub truncate_to: u64,
    /// False: the follower lacks the epoch the leader answered with; it truncates to the
    /// end of its own earlier epoch and asks again (KIP-279).
    pub complete: bool,
}

#[derive(Clone, Debug)]
pub struct PartitionLog {
    tp: TopicPartition,
    file: String,
    records: Vec<Record>,
    /// Strictly increasing epochs, non-decreasing start offsets, every start <= LEO.
    epochs: Vec<EpochEntry>,
    high_watermark: u64,
}

impl PartitionLog {
    /// The disk file of a partition: Kafka's log directory name.
    pub fn file_name(tp: &TopicPartition) -> String {
        tp.to_string()
    }

    /// Parses a log file name back into its partition (`events-0`); `None` for other files.
    pub fn parse_file_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition = partition.parse().ok()?;
        (!topic.is_empty()).then(|| TopicPartition::new(topic, partition))
    }

    /// Opens the log from whatever the disk holds. The HW is not checkpointed in the
    /// skeleton: it restarts at 0 and is learnt again from the leader.
    pub fn open(tp: TopicPartition, disk: &Disk<Entry>) -> Self {
        let file = Self::file_name(&tp);
        let mut log = PartitionLog {
            tp,
            file: file.clone(),
            records: Vec::new(),
            epochs: Vec::new(),
            high_watermark: 0,
        };
        for entry in disk.read(&file) {
            let Entry::Record(record) = entry else {
                panic!("{}: non-record entry {entry:?} in a log file", log.tp);
            };
            log.push_in_memory(*record);
        }
        log
    }

    pub fn tp(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn log_end_offset(&self) -> u64 {
        self.records.len() as u64
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }

    pub fn latest_epoch(&self) -> Option<u32> {
        self.epochs.last().map(|e| e.epoch)
    }

    fn push_in_memory(&mut self, record: Record) {
        assert_eq!(
            record.offset,
            self.log_end_offset(),
            "{}: offsets must be dense (record {record:?})",
            self.tp
        );
        match self.latest_epoch() {
            Some(latest) if record.leader_epoch < latest => {
                panic!("{}: record epoch {} after epoch {latest}", self.tp, record.leader_epoch)
            }
            Some(latest) if record.leader_epoch == latest => {}
            _ => self.assign_epoch_start(record.leader_epoch, record.offset),
        }
        self.records.push(record);
    }

    /// Appends one record (leader append or follower replication).
    pub fn append(&mut self, disk: &mut Disk<Entry>, record: Record) {
        self.push_in_memory(record);
        disk.append(&self.file, Entry::Record(record));
    }

    /// The leader's append: the next offset, stamped with the leader's epoch.
    pub fn append_as_leader(
        &mut self,
        disk: &mut Disk<Entry>,
        leader_epoch: u32,
        key: u32,
        value: u64,
    ) -> u64 {
        let offset = self.log_end_offset();
        self.append(disk, Record { offset, leader_epoch, key, value });
        offset
    }

    /// Records from `from` up to (not including) `upto`, at most `max`.
    pub fn read(&self, from: u64, upto: u64, max: usize) -> Vec<Record> {
        let upto = upto.min(self.log_end_offset());
        if from >= upto {
            return Vec::new();
        }
        let end = upto.min(from.saturating_add(max as u64));
        self.records[from as usize..end as usize].to_vec()
    }

    /// Cuts the log to `offset` records; the epoch cache and the HW follow.
    /// Epochs that start at or after `offset` go even when no record does: an epoch this
    /// replica led without writing would otherwise stay its latest, and the follower would
    /// ask the leader about it forever.
    pub fn truncate_to(&mut self, disk: &mut Disk<Entry>, offset: u64) {
        let offset = offset.min(self.log_end_offset());
        self.epochs.retain(|e| e.start_offset < offset);
        if offset < self.log_end_offset() {
            self.records.truncate(offset as usize);
            self.high_watermark = self.high_watermark.min(offset);
            disk.truncate(&self.file, offset as usize);
        }
        self.check();
    }

    /// Kafka's `LeaderEpochFileCache.assign`: `epoch` starts at `offset`. Entries that
    /// conflict (same or later epoch, or starting at or after `offset`) are dropped: they
    /// hold no record, or they are being overwritten.
    pub fn assign_epoch_start(&mut self, epoch: u32, offset: u64) {
        assert!(offset <= self.log_end_offset(), "{}: epoch {epoch} starts past LEO", self.tp);
        if let Some(last) = self.epochs.last() {
            assert!(
                epoch >= last.epoch,
                "{}: epoch {epoch} assigned after epoch {}",
                self.tp,
                last.epoch
            );
            if last.epoch == epoch {
                return;
            }
        }
        self.epochs.retain(|e| e.epoch < epoch && e.start_offset < offset);
        self.epochs.push(EpochEntry { epoch, start_offset: offset });
    }

    /// The leader's answer to OffsetsForLeaderEpoch (KIP-279, Kafka's
    /// `LeaderEpochFileCache.endOffsetFor`): the largest epoch <= `requested` and the
    /// offset where it ends. `None` (undefined) when `requested` is past the latest epoch.
    pub fn end_offset_for_epoch(&self, requested: u32) -> Option<(u32, u64)> {
        let latest = self.epochs.last()?;
        if requested == latest.epoch {
            return Some((requested, self.log_end_offset()));
        }
        let higher_idx = self.epochs.iter().position(|e| e.epoch > requested)?;
        let end = self.epochs[higher_idx].start_offset;
        match higher_idx.checked_sub(1) {
            // Older than the oldest epoch we know: everything of it ends where ours start.
            None => Some((requested, end)),
            Some(floor_idx) => Some((self.epochs[floor_idx].epoch, end)),
        }
    }

    /// The follower's side (Kafka's `AbstractFetcherThread.getOffsetTruncationState`):
    /// given the leader's (epoch, end offset), where to truncate.
    pub fn truncation_for(&self, leader_answer: Option<(u32, u64)>) -> Truncation {
        let leo = self.log_end_offset();
        let Some((leader_epoch, leader_end)) = leader_answer else {
            // The leader knows no such epoch: fall back to the pre-KIP-101 rule.
            return Truncation { truncate_to: self.high_watermark.min(leo), complete: true };
        };
        match self.end_offset_for_epoch(leader_epoch) {
            Some((own_epoch, own_end)) if own_epoch == leader_epoch => {
                Truncation { truncate_to: own_end.min(leader_end).min(leo), complete: true }
            }
            // We lack the leader's epoch: drop everything after our largest epoch below
            // it, and ask again about that one.
            Some((_, own_end)) => Truncation { truncate_to: own_end.min(leo), complete: false },
            None => Truncation { truncate_to: leader_end.min(leo), complete: true },
        }
    }

    /// A follower's HW: the leader's, capped by what this replica has.
    pub fn set_follower_high_watermark(&mut self, leader_hw: u64) {
        self.high_watermark = leader_hw.min(self.log_end_offset());
        self.check();
    }

    /// The leader's HW only moves forward (MonotonicHighWatermark).
    pub fn advance_high_watermark(&mut self, hw: u64) -> bool {
        assert!(hw <= self.log_end_offset(), "{}: HW {hw} past LEO", self.tp);
        if hw > self.high_watermark {
            self.high_watermark = hw;
            true
        } else {
            false
        }
    }

    fn check(&self) {
        assert!(self.high_watermark <= self.log_end_offset(), "{}: HW > LEO", self.tp);
        assert!(
            self.epochs
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
            "{}: epoch cache out of order: {:?}",
            self.tp,
            self.epochs
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("events", 0)
    }

    /// A log whose records carry the given epochs, in order.
    fn log_with(epochs: &[u32]) -> (PartitionLog, Disk<Entry>) {
        let mut disk = Disk::new();
        let mut log = PartitionLog::open(tp(), &disk);
        for (i, &epoch) in epochs.iter().enumerate() {
            log.append_as_leader(&mut disk, epoch, 0, 100 + i as u64);
        }
        (log, disk)
    }

    #[test]
    fn file_names_round_trip() {
        let tp = TopicPartition::new("my-topic", 12);
        assert_eq!(PartitionLog::parse_file_name(&PartitionLog::file_name(&tp)), Some(tp));
        assert_eq!(PartitionLog::parse_file_name("__cluster_metadata"), None);
    }

    #[test]
    fn append_builds_epoch_cache_and_reopens_from_disk() {
        let (log, disk) = log_with(&[1, 1, 3, 3, 3, 4]);
        let expect = [(1, 0), (3, 2), (4, 5)]
            .map(|(epoch, start_offset)| EpochEntry { epoch, start_offset });
        assert_eq!(log.epochs(), &expect);
        let reopened = PartitionLog::open(tp(), &disk);
        assert_eq!(reopened.records(), log.records());
        assert_eq!(reopened.epochs(), log.epochs());
        assert_eq!(reopened.high_watermark(), 0);
    }

    #[test]
    #[should_panic(expected = "after epoch")]
    fn epochs_in_a_log_never_go_back() {
        log_with(&[2, 1]);
    }

    #[test]
    fn end_offset_for_epoch_follows_kip_279() {
        let (mut log, _) = log_with(&[1, 1, 3, 3, 3, 4]);
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 6)));
        assert_eq!(log.end_offset_for_epoch(3), Some((3, 5)));
        // Epoch 2 was never written here: the largest epoch below it is 1, ending at 2.
        assert_eq!(log.end_offset_for_epoch(2), Some((1, 2)));
        assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
        assert_eq!(log.end_offset_for_epoch(5), None);
        // A new leader's epoch starts at its LEO before it writes anything.
        log.assign_epoch_start(7, 6);
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 6)));
        assert_eq!(log.end_offset_for_epoch(7), Some((7, 6)));
    }

    #[test]
    fn truncation_keeps_common_prefix() {
        // Leader: epochs [1,1,2,2,2]. Follower: [1,1,1,1] (it was leader in epoch 1 and
        // appended two records the new leader never got).
        let (leader, _) = log_with(&[1, 1, 2, 2, 2]);
        let (mut follower, mut disk) = log_with(&[1, 1, 1, 1]);
        let answer = leader.end_offset_for_epoch(follower.latest_epoch().unwrap());
        assert_eq!(answer, Some((1, 2)));
        let t = follower.truncation_for(answer);
        assert_eq!(t, Truncation { truncate_to: 2, complete: true });
        follower.truncate_to(&mut disk, t.truncate_to);
        assert_eq!(follower.log_end_offset(), 2);
        assert_eq!(disk.read("events-0").len(), 2);
        assert_eq!(follower.epochs(), &[EpochEntry { epoch: 1, start_offset: 0 }]);
    }

    #[test]
    fn truncation_never_cuts_a_shorter_follower() {
        let (leader, _) = log_with(&[1, 1, 1, 1, 1]);
        let (follower, _) = log_with(&[1, 1]);
        let t = follower.truncation_for(leader.end_offset_for_epoch(1));
        assert_eq!(t, Truncation { truncate_to: 2, complete: true });
    }

    #[test]
    fn truncation_iterates_when_follower_lacks_the_leaders_epoch() {
        // KIP-279's example: A=[x0(e0), a1..a3(e2), a4,a5(e4)], B=[x0(e0), y1(e1), b2(e3)].
        let (leader, _) = log_with(&[0, 2, 2, 2, 4, 4]);
        let (mut follower, mut disk) = log_with(&[0, 1, 3]);
        // B asks about e3; A answers (e2, 4). B lacks e2: cut to the end of e1 (its largest
        // epoch below e2), i.e. 3, and ask again.
        let first = follower.truncation_for(leader.end_offset_for_epoch(3));
        assert_eq!(first, Truncation { truncate_to: 2, complete: false });
        follower.truncate_to(&mut disk, first.truncate_to);
        assert_eq!(follower.latest_epoch(), Some(1));
        // B asks about e1; A answers (e0, 1): B keeps x0 only.
        let second = follower.truncation_for(leader.end_offset_for_epoch(1));
        assert_eq!(second, Truncation { truncate_to: 1, complete: true });
        follower.truncate_to(&mut disk, second.truncate_to);
        assert_eq!(follower.records(), &leader.records()[..1]);
    }

    #[test]
    fn truncation_drops_an_epoch_led_without_records() {
        // This replica led epoch 5 from offset 2 without writing; the new leader wrote
        // epoch-4 records there. Asking about epoch 5 must not loop.
        let (mut leader, _) = log_with(&[1, 1, 4, 4]);
        leader.assign_epoch_start(6, 4);
        let (mut follower, mut disk) = log_with(&[1, 1]);
        follower.assign_epoch_start(5, 2);
        let t = follower.truncation_for(leader.end_offset_for_epoch(5));
        assert_eq!(t, Truncation { truncate_to: 2, complete: false });
        follower.truncate_to(&mut disk, t.truncate_to);
        assert_eq!(follower.latest_epoch(), Some(1));
        let t = follower.truncation_for(leader.end_offset_for_epoch(1));
        assert_eq!(t, Truncation { truncate_to: 2, complete: true });
    }

    #[test]
    fn undefined_answer_falls_back_to_high_watermark() {
        let (mut follower, _) = log_with(&[1, 1, 1]);
        follower.set_follower_high_watermark(2);
        assert_eq!(follower.truncation_for(None), Truncation { truncate_to: 2, complete: true });
    }

    #[test]
    fn truncation_survives_power_loss_only_if_flushed() {
        let (mut log, mut disk) = log_with(&[1, 1, 1]);
        disk.fsync_all();
        log.truncate_to(&mut disk, 1);
        disk.crash(true);
        // The unflushed truncation is undone: the records come back, as on a real disk,
        // and the next leader-epoch handshake removes them again.
        assert_eq!(PartitionLog::open(tp(), &disk).log_end_offset(), 3);
    }

    #[test]
    fn high_watermark_rules() {
        let (mut log, mut disk) = log_with(&[1, 1, 1, 1]);
        assert!(log.advance_high_watermark(3));
        assert!(!log.advance_high_watermark(2));
        assert_eq!(log.high_watermark(), 3);
        log.set_follower_high_watermark(10);
        assert_eq!(log.high_watermark(), 4);
        log.truncate_to(&mut disk, 2);
        assert_eq!(log.high_watermark(), 2);
        assert_eq!(log.read(0, 10, 1).len(), 1);
        assert_eq!(log.read(1, 2, 10).len(), 1);
        assert!(log.read(2, 2, 10).is_empty());
    }

    #[test]
    #[should_panic(expected = "past LEO")]
    fn leader_high_watermark_never_passes_leo() {
        let (mut log, _) = log_with(&[1]);
        log.advance_high_watermark(2);
    }
}
