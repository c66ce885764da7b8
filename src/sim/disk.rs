//! A node's disk: named files of typed entries, with a page cache.
//!
//! A write lands in the page cache (the file's current content) and is *unflushed* until
//! `fsync` or the operating system's writeback makes it durable. A crash keeps the page
//! cache (a process crash: `kill -9`) or drops every unflushed change (power loss), as the
//! fault says. The node's memory is gone either way; it restarts from what is here.
//!
//! Entries are typed (the node's `Entry`), not bytes: the model is about which writes
//! survive, and typed entries keep the simulation fast.

use std::collections::BTreeMap;

use super::time::{Duration, Instant};

/// Most files a node may hold: a bound that catches a node leaking files.
const FILES_MAX: usize = 100_000;

#[derive(Clone, Debug)]
struct File<E> {
    /// What a read returns: the page cache.
    current: Vec<E>,
    /// `current[..synced]` is on the platter as it is in the cache.
    synced: usize,
    /// Entries on the platter after `current[..synced]` that the cache no longer has
    /// (truncated away since the last fsync). A power loss brings them back.
    platter_tail: Vec<E>,
    /// When the oldest unflushed change was made; `None` when clean.
    dirty_since: Option<Instant>,
}

impl<E: Clone> File<E> {
    fn new() -> Self {
        File { current: Vec::new(), synced: 0, platter_tail: Vec::new(), dirty_since: None }
    }

    fn mark_dirty(&mut self, now: Instant) {
        self.dirty_since.get_or_insert(now);
    }

    fn fsync(&mut self) {
        self.synced = self.current.len();
        self.platter_tail.clear();
        self.dirty_since = None;
    }

    fn truncate(&mut self, len: usize, now: Instant) {
        if len >= self.current.len() {
            return;
        }
        if len < self.synced {
            let mut tail: Vec<E> = self.current[len..self.synced].to_vec();
            tail.append(&mut self.platter_tail);
            self.platter_tail = tail;
            self.synced = len;
        }
        self.current.truncate(len);
        self.mark_dirty(now);
    }

    fn lose_unflushed(&mut self) {
        self.current.truncate(self.synced);
        self.current.append(&mut self.platter_tail);
        self.synced = self.current.len();
        self.dirty_since = None;
    }
}

/// Durable state of one node.
#[derive(Clone, Debug)]
pub struct Disk<E> {
    files: BTreeMap<String, File<E>>,
    /// The time the node's current handler runs at; stamps dirty pages.
    now: Instant,
}

impl<E: Clone> Default for Disk<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Clone> Disk<E> {
    pub fn new() -> Self {
        Disk { files: BTreeMap::new(), now: Instant::ZERO }
    }

    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    fn file_mut(&mut self, name: &str) -> &mut File<E> {
        if !self.files.contains_key(name) {
            assert!(self.files.len() < FILES_MAX, "node holds more than {FILES_MAX} files");
            self.files.insert(name.to_string(), File::new());
        }
        self.files.get_mut(name).expect("file just ensured")
    }

    /// The file's content as the node sees it (page cache included).
    pub fn read(&self, name: &str) -> &[E] {
        self.files.get(name).map_or(&[], |f| &f.current)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// Names of all files, in order.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn append(&mut self, name: &str, entry: E) {
        let now = self.now;
        let file = self.file_mut(name);
        file.current.push(entry);
        file.mark_dirty(now);
    }

    /// Cuts the file to `len` entries.
    pub fn truncate(&mut self, name: &str, len: usize) {
        let now = self.now;
        self.file_mut(name).truncate(len, now);
    }

    /// Replaces the whole content (unflushed until fsync, like a rewrite in place).
    pub fn overwrite(&mut self, name: &str, entries: Vec<E>) {
        self.truncate(name, 0);
        let now = self.now;
        let file = self.file_mut(name);
        file.current = entries;
        file.mark_dirty(now);
    }

    /// Makes the file durable as it is now.
    pub fn fsync(&mut self, name: &str) {
        self.file_mut(name).fsync();
    }

    pub fn fsync_all(&mut self) {
        self.files.values_mut().for_each(File::fsync);
    }

    /// Number of entries not yet durable (appended since the last fsync).
    pub fn unflushed_len(&self, name: &str) -> usize {
        self.files.get(name).map_or(0, |f| f.current.len() - f.synced)
    }

    /// The operating system's writeback: every file dirty for at least `age` is flushed.
    pub fn writeback(&mut self, now: Instant, age: Duration) {
        for file in self.files.values_mut() {
            if file.dirty_since.is_some_and(|since| now.saturating_since(since) >= age) {
                file.fsync();
            }
        }
    }

    /// A crash. With `lose_unflushed` (power loss) every change since the last fsync is
    /// undone; otherwise the page cache survives and nothing changes here.
    pub fn crash(&mut self, lose_unflushed: bool) {
        if lose_unflushed {
            self.files.values_mut().for_each(File::lose_unflushed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_with(entries: &[u32], synced: usize) -> Disk<u32> {
        let mut disk = Disk::new();
        for (idx, e) in entries.iter().enumerate() {
            if idx == synced {
                disk.fsync("log");
            }
            disk.append("log", *e);
        }
        if synced == entries.len() {
            disk.fsync("log");
        }
        disk
    }

    #[test]
    fn process_crash_keeps_page_cache() {
        let mut disk = disk_with(&[1, 2, 3], 1);
        disk.crash(false);
        assert_eq!(disk.read("log"), &[1, 2, 3]);
    }

    #[test]
    fn power_loss_drops_unflushed_suffix() {
        let mut disk = disk_with(&[1, 2, 3], 1);
        assert_eq!(disk.unflushed_len("log"), 2);
        disk.crash(true);
        assert_eq!(disk.read("log"), &[1]);
        assert_eq!(disk.unflushed_len("log"), 0);
    }

    #[test]
    fn power_loss_undoes_unflushed_truncation() {
        let mut disk = disk_with(&[1, 2, 3], 3);
        disk.truncate("log", 1);
        disk.append("log", 9);
        assert_eq!(disk.read("log"), &[1, 9]);
        disk.crash(true);
        assert_eq!(disk.read("log"), &[1, 2, 3]);
    }

    #[test]
    fn fsync_makes_truncation_durable() {
        let mut disk = disk_with(&[1, 2, 3], 3);
        disk.truncate("log", 1);
        disk.fsync("log");
        disk.crash(true);
        assert_eq!(disk.read("log"), &[1]);
    }

    #[test]
    fn overwrite_is_unflushed_until_fsync() {
        let mut disk = disk_with(&[1, 2], 2);
        disk.overwrite("log", vec![7]);
        disk.crash(true);
        assert_eq!(disk.read("log"), &[1, 2]);
    }

    #[test]
    fn writeback_flushes_old_dirty_pages_only() {
        let mut disk: Disk<u32> = Disk::new();
        disk.set_now(Instant::ZERO);
        disk.append("old", 1);
        disk.set_now(Instant::ZERO + Duration::from_secs(20));
        disk.append("new", 2);
        disk.writeback(Instant::ZERO + Duration::from_secs(30), Duration::from_secs(30));
        disk.crash(true);
        assert_eq!(disk.read("old"), &[1]);
        assert_eq!(disk.read("new"), &[] as &[u32]);
    }
}
