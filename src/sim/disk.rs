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

/// A handle to one file of a disk, from [`Disk::open`]: lookups by handle cost an index,
/// where lookups by name compare strings. Handles stay valid across crashes (files are
/// never removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u32);

/// A file named by its name or by its handle.
#[derive(Clone, Copy, Debug)]
pub enum FileRef<'a> {
    Name(&'a str),
    Id(FileId),
}

impl<'a> From<&'a str> for FileRef<'a> {
    fn from(name: &'a str) -> Self {
        FileRef::Name(name)
    }
}

impl<'a> From<&'a String> for FileRef<'a> {
    fn from(name: &'a String) -> Self {
        FileRef::Name(name)
    }
}

impl From<FileId> for FileRef<'_> {
    fn from(id: FileId) -> Self {
        FileRef::Id(id)
    }
}

/// Durable state of one node.
#[derive(Clone, Debug)]
pub struct Disk<E> {
    files: Vec<File<E>>,
    /// File names, in order, to their index in `files`.
    index: BTreeMap<String, FileId>,
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
        Disk { files: Vec::new(), index: BTreeMap::new(), now: Instant::ZERO }
    }

    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// The handle of the file `name`, creating it (empty) when it does not exist.
    pub fn open(&mut self, name: &str) -> FileId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        assert!(self.files.len() < FILES_MAX, "node holds more than {FILES_MAX} files");
        let id = FileId(self.files.len() as u32);
        self.files.push(File::new());
        self.index.insert(name.to_string(), id);
        id
    }

    fn find(&self, file: FileRef<'_>) -> Option<&File<E>> {
        match file {
            FileRef::Name(name) => self.index.get(name).map(|id| &self.files[id.0 as usize]),
            FileRef::Id(id) => Some(&self.files[id.0 as usize]),
        }
    }

    fn file_mut(&mut self, file: FileRef<'_>) -> &mut File<E> {
        let id = match file {
            FileRef::Name(name) => self.open(name),
            FileRef::Id(id) => id,
        };
        &mut self.files[id.0 as usize]
    }

    /// The file's content as the node sees it (page cache included).
    pub fn read<'a>(&self, file: impl Into<FileRef<'a>>) -> &[E] {
        self.find(file.into()).map_or(&[], |f| &f.current)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Names of all files, in order.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    pub fn append<'a>(&mut self, file: impl Into<FileRef<'a>>, entry: E) {
        let now = self.now;
        let file = self.file_mut(file.into());
        file.current.push(entry);
        file.mark_dirty(now);
    }

    /// Cuts the file to `len` entries.
    pub fn truncate<'a>(&mut self, file: impl Into<FileRef<'a>>, len: usize) {
        let now = self.now;
        self.file_mut(file.into()).truncate(len, now);
    }

    /// Replaces the whole content (unflushed until fsync, like a rewrite in place).
    pub fn overwrite<'a>(&mut self, file: impl Into<FileRef<'a>>, entries: Vec<E>) {
        let file = file.into();
        self.truncate(file, 0);
        let now = self.now;
        let file = self.file_mut(file);
        file.current = entries;
        file.mark_dirty(now);
    }

    /// Makes the file durable as it is now.
    pub fn fsync<'a>(&mut self, file: impl Into<FileRef<'a>>) {
        self.file_mut(file.into()).fsync();
    }

    pub fn fsync_all(&mut self) {
        self.files.iter_mut().for_each(File::fsync);
    }

    /// Number of entries not yet durable (appended since the last fsync).
    pub fn unflushed_len<'a>(&self, file: impl Into<FileRef<'a>>) -> usize {
        self.find(file.into()).map_or(0, |f| f.current.len() - f.synced)
    }

    /// The operating system's writeback: every file dirty for at least `age` is flushed.
    pub fn writeback(&mut self, now: Instant, age: Duration) {
        for file in &mut self.files {
            if file.dirty_since.is_some_and(|since| now.saturating_since(since) >= age) {
                file.fsync();
            }
        }
    }

    /// A crash. With `lose_unflushed` (power loss) every change since the last fsync is
    /// undone; otherwise the page cache survives and nothing changes here.
    pub fn crash(&mut self, lose_unflushed: bool) {
        if lose_unflushed {
            self.files.iter_mut().for_each(File::lose_unflushed);
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
