//! One replica's partition log: records with dense offsets from the log start offset, the
//! leader-epoch cache, the log end offset (LEO), the high watermark (HW), retention and the
//! flush policy.
//!
//! On disk a partition is one file (Kafka's log directory, `events-0`): a header entry with
//! the log start offset, then one entry per record, in offset order. The in-memory records
//! mirror the file entry for entry, so a restart rebuilds the log by reading the file.
//! Kafka does not fsync by default; neither does this log unless `log.flush.interval.*`
//! says so: the disk's writeback decides what a power loss keeps.
//!
//! The leader-epoch cache is rebuilt from the records' epochs when the log is opened. That
//! is exactly what Kafka's `leader-epoch-checkpoint` holds after its load-time
//! `truncateFromEnd(logEndOffset)` (which drops an epoch that started at the LEO without a
//! record) and `truncateFromStart(logStartOffset)`; the one difference is a log emptied by
//! retention, which forgets its last epoch (its next leader epoch starts it again).
//!
//! Timestamps: every replica stamps a record with its own clock when it appends it (Kafka
//! keeps the leader's `CreateTime`); retention is per record, not per segment. Both only
//! move *when* the log start offset advances, which followers also learn from the leader.

use crate::sim::disk::{Disk, FileId};

use super::protocol::{Entry, NewRecord, PRODUCE_BATCH_RECORDS_MAX, Record, TopicPartition};

/// How many bytes a record counts for `retention.bytes` (a small Kafka record batch with
/// one record of a few bytes of key and value).
pub const RECORD_SIZE_BYTES: u64 = 100;

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
    file: FileId,
    log_start_offset: u64,
    /// `records[i]` has offset `log_start_offset + i`.
    records: Vec<Record>,
    /// The append time of `records[i]` on this replica's clock, in ms.
    timestamps_ms: Vec<u64>,
    /// Strictly increasing epochs, non-decreasing start offsets, every start <= LEO.
    epochs: Vec<EpochEntry>,
    high_watermark: u64,
    /// Records appended since the last fsync (for `log.flush.interval.messages`).
    unflushed_messages: u64,
    /// Whether a record may carry an epoch older than the cache's latest (see
    /// [`PartitionLog::open_with`]).
    older_epochs: OlderEpochs,
}

/// What a log does with a record whose epoch is older than its latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OlderEpochs {
    /// Refuse it (a panic): since KIP-279 a follower truncates to the leader's log before
    /// fetching, so its log's epochs never go back.
    Refuse,
    /// Append it and leave the epoch cache as it is, as Kafka did before KIP-279
    /// (`LeaderEpochFileCache.assign` warned "out of order" and moved on): KIP-101's and
    /// the high-watermark truncation let a follower keep records of an epoch the leader
    /// never had and fetch older-epoch records on top (R6).
    Tolerate,
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

    /// Opens the log from whatever the disk holds. The HW starts at the log start offset;
    /// the broker restores it from its HW checkpoint ([`Self::restore_high_watermark`]).
    pub fn open(tp: TopicPartition, disk: &mut Disk<Entry>) -> Self {
        Self::open_with(tp, disk, OlderEpochs::Refuse)
    }

    /// Opens the log, with records of older epochs refused or tolerated.
    pub fn open_with(
        tp: TopicPartition,
        disk: &mut Disk<Entry>,
        older_epochs: OlderEpochs,
    ) -> Self {
        let file = disk.open(&Self::file_name(&tp));
        let mut log = PartitionLog {
            tp,
            file,
            log_start_offset: 0,
            records: Vec::new(),
            timestamps_ms: Vec::new(),
            epochs: Vec::new(),
            high_watermark: 0,
            unflushed_messages: disk.unflushed_len(file) as u64,
            older_epochs,
        };
        for (i, entry) in disk.read(file).iter().enumerate() {
            match entry {
                Entry::LogStartOffset(start) if i == 0 => {
                    log.log_start_offset = *start;
                    log.high_watermark = *start;
                }
                Entry::Record(record, timestamp_ms) if i > 0 => {
                    log.push_in_memory(record.clone(), *timestamp_ms)
                }
                other => panic!("{}: entry {i} of the log file is {other:?}", log.tp),
            }
        }
        log.check();
        log
    }

    pub fn tp(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> u64 {
        self.log_start_offset + self.records.len() as u64
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// Records from the log start offset to the LEO.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }

    pub fn latest_epoch(&self) -> Option<u32> {
        self.epochs.last().map(|e| e.epoch)
    }

    /// The record at `offset`, if the log holds it.
    pub fn record_at(&self, offset: u64) -> Option<&Record> {
        let idx = offset.checked_sub(self.log_start_offset)?;
        self.records.get(idx as usize)
    }

    pub fn unflushed_messages(&self) -> u64 {
        self.unflushed_messages
    }

    /// The disk index of the entry of `offset` (entry 0 is the header).
    fn disk_index(&self, offset: u64) -> usize {
        1 + (offset - self.log_start_offset) as usize
    }

    fn push_in_memory(&mut self, record: Record, timestamp_ms: u64) {
        assert_eq!(
            record.offset,
            self.log_end_offset(),
            "{}: offsets must be dense (record {record:?})",
            self.tp
        );
        match self.latest_epoch() {
            Some(latest) if record.leader_epoch < latest => {
                assert!(
                    self.older_epochs == OlderEpochs::Tolerate,
                    "{}: record epoch {} after epoch {latest}",
                    self.tp,
                    record.leader_epoch
                );
            }
            Some(latest) if record.leader_epoch == latest => {}
            _ => self.assign_epoch_start(record.leader_epoch, record.offset),
        }
        self.records.push(record);
        self.timestamps_ms.push(timestamp_ms);
    }

    /// Appends one record (leader append or follower replication) stamped `now_ms`.
    pub fn append(&mut self, disk: &mut Disk<Entry>, record: Record, now_ms: u64) {
        if disk.read(self.file).is_empty() {
            disk.append(self.file, Entry::LogStartOffset(self.log_start_offset));
        }
        disk.append(self.file, Entry::Record(record.clone(), now_ms));
        self.push_in_memory(record, now_ms);
        self.unflushed_messages += 1;
    }

    /// The leader's append: the next offset, stamped with the leader's epoch.
    pub fn append_as_leader(
        &mut self,
        disk: &mut Disk<Entry>,
        leader_epoch: u32,
        record: NewRecord,
        now_ms: u64,
    ) -> u64 {
        let offset = self.log_end_offset();
        self.append(disk, record.at(offset, leader_epoch), now_ms);
        offset
    }

    /// fsync of the log file (`log.flush.interval.*`).
    pub fn flush(&mut self, disk: &mut Disk<Entry>) {
        disk.fsync(self.file);
        self.unflushed_messages = 0;
    }

    /// Records from `from` up to (not including) `upto`, at most `max`.
    pub fn read(&self, from: u64, upto: u64, max: usize) -> Vec<Record> {
        let upto = upto.min(self.log_end_offset());
        let from = from.max(self.log_start_offset);
        if from >= upto {
            return Vec::new();
        }
        let base = self.log_start_offset;
        let mut end = upto.min(from.saturating_add(max as u64));
        // Kafka returns whole batches, past the size limit if need be: a follower that
        // held only a batch's head would take the producer's retry of it for a duplicate
        // and acknowledge records it never wrote.
        let batch_of = |offset: u64| self.records[(offset - base) as usize].producer();
        while end < upto && batch_of(end).is_some_and(|b| Some(b) == batch_of(end - 1)) {
            end += 1;
        }
        assert!(
            end - from <= (max + PRODUCE_BATCH_RECORDS_MAX) as u64,
            "a read past its limit by more than one batch"
        );
        self.records[(from - base) as usize..(end - base) as usize].to_vec()
    }

    /// Cuts the log to end at `offset`; the epoch cache and the HW follow. Below the log
    /// start offset the log is emptied and starts again at `offset` (Kafka's
    /// `truncateFullyAndStartAt`).
    /// Epochs that start at or after `offset` go even when no record does: an epoch this
    /// replica led without writing would otherwise stay its latest, and the follower would
    /// ask the leader about it forever.
    pub fn truncate_to(&mut self, disk: &mut Disk<Entry>, offset: u64) {
        if offset < self.log_start_offset {
            self.truncate_fully_and_start_at(disk, offset);
            return;
        }
        let offset = offset.min(self.log_end_offset());
        self.epochs.retain(|e| e.start_offset < offset);
        if offset < self.log_end_offset() {
            let keep = (offset - self.log_start_offset) as usize;
            self.records.truncate(keep);
            self.timestamps_ms.truncate(keep);
            self.high_watermark = self.high_watermark.min(offset);
            disk.truncate(self.file, self.disk_index(offset));
        }
        self.check();
    }

    /// Empties the log; it starts again at `offset` (a follower behind the leader's log
    /// start offset, or truncated below its own).
    pub fn truncate_fully_and_start_at(&mut self, disk: &mut Disk<Entry>, offset: u64) {
        self.records.clear();
        self.timestamps_ms.clear();
        self.epochs.clear();
        self.log_start_offset = offset;
        self.high_watermark = offset;
        // Like deleting segment files: durable at once (a journaled metadata change).
        disk.overwrite(self.file, vec![Entry::LogStartOffset(offset)]);
        disk.fsync(self.file);
        self.unflushed_messages = 0;
        self.check();
    }

    /// Deletes the records below `offset` (retention, or a follower following the leader's
    /// log start offset). Never past the HW: Kafka deletes only committed segments.
    /// Returns how many records went.
    pub fn advance_log_start_offset(&mut self, disk: &mut Disk<Entry>, offset: u64) -> u64 {
        let offset = offset.min(self.high_watermark);
        if offset <= self.log_start_offset {
            return 0;
        }
        let n = (offset - self.log_start_offset) as usize;
        self.records.drain(..n);
        self.timestamps_ms.drain(..n);
        self.log_start_offset = offset;
        // Kafka's `truncateFromStart`: the epoch covering the new start now starts there.
        let covering = self.epochs.iter().rposition(|e| e.start_offset <= offset);
        if let Some(idx) = covering {
            self.epochs.drain(..idx);
            self.epochs[0].start_offset = offset;
        }
        let mut entries = Vec::with_capacity(self.records.len() + 1);
        entries.push(Entry::LogStartOffset(offset));
        entries.extend(
            self.records.iter().zip(&self.timestamps_ms).map(|(r, t)| Entry::Record(r.clone(), *t)),
        );
        // Deleting segment files is a metadata change the file system journals: durable.
        disk.overwrite(self.file, entries);
        disk.fsync(self.file);
        self.unflushed_messages = 0;
        self.check();
        n as u64
    }

    /// Where retention moves the log start offset at `now_ms`: past every record older than
    /// `retention_ms`, and past the oldest records while the log is larger than
    /// `retention_bytes` ([`RECORD_SIZE_BYTES`] per record). Capped at the HW by
    /// [`Self::advance_log_start_offset`].
    pub fn retention_target(
        &self,
        now_ms: u64,
        retention_ms: Option<u64>,
        retention_bytes: Option<u64>,
    ) -> u64 {
        let mut target = self.log_start_offset;
        if let Some(retention_ms) = retention_ms {
            let expired =
                self.timestamps_ms.iter().take_while(|&&t| t.saturating_add(retention_ms) < now_ms);
            target = target.max(self.log_start_offset + expired.count() as u64);
        }
        if let Some(retention_bytes) = retention_bytes {
            let size = self.records.len() as u64 * RECORD_SIZE_BYTES;
            let excess = size.saturating_sub(retention_bytes);
            target = target.max(self.log_start_offset + excess.div_ceil(RECORD_SIZE_BYTES));
        }
        target
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
        self.check();
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

    /// KIP-101's first lookup (Kafka 0.11, before KIP-279; the R6 variant): the LEO for the
    /// latest epoch, else the start offset of the first epoch after `requested`; `None`
    /// (undefined) when `requested` is older than every epoch or newer than the latest.
    pub fn kip101_offset_for_epoch(&self, requested: u32) -> Option<u64> {
        let first = self.epochs.first()?;
        let latest = self.epochs.last()?;
        if requested == latest.epoch {
            return Some(self.log_end_offset());
        }
        if requested < first.epoch {
            return None;
        }
        self.epochs.iter().find(|e| e.epoch > requested).map(|e| e.start_offset)
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

    /// KIP-101's follower side: truncate to the leader's offset (undefined: to the HW).
    pub fn kip101_truncation_for(&self, leader_offset: Option<u64>) -> Truncation {
        let leo = self.log_end_offset();
        let truncate_to = leader_offset.unwrap_or(self.high_watermark).min(leo);
        Truncation { truncate_to, complete: true }
    }

    /// A follower's HW: the leader's, capped by what this replica has. A follower's HW may
    /// go back (a new leader's HW can be behind the old one's); only a leader's may not.
    pub fn set_follower_high_watermark(&mut self, leader_hw: u64) {
        self.high_watermark = leader_hw.min(self.log_end_offset()).max(self.log_start_offset);
        self.check();
    }

    /// The HW read back from the checkpoint file at startup, capped by the LEO.
    pub fn restore_high_watermark(&mut self, checkpointed: u64) {
        self.set_follower_high_watermark(checkpointed);
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
        assert!(self.high_watermark >= self.log_start_offset, "{}: HW < log start", self.tp);
        assert_eq!(self.records.len(), self.timestamps_ms.len(), "{}: timestamps", self.tp);
        assert!(
            self.records.first().is_none_or(|r| r.offset == self.log_start_offset),
            "{}: first record is not at the log start offset",
            self.tp
        );
        assert!(
            self.epochs
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
            "{}: epoch cache out of order: {:?}",
            self.tp,
            self.epochs
        );
        assert!(
            self.epochs.last().is_none_or(|e| e.start_offset <= self.log_end_offset()),
            "{}: epoch starts past the LEO",
            self.tp
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kafka::protocol::{ProducerStamp, RecordExtra};

    fn tp() -> TopicPartition {
        TopicPartition::new("events", 0)
    }

    /// A log whose records carry the given epochs, in order.
    fn log_with(epochs: &[u32]) -> (PartitionLog, Disk<Entry>) {
        let mut disk = Disk::new();
        let mut log = PartitionLog::open(tp(), &mut disk);
        for (i, &epoch) in epochs.iter().enumerate() {
            log.append_as_leader(
                &mut disk,
                epoch,
                NewRecord::data(0, 100 + i as u64),
                i as u64 * 10,
            );
        }
        (log, disk)
    }

    #[test]
    fn a_read_never_ends_inside_a_producer_batch() {
        let mut disk = Disk::new();
        let mut log = PartitionLog::open(tp(), &mut disk);
        // Batches of 3, 4 and 2 records from one idempotent producer, then a plain record.
        let mut offset = 0;
        for (base_sequence, len) in [(0u32, 3u32), (3, 4), (7, 2)] {
            let stamp = ProducerStamp {
                producer_id: 1,
                producer_epoch: 0,
                base_sequence,
                last_sequence: base_sequence + len - 1,
            };
            let extra = Some(Arc::new(RecordExtra::Producer(stamp)));
            for _ in 0..len {
                let record = NewRecord { key: 0, value: offset, extra: extra.clone() };
                log.append_as_leader(&mut disk, 1, record, 0);
                offset += 1;
            }
        }
        log.append_as_leader(&mut disk, 1, NewRecord::data(0, 99), 0);
        let offsets = |from, max| -> Vec<u64> {
            log.read(from, u64::MAX, max).iter().map(|r| r.offset).collect()
        };
        // A limit inside the second batch stretches to its end, not further.
        assert_eq!(offsets(0, 4), (0..7).collect::<Vec<_>>());
        assert_eq!(offsets(0, 3), [0, 1, 2]);
        assert_eq!(offsets(4, 1), [4, 5, 6]);
        assert_eq!(offsets(7, 1), [7, 8]);
        assert_eq!(offsets(9, 1), [9]);
        // The end asked for (a consumer's HW) still bounds it.
        assert_eq!(log.read(0, 5, 4).len(), 5);
    }

    #[test]
    fn file_names_round_trip() {
        let tp = TopicPartition::new("my-topic", 12);
        assert_eq!(PartitionLog::parse_file_name(&PartitionLog::file_name(&tp)), Some(tp));
        assert_eq!(PartitionLog::parse_file_name("__cluster_metadata"), None);
    }

    #[test]
    fn append_builds_epoch_cache_and_reopens_from_disk() {
        let (log, mut disk) = log_with(&[1, 1, 3, 3, 3, 4]);
        let expect = [(1, 0), (3, 2), (4, 5)]
            .map(|(epoch, start_offset)| EpochEntry { epoch, start_offset });
        assert_eq!(log.epochs(), &expect);
        let reopened = PartitionLog::open(tp(), &mut disk);
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
    fn before_kip_279_a_log_takes_older_epochs_and_its_cache_stays() {
        let mut disk = Disk::new();
        let mut log = PartitionLog::open_with(tp(), &mut disk, OlderEpochs::Tolerate);
        for (offset, epoch) in [(0, 1), (1, 3), (2, 2), (3, 3)] {
            log.append(&mut disk, NewRecord::data(0, offset).at(offset, epoch), 0);
        }
        let expect =
            [(1, 0), (3, 1)].map(|(epoch, start_offset)| EpochEntry { epoch, start_offset });
        assert_eq!(log.epochs(), &expect);
        assert_eq!(log.log_end_offset(), 4);
        let reopened = PartitionLog::open_with(tp(), &mut disk, OlderEpochs::Tolerate);
        assert_eq!(reopened.records(), log.records());
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
        assert_eq!(disk.read("events-0").len(), 3, "header and two records");
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
        assert_eq!(PartitionLog::open(tp(), &mut disk).log_end_offset(), 3);
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

    #[test]
    fn kip101_lookup_answers_the_next_epoch_start() {
        // KIP-279's example, A=[x0(e0), a1..a3(e2), a4,a5(e4)]: B asks about e3 and gets
        // the start of e4, 4, past its own LEO 3: no truncation (R6).
        let (leader, _) = log_with(&[0, 2, 2, 2, 4, 4]);
        assert_eq!(leader.kip101_offset_for_epoch(3), Some(4));
        assert_eq!(leader.kip101_offset_for_epoch(4), Some(6));
        assert_eq!(leader.kip101_offset_for_epoch(5), None);
        let (follower, _) = log_with(&[0, 1, 3]);
        let t = follower.kip101_truncation_for(leader.kip101_offset_for_epoch(3));
        assert_eq!(t, Truncation { truncate_to: 3, complete: true });
    }

    #[test]
    fn retention_advances_log_start_offset_below_the_high_watermark_only() {
        let (mut log, mut disk) = log_with(&[1, 1, 1, 2, 2]);
        // Timestamps 0, 10, 20, 30, 40 ms.
        assert_eq!(log.retention_target(35, Some(10), None), 3);
        assert_eq!(log.retention_target(0, None, Some(2 * RECORD_SIZE_BYTES)), 3);
        log.advance_high_watermark(2);
        assert_eq!(log.advance_log_start_offset(&mut disk, 3), 2, "capped at the HW");
        assert_eq!(log.log_start_offset(), 2);
        assert_eq!(log.records()[0].offset, 2);
        assert_eq!(log.epochs()[0], EpochEntry { epoch: 1, start_offset: 2 });
        assert_eq!(log.read(0, 10, 10).len(), 3);
        disk.crash(true);
        let reopened = PartitionLog::open(tp(), &mut disk);
        assert_eq!(reopened.log_start_offset(), 2);
        assert_eq!(reopened.log_end_offset(), 5);
        assert_eq!(reopened.epochs(), log.epochs());
        let mut reopened = reopened;
        reopened.truncate_to(&mut disk, 3);
        assert_eq!(reopened.log_end_offset(), 3);
        reopened.truncate_to(&mut disk, 1);
        assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (1, 1));
    }
}
