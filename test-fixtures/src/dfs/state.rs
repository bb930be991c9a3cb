//! The namespace: filesystems, paths, ETags, properties, and which bytes of each data file are committed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use time::OffsetDateTime;

use super::staging::{BlockBytes, Staged};

/// A service error: status, `x-ms-error-code`, message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

pub fn err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into() }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FsEntry {
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    pub properties: String,
    pub paths: BTreeMap<String, PathEntry>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PathEntry {
    pub is_dir: bool,
    /// False for a file that only received appends and was never created nor flushed.
    pub visible: bool,
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub properties: String,
    pub content_md5: Option<String>,
    pub committed: u64,
    pub data_id: u64,
    /// Uncommitted ranges received by appends, merged and sorted.
    pub pending: Vec<(u64, u64)>,
}

/// A snapshot of a file for reading.
#[derive(Debug, Clone)]
pub struct FileView {
    pub entry: PathEntry,
    pub data: PathBuf,
}

/// Conditional headers of a request.
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

impl Conditions {
    /// Checks the conditions against the current entry; `conflict` selects 409 `PathAlreadyExists` (create, rename)
    /// instead of 412 for `If-None-Match: *`.
    fn check(&self, current: Option<&PathEntry>, conflict: bool) -> ApiResult<()> {
        let current = current.filter(|e| e.visible);
        if let Some(m) = &self.if_none_match {
            if m.trim() == "*" {
                if current.is_some() {
                    return Err(if conflict {
                        err(409, "PathAlreadyExists", "The specified path already exists.")
                    } else {
                        err(
                            412,
                            "ConditionNotMet",
                            "The condition specified using HTTP conditional header(s) is not met.",
                        )
                    });
                }
            } else if current.is_some_and(|e| same_etag(&e.etag, m)) {
                return Err(err(
                    412,
                    "ConditionNotMet",
                    "The condition specified using HTTP conditional header(s) is not met.",
                ));
            }
        }
        if let Some(m) = &self.if_match {
            let ok = match current {
                Some(e) => m.trim() == "*" || same_etag(&e.etag, m),
                None => false,
            };
            if !ok {
                return Err(err(
                    412,
                    "ConditionNotMet",
                    "The condition specified using HTTP conditional header(s) is not met.",
                ));
            }
        }
        Ok(())
    }
}

fn same_etag(etag: &str, header: &str) -> bool {
    header.split(',').any(|h| h.trim().trim_matches('"') == etag)
}

#[derive(Debug)]
pub struct State {
    data_dir: PathBuf,
    next_id: u64,
    counter: u64,
    filesystems: BTreeMap<String, FsEntry>,
    /// What changed since the last [`State::journal`]: a filesystem (`None`) or one of its paths.
    dirty: std::collections::BTreeSet<(String, Option<String>)>,
    /// Blocks staged by Put Block (From URL) and not yet committed, by filesystem and path. Kept in memory only: a
    /// restarted emulator has none (the service keeps them a week).
    staged: HashMap<(String, String), Staged>,
}

/// How Put Block List names a block (`<Committed>`, `<Uncommitted>`, `<Latest>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Committed,
    Uncommitted,
    Latest,
}

/// One line of the journal: a filesystem's or a path's state after a write (`None`: gone), or the counters.
#[derive(serde::Serialize, serde::Deserialize)]
enum Record {
    Fs { fs: String, meta: Option<FsMeta> },
    Path { fs: String, path: String, entry: Option<PathEntry> },
    Ids { next_id: u64, counter: u64 },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FsMeta {
    etag: String,
    #[serde(with = "time::serde::rfc3339")]
    last_modified: OffsetDateTime,
    properties: String,
}

const JOURNAL: &str = "namespace.journal";

/// One listed path: name, entry.
pub type Listed = (String, PathEntry);

/// What [`State::save`] writes: the namespace, so that an emulator started again on the same root serves the
/// same files.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    next_id: u64,
    counter: u64,
    filesystems: BTreeMap<String, FsEntry>,
}

const SNAPSHOT: &str = "namespace.json";

impl State {
    /// A namespace over `root`: the snapshot a previous emulator saved there, if any, with the writes it
    /// journaled after it.
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        let data_dir = root.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let mut state = Self {
            data_dir,
            next_id: 1,
            counter: 0x8D0_0000_0000_0000,
            filesystems: BTreeMap::new(),
            dirty: std::collections::BTreeSet::new(),
            staged: HashMap::new(),
        };
        if let Ok(bytes) = std::fs::read(root.join(SNAPSHOT)) {
            let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!("{} is corrupt: {e}", root.join(SNAPSHOT).display()))
            })?;
            state.next_id = snap.next_id;
            state.counter = snap.counter;
            state.filesystems = snap.filesystems;
        }
        if let Ok(bytes) = std::fs::read(root.join(JOURNAL)) {
            // A line cut by a kill or a full disk while it was written was never acknowledged: it is skipped (read
            // as bytes, so a cut inside a character loses that line only), and the records after it are read.
            for record in
                bytes.split(|&b| b == b'\n').filter_map(|l| serde_json::from_slice(l).ok())
            {
                state.replay(record);
            }
            // The next record starts on a line of its own, whatever the last write left.
            if bytes.last().is_some_and(|&b| b != b'\n') {
                use std::io::Write as _;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(root.join(JOURNAL))?
                    .write_all(b"\n")?;
            }
        }
        Ok(state)
    }

    fn replay(&mut self, record: Record) {
        match record {
            Record::Fs { fs, meta: Some(m) } => {
                let f = self.filesystems.entry(fs).or_insert_with(|| FsEntry {
                    etag: String::new(),
                    last_modified: m.last_modified,
                    properties: String::new(),
                    paths: BTreeMap::new(),
                });
                f.etag = m.etag;
                f.last_modified = m.last_modified;
                f.properties = m.properties;
            }
            Record::Fs { fs, meta: None } => {
                self.filesystems.remove(&fs);
            }
            Record::Path { fs, path, entry } => {
                if let Some(f) = self.filesystems.get_mut(&fs) {
                    match entry {
                        Some(e) => f.paths.insert(path, e),
                        None => f.paths.remove(&path),
                    };
                }
            }
            Record::Ids { next_id, counter } => {
                self.next_id = next_id;
                self.counter = counter;
            }
        }
    }

    fn touch(&mut self, fs: &str, path: Option<&str>) {
        self.dirty.insert((fs.to_owned(), path.map(str::to_owned)));
    }

    /// Appends what changed since the last call to the journal beside the data: one line per filesystem or path
    /// changed, then the counters. Called after every write and before its answer, it costs what the write
    /// changed, not the size of the namespace.
    pub fn journal(&mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        if self.dirty.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for (fs, path) in self.dirty.iter().cloned() {
            let record = match path {
                None => Record::Fs {
                    meta: self.filesystems.get(&fs).map(|f| FsMeta {
                        etag: f.etag.clone(),
                        last_modified: f.last_modified,
                        properties: f.properties.clone(),
                    }),
                    fs,
                },
                Some(path) => Record::Path {
                    entry: self.filesystems.get(&fs).and_then(|f| f.paths.get(&path)).cloned(),
                    fs,
                    path,
                },
            };
            serde_json::to_writer(&mut out, &record).map_err(std::io::Error::other)?;
            out.push(b'\n');
        }
        let ids = Record::Ids { next_id: self.next_id, counter: self.counter };
        serde_json::to_writer(&mut out, &ids).map_err(std::io::Error::other)?;
        out.push(b'\n');
        let root = self.data_dir.parent().unwrap_or(&self.data_dir);
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(root.join(JOURNAL))?;
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(&out) {
            // A write cut short (a full disk) is taken back, so that the journal ends with a whole line; what changed
            // stays to be journaled by the next write. Should taking it back fail too, the line is ended instead, or
            // skipped when the journal is read again.
            if file.set_len(before).is_err() {
                let _ = file.write_all(b"\n");
            }
            return Err(e);
        }
        self.dirty.clear();
        Ok(())
    }

    /// Saves the namespace beside the data (temporary name, then rename), for the next emulator on this root.
    pub fn save(&self) -> std::io::Result<()> {
        let root = self.data_dir.parent().unwrap_or(&self.data_dir);
        let snap = Snapshot {
            next_id: self.next_id,
            counter: self.counter,
            filesystems: self
                .filesystems
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        FsEntry {
                            etag: v.etag.clone(),
                            last_modified: v.last_modified,
                            properties: v.properties.clone(),
                            paths: v.paths.clone(),
                        },
                    )
                })
                .collect(),
        };
        let tmp = root.join(format!("{SNAPSHOT}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&snap).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, root.join(SNAPSHOT))?;
        // The snapshot holds everything the journal said (replaying it again would change nothing acknowledged).
        match std::fs::remove_file(root.join(JOURNAL)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn etag(&mut self) -> String {
        self.counter += 1;
        format!("0x{:X}", self.counter)
    }

    fn data_path(&self, id: u64) -> PathBuf {
        self.data_dir.join(id.to_string())
    }

    pub fn data_file(&self, fs: &str, path: &str) -> Option<PathBuf> {
        let e = self.filesystems.get(fs)?.paths.get(path)?;
        (!e.is_dir).then(|| self.data_path(e.data_id))
    }

    /// Sets the last-modified time of `path`; false when there is no such path.
    pub fn set_last_modified(&mut self, fs: &str, path: &str, when: OffsetDateTime) -> bool {
        match self.filesystems.get_mut(fs).and_then(|f| f.paths.get_mut(path)) {
            Some(e) => {
                e.last_modified = when;
                self.touch(fs, Some(path));
                true
            }
            None => false,
        }
    }

    pub fn paths(&self, fs: &str) -> Vec<String> {
        self.filesystems
            .get(fs)
            .map(|f| f.paths.iter().filter(|(_, e)| e.visible).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    fn fs_mut(&mut self, fs: &str) -> ApiResult<&mut FsEntry> {
        self.filesystems.get_mut(fs).ok_or_else(|| {
            err(404, "FilesystemNotFound", "The specified filesystem does not exist.")
        })
    }

    fn fs_ref(&self, fs: &str) -> ApiResult<&FsEntry> {
        self.filesystems.get(fs).ok_or_else(|| {
            err(404, "FilesystemNotFound", "The specified filesystem does not exist.")
        })
    }

    // ---- filesystems ----

    pub fn create_fs(&mut self, fs: &str, properties: &str) -> ApiResult<(String, OffsetDateTime)> {
        if self.filesystems.contains_key(fs) {
            return Err(err(
                409,
                "FilesystemAlreadyExists",
                "The specified filesystem already exists.",
            ));
        }
        let etag = self.etag();
        let now = OffsetDateTime::now_utc();
        let entry = FsEntry {
            etag: etag.clone(),
            last_modified: now,
            properties: properties.to_owned(),
            paths: BTreeMap::new(),
        };
        self.filesystems.insert(fs.to_owned(), entry);
        self.touch(fs, None);
        Ok((etag, now))
    }

    pub fn get_fs(&self, fs: &str) -> ApiResult<(String, OffsetDateTime, String)> {
        let f = self.fs_ref(fs)?;
        Ok((f.etag.clone(), f.last_modified, f.properties.clone()))
    }

    pub fn set_fs_properties(
        &mut self,
        fs: &str,
        properties: &str,
    ) -> ApiResult<(String, OffsetDateTime)> {
        let etag = self.etag();
        let f = self.fs_mut(fs)?;
        f.properties = properties.to_owned();
        f.etag = etag.clone();
        f.last_modified = OffsetDateTime::now_utc();
        let when = f.last_modified;
        self.touch(fs, None);
        Ok((etag, when))
    }

    pub fn delete_fs(&mut self, fs: &str) -> ApiResult<()> {
        let f = self.filesystems.remove(fs).ok_or_else(|| {
            err(404, "FilesystemNotFound", "The specified filesystem does not exist.")
        })?;
        self.touch(fs, None);
        for e in f.paths.values().filter(|e| !e.is_dir) {
            let _ = std::fs::remove_file(self.data_path(e.data_id));
        }
        Ok(())
    }

    pub fn list_fs(&self) -> Vec<(String, String, OffsetDateTime)> {
        self.filesystems.iter().map(|(k, f)| (k.clone(), f.etag.clone(), f.last_modified)).collect()
    }

    // ---- paths ----

    fn new_entry(&mut self, is_dir: bool, properties: &str) -> PathEntry {
        let now = OffsetDateTime::now_utc();
        let data_id = if is_dir {
            0
        } else {
            self.next_id += 1;
            self.next_id
        };
        PathEntry {
            is_dir,
            visible: true,
            etag: self.etag(),
            last_modified: now,
            created: now,
            properties: properties.to_owned(),
            content_md5: None,
            committed: 0,
            data_id,
            pending: Vec::new(),
        }
    }

    /// Creates the missing parent directories of `path`.
    fn make_parents(&mut self, fs: &str, path: &str) -> ApiResult<()> {
        let mut parents = Vec::new();
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            parents.push(parent.to_owned());
            p = parent;
        }
        for parent in parents.into_iter().rev() {
            let exists = self.fs_ref(fs)?.paths.get(&parent).map(|e| (e.is_dir, e.visible));
            match exists {
                Some((true, _)) => {}
                Some((false, true)) => {
                    return Err(err(
                        409,
                        "PathConflict",
                        format!("'{parent}' is a file, not a directory"),
                    ));
                }
                _ => {
                    let entry = self.new_entry(true, "");
                    self.touch(fs, Some(&parent));
                    self.fs_mut(fs)?.paths.insert(parent, entry);
                }
            }
        }
        Ok(())
    }

    pub fn create_path(
        &mut self,
        fs: &str,
        path: &str,
        is_dir: bool,
        cond: &Conditions,
        properties: &str,
    ) -> ApiResult<PathEntry> {
        let current = self.fs_ref(fs)?.paths.get(path).cloned();
        cond.check(current.as_ref(), true)?;
        if let Some(cur) = &current {
            if cur.visible && cur.is_dir && is_dir {
                // Creating an existing directory succeeds and keeps its content.
                return Ok(cur.clone());
            }
            if cur.visible && cur.is_dir != is_dir {
                return Err(err(
                    409,
                    "PathConflict",
                    "The path exists with another resource type.",
                ));
            }
        }
        self.make_parents(fs, path)?;
        if let Some(cur) = &current
            && !cur.is_dir
        {
            let _ = std::fs::remove_file(self.data_path(cur.data_id));
        }
        let entry = self.new_entry(is_dir, properties);
        if !is_dir {
            std::fs::File::create(self.data_path(entry.data_id)).map_err(io_err)?;
        }
        self.fs_mut(fs)?.paths.insert(path.to_owned(), entry.clone());
        self.touch(fs, Some(path));
        Ok(entry)
    }

    /// Validates an append and returns the data file to write at `position`, and its id.
    pub fn begin_append(
        &mut self,
        fs: &str,
        path: &str,
        position: u64,
    ) -> ApiResult<(PathBuf, u64)> {
        let current = self.fs_ref(fs)?.paths.get(path).cloned();
        let entry = match current {
            Some(e) if e.is_dir => {
                return Err(err(409, "PathConflict", "Cannot append to a directory."));
            }
            Some(e) => e,
            None => {
                // Python's upload_data(overwrite=False) appends to a path it never created.
                self.make_parents(fs, path)?;
                let mut e = self.new_entry(false, "");
                e.visible = false;
                std::fs::File::create(self.data_path(e.data_id)).map_err(io_err)?;
                self.fs_mut(fs)?.paths.insert(path.to_owned(), e.clone());
                self.touch(fs, Some(path));
                e
            }
        };
        if position < entry.committed {
            return Err(err(
                400,
                "InvalidFlushPosition",
                format!(
                    "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data. position {position} < committed {}",
                    entry.committed
                ),
            ));
        }
        Ok((self.data_path(entry.data_id), entry.data_id))
    }

    /// Records bytes `[position, position+len)` as received, if the file was not re-created meanwhile.
    pub fn finish_append(&mut self, fs: &str, path: &str, data_id: u64, position: u64, len: u64) {
        if len == 0 {
            return;
        }
        let Some(e) = self.filesystems.get_mut(fs).and_then(|f| f.paths.get_mut(path)) else {
            return;
        };
        if e.data_id != data_id {
            return;
        }
        self.dirty.insert((fs.to_owned(), Some(path.to_owned())));
        e.pending.push((position, position + len));
        e.pending.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(e.pending.len());
        for (a, b) in e.pending.drain(..) {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        e.pending = merged;
    }

    #[allow(clippy::too_many_arguments)]
    pub fn flush(
        &mut self,
        fs: &str,
        path: &str,
        position: u64,
        retain: bool,
        cond: &Conditions,
        content_md5: Option<String>,
        properties: Option<&str>,
    ) -> ApiResult<PathEntry> {
        let current = self.fs_ref(fs)?.paths.get(path).cloned();
        cond.check(current.as_ref(), false)?;
        let Some(mut e) = current else {
            return Err(err(404, "PathNotFound", "The specified path does not exist."));
        };
        if e.is_dir {
            return Err(err(409, "PathConflict", "Cannot flush a directory."));
        }
        let invalid = || {
            err(
                400,
                "InvalidFlushPosition",
                "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.",
            )
        };
        if position < e.committed {
            return Err(invalid());
        }
        if position > e.committed {
            let covered = e.pending.iter().any(|&(a, b)| a <= e.committed && b >= position);
            if !covered {
                return Err(invalid());
            }
        }
        e.committed = position;
        let data = self.data_path(e.data_id);
        if retain {
            e.pending = e
                .pending
                .iter()
                .filter(|&&(_, b)| b > position)
                .map(|&(a, b)| (a.max(position), b))
                .collect();
        } else {
            e.pending.clear();
            let f = std::fs::OpenOptions::new().write(true).open(&data).map_err(io_err)?;
            f.set_len(position).map_err(io_err)?;
        }
        if content_md5.is_some() {
            e.content_md5 = content_md5;
        }
        if let Some(p) = properties {
            e.properties = p.to_owned();
        }
        e.visible = true;
        e.etag = self.etag();
        e.last_modified = OffsetDateTime::now_utc();
        self.fs_mut(fs)?.paths.insert(path.to_owned(), e.clone());
        self.touch(fs, Some(path));
        Ok(e)
    }

    /// A new file beside the data, for a block or a blob being assembled; part of no path yet.
    pub fn scratch_file(&mut self) -> PathBuf {
        self.next_id += 1;
        self.data_dir.join(format!("scratch-{}", self.next_id))
    }

    /// Refuses a blob write to `path` when its filesystem is missing or it is a directory.
    pub fn check_blob_target(&self, fs: &str, path: &str) -> ApiResult<()> {
        match self.fs_ref(fs)?.paths.get(path) {
            Some(e) if e.visible && e.is_dir => {
                Err(err(409, "PathConflict", "The path is a directory, not a blob."))
            }
            _ => Ok(()),
        }
    }

    /// Where to write a block of `path` (see [`Staged::place`]).
    pub fn place_block(
        &mut self,
        fs: &str,
        path: &str,
        want: Option<(u64, u64)>,
    ) -> ApiResult<BlockBytes> {
        self.check_blob_target(fs, path)?;
        let (staging, own) = (self.scratch_file(), self.scratch_file());
        let staged = self.staged.entry((fs.to_owned(), path.to_owned())).or_default();
        Ok(staged.place(want, staging, own))
    }

    /// Records the block `id` of `path`, written at `place` with `len` bytes, replacing a block of that id.
    pub fn block_done(&mut self, fs: &str, path: &str, id: String, place: BlockBytes, len: u64) {
        let key = (fs.to_owned(), path.to_owned());
        if let Some(unused) = self.staged.get_mut(&key).and_then(|s| s.done(id, place, len)) {
            let _ = std::fs::remove_file(unused);
        }
    }

    /// Gives up the place of a block that failed.
    pub fn block_failed(&mut self, fs: &str, path: &str, place: &BlockBytes) {
        let key = (fs.to_owned(), path.to_owned());
        if let Some(unused) = self.staged.get_mut(&key).and_then(|s| s.failed(place)) {
            let _ = std::fs::remove_file(unused);
        }
    }

    /// The blocks a block list names, in its order, and the staging file when they are already the blob laid out
    /// in it. This emulator keeps no list of committed blocks (files written through DFS appends have none it
    /// could name), so only staged blocks can be named.
    pub fn listed_blocks(
        &self,
        fs: &str,
        path: &str,
        list: &[(BlockKind, String)],
    ) -> ApiResult<(Vec<BlockBytes>, Option<PathBuf>)> {
        self.check_blob_target(fs, path)?;
        let staged = self.staged.get(&(fs.to_owned(), path.to_owned()));
        let blocks = list
            .iter()
            .map(|(kind, id)| {
                let found = match kind {
                    BlockKind::Committed => None,
                    BlockKind::Uncommitted | BlockKind::Latest => {
                        staged.and_then(|b| b.get(id)).cloned()
                    }
                };
                found.ok_or_else(|| {
                    err(400, "InvalidBlockList", "The specified block list is invalid.")
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let laid_out = staged.and_then(|s| s.laid_out(&blocks));
        Ok((blocks, laid_out))
    }

    /// Makes the assembled file (its first `len` bytes) the committed content of the blob `path`, replacing what was
    /// there, and drops the blob's uncommitted blocks.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_blob(
        &mut self,
        fs: &str,
        path: &str,
        assembled: &std::path::Path,
        len: u64,
        cond: &Conditions,
        properties: &str,
        content_md5: Option<String>,
    ) -> ApiResult<PathEntry> {
        self.check_blob_target(fs, path)?;
        let current = self.fs_ref(fs)?.paths.get(path).cloned();
        cond.check(current.as_ref(), false)?;
        self.make_parents(fs, path)?;
        let mut entry = self.new_entry(false, properties);
        let file = std::fs::OpenOptions::new().write(true).open(assembled).map_err(io_err)?;
        file.set_len(len).map_err(io_err)?;
        std::fs::rename(assembled, self.data_path(entry.data_id)).map_err(io_err)?;
        // The replaced bytes go only once the new ones are in place.
        if let Some(cur) = &current {
            let _ = std::fs::remove_file(self.data_path(cur.data_id));
        }
        entry.committed = len;
        entry.content_md5 = content_md5;
        self.fs_mut(fs)?.paths.insert(path.to_owned(), entry.clone());
        self.touch(fs, Some(path));
        if let Some(staged) = self.staged.remove(&(fs.to_owned(), path.to_owned())) {
            for file in staged.files() {
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(entry)
    }

    pub fn set_properties(
        &mut self,
        fs: &str,
        path: &str,
        cond: &Conditions,
        properties: &str,
    ) -> ApiResult<PathEntry> {
        let etag = self.etag();
        let f = self.fs_mut(fs)?;
        let e = f
            .paths
            .get_mut(path)
            .filter(|e| e.visible)
            .ok_or_else(|| err(404, "PathNotFound", "The specified path does not exist."))?;
        cond.check(Some(e), false)?;
        e.properties = properties.to_owned();
        e.etag = etag;
        e.last_modified = OffsetDateTime::now_utc();
        let e = e.clone();
        self.touch(fs, Some(path));
        Ok(e)
    }

    pub fn view(&self, fs: &str, path: &str) -> ApiResult<FileView> {
        let f = self.fs_ref(fs)?;
        let e = f
            .paths
            .get(path)
            .filter(|e| e.visible)
            .ok_or_else(|| err(404, "PathNotFound", "The specified path does not exist."))?;
        Ok(FileView { entry: e.clone(), data: self.data_path(e.data_id) })
    }

    /// Lists `directory` ("" = root); returns the page and the next continuation.
    pub fn list(
        &self,
        fs: &str,
        directory: &str,
        recursive: bool,
        after: Option<&str>,
        max: usize,
    ) -> ApiResult<(Vec<Listed>, Option<String>)> {
        let f = self.fs_ref(fs)?;
        let prefix = if directory.is_empty() {
            String::new()
        } else {
            match f.paths.get(directory) {
                Some(e) if e.visible && e.is_dir => format!("{directory}/"),
                _ => return Err(err(404, "PathNotFound", "The specified path does not exist.")),
            }
        };
        let start = match after {
            Some(a) if a.as_bytes() >= prefix.as_bytes() => std::ops::Bound::Excluded(a.to_owned()),
            _ => std::ops::Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        let mut next = None;
        for (name, e) in f.paths.range::<String, _>((start, std::ops::Bound::Unbounded)) {
            if !name.starts_with(&prefix) {
                break;
            }
            if !e.visible || (!recursive && name[prefix.len()..].contains('/')) {
                continue;
            }
            if out.len() == max {
                next = out.last().map(|(n, _): &Listed| n.clone());
                break;
            }
            out.push((name.clone(), e.clone()));
        }
        Ok((out, next))
    }

    /// Every visible path of `fs` whose name starts with `prefix`, after `marker`, at most `max`.
    pub fn list_prefix(
        &self,
        fs: &str,
        prefix: &str,
        marker: Option<&str>,
        max: usize,
    ) -> ApiResult<(Vec<Listed>, Option<String>)> {
        let f = self.fs_ref(fs)?;
        let mut out = Vec::new();
        let mut next = None;
        for (name, e) in &f.paths {
            if !e.visible || !name.starts_with(prefix) || marker.is_some_and(|m| name.as_str() <= m)
            {
                continue;
            }
            if out.len() == max {
                next = out.last().map(|(n, _): &Listed| n.clone());
                break;
            }
            out.push((name.clone(), e.clone()));
        }
        Ok((out, next))
    }

    pub fn rename(
        &mut self,
        fs: &str,
        src_fs: &str,
        src: &str,
        dst: &str,
        cond: &Conditions,
    ) -> ApiResult<()> {
        if src_fs != fs {
            return Err(err(
                400,
                "InvalidSourceUri",
                "Renaming across filesystems is not supported.",
            ));
        }
        let f = self.fs_ref(fs)?;
        let src_entry = f.paths.get(src).filter(|e| e.visible).cloned().ok_or_else(|| {
            err(404, "SourcePathNotFound", "The source path for a rename operation does not exist.")
        })?;
        let dst_entry = f.paths.get(dst).cloned();
        cond.check(dst_entry.as_ref(), true)?;
        if let Some((parent, _)) = dst.rsplit_once('/')
            && !f.paths.get(parent).is_some_and(|e| e.visible && e.is_dir)
        {
            return Err(err(
                404,
                "RenameDestinationParentPathNotFound",
                "The parent directory of the destination path does not exist.",
            ));
        }
        if src == dst {
            return Ok(());
        }
        if let Some(d) = dst_entry.filter(|d| d.visible) {
            if d.is_dir != src_entry.is_dir {
                return Err(err(
                    409,
                    "PathConflict",
                    "The destination exists with another resource type.",
                ));
            }
            // Onto a directory that holds something the service answers as public clients report it (the Python
            // SDK's and azcopy's users see PathAlreadyExists), not DirectoryNotEmpty, which is Path Delete's.
            if d.is_dir && self.fs_ref(fs)?.paths.keys().any(|k| k.starts_with(&format!("{dst}/")))
            {
                return Err(err(409, "PathAlreadyExists", "The specified path already exists."));
            }
            if !d.is_dir {
                let _ = std::fs::remove_file(self.data_path(d.data_id));
            }
        }
        let f = self.fs_mut(fs)?;
        let moved: Vec<String> =
            f.paths.keys().filter(|k| k.starts_with(&format!("{src}/"))).cloned().collect();
        let e = f.paths.remove(src).expect("checked above");
        f.paths.insert(dst.to_owned(), e);
        let mut touched = vec![src.to_owned(), dst.to_owned()];
        for k in moved {
            let e = f.paths.remove(&k).expect("listed above");
            let to = format!("{dst}{}", &k[src.len()..]);
            f.paths.insert(to.clone(), e);
            touched.push(k);
            touched.push(to);
        }
        for p in touched {
            self.touch(fs, Some(&p));
        }
        Ok(())
    }

    /// Deletes a path; a directory needs `recursive` unless empty.
    pub fn delete(
        &mut self,
        fs: &str,
        path: &str,
        recursive: bool,
        cond: &Conditions,
    ) -> ApiResult<()> {
        let f = self.fs_ref(fs)?;
        let e = f
            .paths
            .get(path)
            .filter(|e| e.visible)
            .cloned()
            .ok_or_else(|| err(404, "PathNotFound", "The specified path does not exist."))?;
        cond.check(Some(&e), false)?;
        let prefix = format!("{path}/");
        let children: Vec<String> = f
            .paths
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        if e.is_dir && !children.is_empty() && !recursive {
            return Err(err(
                409,
                "DirectoryNotEmpty",
                "The recursive query parameter value must be true to delete a non-empty directory.",
            ));
        }
        let mut removed = Vec::new();
        let f = self.fs_mut(fs)?;
        for k in children.iter().chain(std::iter::once(&path.to_owned())) {
            if let Some(e) = f.paths.remove(k)
                && !e.is_dir
            {
                removed.push(e.data_id);
            }
        }
        for id in removed {
            let _ = std::fs::remove_file(self.data_path(id));
        }
        for k in children.iter().chain(std::iter::once(&path.to_owned())) {
            self.touch(fs, Some(k));
        }
        Ok(())
    }
}

fn io_err(e: std::io::Error) -> ApiError {
    err(500, "InternalError", format!("emulator disk error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_path(root: &std::path::Path) -> PathBuf {
        root.join(JOURNAL)
    }

    #[test]
    fn a_torn_journal_line_loses_only_itself_and_records_after_it_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut state = State::new(root.clone()).unwrap();
        state.create_fs("one", "").unwrap();
        state.journal().unwrap();
        // A full disk cut the next write in the middle of a record (and of a character).
        {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new().append(true).open(journal_path(&root)).unwrap();
            f.write_all(b"{\"Fs\":{\"fs\":\"t\xC3").unwrap();
        }
        // The emulator started again ends the torn line, and appends readable records after it.
        let mut state = State::new(root.clone()).unwrap();
        state.create_fs("two", "").unwrap();
        state.journal().unwrap();
        let state = State::new(root).unwrap();
        let names: Vec<String> = state.list_fs().into_iter().map(|(name, _, _)| name).collect();
        assert_eq!(names, ["one", "two"]);
    }
}
