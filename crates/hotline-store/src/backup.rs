//! Backups of a node: every table of the store as one read transaction saw
//! it, the key files and the configuration, encrypted under a passphrase
//! (`hotline_crypto::backup`), and restored into a new data directory.
//!
//! A backup file is the header, then chunks, each `flag (1 byte: 1 on the
//! last) ‖ length (u32 BE) ‖ sealed chunk`, and nothing after the last.
//! The plaintext the chunks carry is a sequence of records:
//!
//! | tag | record |
//! |-----|--------|
//! | 1 | info: length (u32 BE) ‖ postcard [`BackupInfo`]; always first |
//! | 2 | file: name length (u8) ‖ name ‖ length (u32 BE) ‖ bytes; only the files of [`FILES`] |
//! | 3 | row: table name length (u8) ‖ name ‖ key length (u32 BE) ‖ key ‖ value length (u32 BE) ‖ value |
//! | 4 | end: rows (u64 BE) ‖ files (u64 BE); always last |
//!
//! Every length is checked against a bound before anything is allocated,
//! and a restore writes only the files it knows, under their fixed names.

use crate::fsutil;
use crate::schema::{HISTORY, META, SLOTS, Table};
use crate::{DB_FILE, Store, StoreError};
use hotline_core::{NetworkId, StateCode, Timestamp};
use hotline_crypto::backup::{
    BackupError, BackupHeader, BackupOpener, BackupSealer, CHUNK_BYTES, HEADER_BYTES, KdfParams,
    MAX_SEALED_CHUNK_BYTES, NONCE_BYTES, SALT_BYTES,
};
use redb::{ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The files of a data directory a backup carries, besides the store.
/// (`keys/state.key.next` only during a state key rotation.)
pub const FILES: [&str; 5] =
    ["keys/state.key", "keys/no-state-key", "keys/node.key", "node.toml", "keys/state.key.next"];

const TAG_INFO: u8 = 1;
const TAG_FILE: u8 = 2;
const TAG_ROW: u8 = 3;
const TAG_END: u8 = 4;
/// Bounds on what one record may hold.
const MAX_KEY_BYTES: usize = 64 * 1024;
const MAX_VALUE_BYTES: usize = 32 * 1024 * 1024;
const MAX_FILE_BYTES: usize = 1024 * 1024;
const MAX_INFO_BYTES: usize = 4096;

/// What a backup says of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// The network of the node backed up.
    pub network: NetworkId,
    /// Its state.
    pub state: StateCode,
    /// When the backup was taken (the read transaction began).
    pub taken_at: Timestamp,
    /// The store's schema version.
    pub schema: u32,
}

/// What a backup held, once read through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// The backup's own description.
    pub info: BackupInfo,
    /// Rows of the store.
    pub rows: u64,
    /// Files of the data directory, by name.
    pub files: Vec<String>,
    /// The backup file's size.
    pub bytes: u64,
}

/// A backup's contents as they are read: the store's rows and the files.
enum Item<'a> {
    Row { table: &'a str, key: &'a [u8], value: &'a [u8] },
    File { name: &'a str, bytes: &'a [u8] },
}

fn backup_error(path: &Path, e: BackupError) -> StoreError {
    StoreError::Backup { path: path.into(), code: e.code(), detail: e.to_string() }
}

fn malformed(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Backup { path: path.into(), code: "malformed", detail: detail.into() }
}

/// Writes a backup of `store` (whose data directory is `data_dir`) to
/// `out`, a new file (never an existing one), readable by its owner only.
pub fn write_backup(
    store: &Store,
    data_dir: &Path,
    out: &Path,
    passphrase: &[u8],
    params: KdfParams,
    now: Timestamp,
) -> Result<BackupSummary, StoreError> {
    let mut salt = [0u8; SALT_BYTES];
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| StoreError::Random(e.to_string()))?;
    // Never into the data directory itself: the file would be backed up
    // in itself, or take the place of a key file the node needs.
    let parent = fs::canonicalize(fsutil::parent_dir(out)).map_err(|e| StoreError::io("find", out, e))?;
    let data = fs::canonicalize(data_dir).map_err(|e| StoreError::io("find", data_dir, e))?;
    if parent.starts_with(&data) {
        return Err(malformed(out, "it would be inside the node's data directory; write it elsewhere"));
    }
    let sealer =
        BackupSealer::new(passphrase, BackupHeader { params, salt, nonce }).map_err(|e| backup_error(out, e))?;
    let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(out).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => malformed(out, "the file exists already; a backup never replaces a file"),
        _ => StoreError::io("create", out, e),
    })?;
    let result = write_all(store, data_dir, out, file, sealer, now);
    if result.is_err() {
        // Half a backup is no backup.
        let _ = fs::remove_file(out);
    }
    result
}

fn write_all(
    store: &Store,
    data_dir: &Path,
    out: &Path,
    file: File,
    sealer: BackupSealer,
    now: Timestamp,
) -> Result<BackupSummary, StoreError> {
    const ACTION: &str = "reading the store for a backup";
    let header = sealer.header();
    let mut w = ChunkWriter { file: io::BufWriter::new(file), sealer: Some(sealer), plain: Vec::new(), path: out };
    w.file.write_all(&header).map_err(|e| StoreError::io("write", out, e))?;
    // One read transaction: the backup is the store as of one instant,
    // whatever the daemon writes meanwhile.
    let txn = store.begin_read(ACTION)?;
    let info =
        BackupInfo { network: store.network_id(), state: store.state(), taken_at: now, schema: crate::SCHEMA_VERSION };
    let info_bytes = postcard::to_allocvec(&info).map_err(|e| malformed(out, e.to_string()))?;
    w.record(&[&[TAG_INFO], &len32(&info_bytes), &info_bytes])?;
    let mut files = Vec::new();
    for name in FILES {
        let path = data_dir.join(name);
        match fs::read(&path) {
            Ok(bytes) if bytes.len() > MAX_FILE_BYTES => {
                return Err(malformed(out, format!("{} is larger than a backup may hold", path.display())));
            }
            Ok(bytes) => {
                w.record(&[&[TAG_FILE, name.len() as u8], name.as_bytes(), &len32(&bytes), &bytes])?;
                files.push(name.to_string());
            }
            // A node added with `node add` has no state key; every node
            // has the other two.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && matches!(name, "keys/state.key" | "keys/no-state-key" | "keys/state.key.next") => {}
            Err(e) => return Err(StoreError::io("read", &path, e)),
        }
    }
    let mut rows = 0u64;
    {
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(e) => return Err(store.db_error(ACTION, e)),
        };
        for row in meta.iter().map_err(|e| store.db_error(ACTION, e))? {
            let (k, v) = row.map_err(|e| store.db_error(ACTION, e))?;
            w.row("meta", k.value().as_bytes(), v.value())?;
            rows += 1;
        }
    }
    let tables: Vec<(&str, BytesTable)> = [("slots", SLOTS), ("history", HISTORY)]
        .into_iter()
        .chain(Table::ALL.iter().map(|t| (t.name(), t.definition())))
        .collect();
    for (name, definition) in tables {
        let table = match txn.open_table(definition) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => continue,
            Err(e) => return Err(store.db_error(ACTION, e)),
        };
        for row in table.iter().map_err(|e| store.db_error(ACTION, e))? {
            let (k, v) = row.map_err(|e| store.db_error(ACTION, e))?;
            w.row(name, k.value(), v.value())?;
            rows += 1;
        }
    }
    w.record(&[&[TAG_END], &rows.to_be_bytes(), &(files.len() as u64).to_be_bytes()])?;
    let bytes = w.finish()?;
    Ok(BackupSummary { info, rows, files, bytes })
}

/// A table of bytes to bytes: every table but `meta`.
type BytesTable = TableDefinition<'static, &'static [u8], &'static [u8]>;

fn len32(bytes: &[u8]) -> [u8; 4] {
    (bytes.len() as u32).to_be_bytes()
}

/// Cuts the record stream into chunks, seals and writes each.
struct ChunkWriter<'p> {
    file: io::BufWriter<File>,
    /// `None` once the last chunk is written.
    sealer: Option<BackupSealer>,
    plain: Vec<u8>,
    path: &'p Path,
}

impl ChunkWriter<'_> {
    fn row(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(malformed(self.path, format!("a row of {table} is larger than a backup may hold")));
        }
        self.record(&[&[TAG_ROW, table.len() as u8], table.as_bytes(), &len32(key), key, &len32(value), value])
    }

    fn record(&mut self, parts: &[&[u8]]) -> Result<(), StoreError> {
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let room = CHUNK_BYTES - self.plain.len();
                let (now, later) = rest.split_at(room.min(rest.len()));
                self.plain.extend_from_slice(now);
                rest = later;
                if self.plain.len() == CHUNK_BYTES {
                    self.flush_chunk()?;
                }
            }
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<(), StoreError> {
        let Some(sealer) = self.sealer.as_mut() else { return Err(malformed(self.path, "written past the end")) };
        let sealed = sealer.seal_next(&self.plain).map_err(|e| backup_error(self.path, e))?;
        self.plain.clear();
        self.put(0, &sealed)
    }

    fn put(&mut self, flag: u8, sealed: &[u8]) -> Result<(), StoreError> {
        let io_err = |e| StoreError::io("write", self.path, e);
        self.file.write_all(&[flag]).map_err(io_err)?;
        self.file.write_all(&len32(sealed)).map_err(io_err)?;
        self.file.write_all(sealed).map_err(io_err)
    }

    /// Seals the last chunk and makes the file durable; its size.
    fn finish(mut self) -> Result<u64, StoreError> {
        let Some(sealer) = self.sealer.take() else { return Err(malformed(self.path, "finished twice")) };
        let sealed = sealer.seal_last(&self.plain).map_err(|e| backup_error(self.path, e))?;
        self.put(1, &sealed)?;
        let file = self.file.into_inner().map_err(|e| StoreError::io("write", self.path, e.into_error()))?;
        file.sync_all().map_err(|e| StoreError::io("sync", self.path, e))?;
        fsutil::sync_dir(fsutil::parent_dir(self.path))?;
        Ok(file.metadata().map_err(|e| StoreError::io("read", self.path, e))?.len())
    }
}

/// Reads the backup at `path` through, checking every chunk and record;
/// its summary. Writes nothing.
pub fn verify_backup(path: &Path, passphrase: &[u8]) -> Result<BackupSummary, StoreError> {
    read_backup(path, passphrase, |_| Ok(()))
}

fn read_backup(
    path: &Path,
    passphrase: &[u8],
    mut visit: impl FnMut(Item<'_>) -> Result<(), StoreError>,
) -> Result<BackupSummary, StoreError> {
    let mut file = io::BufReader::new(File::open(path).map_err(|e| StoreError::io("open", path, e))?);
    let bytes = fs::metadata(path).map_err(|e| StoreError::io("read", path, e))?.len();
    // Read what there is first: a short file that is no backup at all
    // says so, rather than that it is truncated.
    let mut header = Vec::with_capacity(HEADER_BYTES);
    (&mut file).take(HEADER_BYTES as u64).read_to_end(&mut header).map_err(|e| StoreError::io("read", path, e))?;
    let header = BackupHeader::from_bytes(&header).map_err(|e| backup_error(path, e))?;
    let mut opener = Some(BackupOpener::new(passphrase, &header).map_err(|e| backup_error(path, e))?);
    let mut parser = RecordParser { buf: Vec::new(), info: None, rows: 0, files: Vec::new(), end: None, path };
    while let Some(o) = opener.take() {
        let mut head = [0u8; 5];
        read_exact(&mut file, &mut head, path)?;
        let [flag, a, b, c, d] = head;
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if len > MAX_SEALED_CHUNK_BYTES {
            return Err(backup_error(path, BackupError::ChunkTooLarge(len)));
        }
        let mut sealed = vec![0u8; len];
        read_exact(&mut file, &mut sealed, path)?;
        let plain = match flag {
            0 => {
                let mut o = o;
                let plain = o.open_next(&sealed).map_err(|e| backup_error(path, e))?;
                opener = Some(o);
                plain
            }
            1 => o.open_last(&sealed).map_err(|e| backup_error(path, e))?,
            other => return Err(malformed(path, format!("a chunk flag of {other}"))),
        };
        parser.feed(&plain, &mut visit)?;
    }
    let mut rest = [0u8; 1];
    if file.read(&mut rest).map_err(|e| StoreError::io("read", path, e))? != 0 {
        return Err(malformed(path, "bytes follow the last chunk"));
    }
    parser.finish(bytes)
}

fn read_exact(file: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<(), StoreError> {
    file.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => backup_error(path, BackupError::Truncated),
        _ => StoreError::io("read", path, e),
    })
}

/// Splits the decrypted stream into records, checking each bound.
struct RecordParser<'p> {
    buf: Vec<u8>,
    info: Option<BackupInfo>,
    rows: u64,
    files: Vec<String>,
    end: Option<(u64, u64)>,
    path: &'p Path,
}

impl RecordParser<'_> {
    fn feed(
        &mut self,
        plain: &[u8],
        visit: &mut impl FnMut(Item<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(plain);
        let mut at = 0;
        while let Some(used) = self.record(&buf[at..], visit)? {
            at += used;
        }
        buf.drain(..at);
        self.buf = buf;
        Ok(())
    }

    /// Parses one record at the start of `bytes`: the bytes it took, or
    /// `None` if it is not complete yet.
    fn record(
        &mut self,
        bytes: &[u8],
        visit: &mut impl FnMut(Item<'_>) -> Result<(), StoreError>,
    ) -> Result<Option<usize>, StoreError> {
        let path = self.path;
        let mut r = Cursor { bytes, at: 0 };
        let Some(tag) = r.take(1, 1, path)? else { return Ok(None) };
        if self.end.is_some() {
            return Err(malformed(path, "records follow the end record"));
        }
        if self.info.is_none() && tag[0] != TAG_INFO {
            return Err(malformed(path, "the first record is not the backup's description"));
        }
        match tag[0] {
            TAG_INFO => {
                let Some(len) = r.len32(MAX_INFO_BYTES, path)? else { return Ok(None) };
                let Some(info) = r.take(len, MAX_INFO_BYTES, path)? else { return Ok(None) };
                let info: BackupInfo = postcard::from_bytes(info).map_err(|e| malformed(path, e.to_string()))?;
                if info.schema > crate::SCHEMA_VERSION {
                    return Err(StoreError::UnsupportedSchema {
                        path: path.into(),
                        found: info.schema,
                        supported: crate::SCHEMA_VERSION,
                    });
                }
                self.info = Some(info);
            }
            TAG_FILE => {
                let Some(n) = r.take(1, 1, path)? else { return Ok(None) };
                let Some(name) = r.take(n[0] as usize, 255, path)? else { return Ok(None) };
                let Some(len) = r.len32(MAX_FILE_BYTES, path)? else { return Ok(None) };
                let Some(content) = r.take(len, MAX_FILE_BYTES, path)? else { return Ok(None) };
                let name = std::str::from_utf8(name).ok().filter(|n| FILES.contains(n));
                let Some(name) = name else { return Err(malformed(path, "it names a file no backup holds")) };
                visit(Item::File { name, bytes: content })?;
                self.files.push(name.to_string());
            }
            TAG_ROW => {
                let Some(n) = r.take(1, 1, path)? else { return Ok(None) };
                let Some(table) = r.take(n[0] as usize, 255, path)? else { return Ok(None) };
                let Some(klen) = r.len32(MAX_KEY_BYTES, path)? else { return Ok(None) };
                let Some(key) = r.take(klen, MAX_KEY_BYTES, path)? else { return Ok(None) };
                let Some(vlen) = r.len32(MAX_VALUE_BYTES, path)? else { return Ok(None) };
                let Some(value) = r.take(vlen, MAX_VALUE_BYTES, path)? else { return Ok(None) };
                let table = std::str::from_utf8(table).ok().filter(|t| known_table(t));
                let Some(table) = table else { return Err(malformed(path, "a row of a table no store has")) };
                visit(Item::Row { table, key, value })?;
                self.rows += 1;
            }
            TAG_END => {
                let Some(counts) = r.take(16, 16, path)? else { return Ok(None) };
                let rows = u64::from_be_bytes(counts[..8].try_into().unwrap_or_default());
                let files = u64::from_be_bytes(counts[8..].try_into().unwrap_or_default());
                self.end = Some((rows, files));
            }
            other => return Err(malformed(path, format!("a record of unknown kind {other}"))),
        }
        Ok(Some(r.at))
    }

    fn finish(self, bytes: u64) -> Result<BackupSummary, StoreError> {
        let path = self.path;
        let Some(info) = self.info else { return Err(malformed(path, "it holds no description")) };
        if !self.buf.is_empty() {
            return Err(malformed(path, "it ends inside a record"));
        }
        match self.end {
            Some((rows, files)) if rows == self.rows && files == self.files.len() as u64 => {
                Ok(BackupSummary { info, rows, files: self.files, bytes })
            }
            Some(_) => Err(malformed(path, "its counts of rows and files do not match its contents")),
            None => Err(malformed(path, "it has no end record")),
        }
    }
}

/// A reader over one record's bytes.
struct Cursor<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Cursor<'b> {
    /// The next `len` bytes (at most `max`), or `None` if not there yet.
    fn take(&mut self, len: usize, max: usize, path: &Path) -> Result<Option<&'b [u8]>, StoreError> {
        if len > max {
            return Err(malformed(path, format!("a field of {len} bytes, more than {max}")));
        }
        let Some(out) = self.bytes.get(self.at..self.at + len) else { return Ok(None) };
        self.at += len;
        Ok(Some(out))
    }

    fn len32(&mut self, max: usize, path: &Path) -> Result<Option<usize>, StoreError> {
        let Some(b) = self.take(4, 4, path)? else { return Ok(None) };
        let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len > max {
            return Err(malformed(path, format!("a field of {len} bytes, more than {max}")));
        }
        Ok(Some(len))
    }
}

fn known_table(name: &str) -> bool {
    matches!(name, "meta" | "slots" | "history") || Table::ALL.iter().any(|t| t.name() == name)
}

/// Rebuilds a data directory from the backup at `path` into `data_dir`,
/// which must not exist, or be an empty directory.
///
/// All or nothing: the backup is read once, into a staging directory
/// beside `data_dir`, which is checked as the daemon would open it (meta,
/// schema, charter, and the network and state the backup names) and only
/// then renamed into place. On any failure the staging directory is
/// removed and `data_dir` is as it was.
pub fn restore_backup(path: &Path, passphrase: &[u8], data_dir: &Path) -> Result<BackupSummary, StoreError> {
    let free = match fs::read_dir(data_dir) {
        Err(e) => e.kind() == io::ErrorKind::NotFound,
        Ok(mut entries) => entries.next().is_none(),
    };
    // Occupied, or unreadable: never taken for empty.
    if !free {
        return Err(StoreError::AlreadyExists { path: data_dir.into() });
    }
    let parent = fsutil::parent_dir(data_dir);
    let name = data_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = restore_into(path, passphrase, &staging);
    let result = result.and_then(|summary| {
        // An empty directory in the way is replaced; anything else was
        // refused above, and `rename` will not replace a non-empty one.
        let _ = fs::remove_dir(data_dir);
        fs::rename(&staging, data_dir).map_err(|e| StoreError::io("move the restored directory to", data_dir, e))?;
        fsutil::sync_dir(parent)?;
        Ok(summary)
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn restore_into(path: &Path, passphrase: &[u8], dir: &Path) -> Result<BackupSummary, StoreError> {
    fsutil::create_private_dir(&dir.join("keys"))?;
    for d in [dir.to_path_buf(), dir.join("keys")] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).map_err(|e| StoreError::io("protect", &d, e))?;
    }
    let db_path = dir.join(DB_FILE);
    let db =
        redb::Database::create(&db_path).map_err(|e| crate::error::from_redb(&db_path, "restoring the store", e))?;
    fs::set_permissions(&db_path, fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::io("protect", &db_path, e))?;
    let redb_error = |e: redb::Error| crate::error::from_redb(&db_path, "restoring the store", e);
    let txn = db.begin_write().map_err(|e| redb_error(e.into()))?;
    let summary = read_backup(path, passphrase, |item| match item {
        Item::File { name, bytes } => {
            let target = dir.join(name);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(|e| StoreError::io("create", &target, e))?;
            file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| StoreError::io("write", &target, e))
        }
        Item::Row { table: "meta", key, value } => {
            let key = std::str::from_utf8(key).map_err(|_| malformed(path, "a meta key is not text"))?;
            let mut t = txn.open_table(META).map_err(|e| redb_error(e.into()))?;
            t.insert(key, value).map(|_| ()).map_err(|e| redb_error(e.into()))
        }
        Item::Row { table, key, value } => {
            let mut t =
                txn.open_table(TableDefinition::<&[u8], &[u8]>::new(table)).map_err(|e| redb_error(e.into()))?;
            t.insert(key, value).map(|_| ()).map_err(|e| redb_error(e.into()))
        }
    })?;
    if !summary.files.iter().any(|f| f == "keys/node.key") {
        return Err(malformed(path, "it holds no node key"));
    }
    txn.commit().map_err(|e| redb_error(e.into()))?;
    drop(db);
    File::open(&db_path).and_then(|f| f.sync_all()).map_err(|e| StoreError::io("sync", &db_path, e))?;
    fsutil::sync_dir(&dir.join("keys"))?;
    fsutil::sync_dir(dir)?;
    // The store a daemon would open: meta, schema, charter.
    let store = Store::open(dir)?;
    if store.network_id() != summary.info.network || store.state() != summary.info.state {
        return Err(malformed(path, "its store belongs to another network or state than it says"));
    }
    // The evidence log the backup holds is older than the one the node
    // signed since: a new epoch, declared, rather than a rollback, numbered
    // by the restore's time so that two restores of one backup differ.
    let restored_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    store.start_evidence_epoch(Timestamp(restored_at))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeKeys, WriteBatch};
    use hotline_core::MessageId;
    use hotline_core::testkit::World;
    use std::path::PathBuf;

    const FAST: KdfParams = KdfParams { memory_kib: 64, passes: 1, lanes: 1 };

    /// A node's data directory with a store holding one sent message.
    fn node(root: &Path) -> PathBuf {
        let data = root.join("node");
        let w = World::default();
        let store = Store::create(&data, &w.charter, "FRA".parse().unwrap()).unwrap();
        NodeKeys::generate_into(&data).unwrap();
        fs::write(data.join("node.toml"), "state = \"FRA\"\n").unwrap();
        let mut batch = WriteBatch::new();
        batch.cancel_message(MessageId([9; 16]), Timestamp(5));
        store.write(batch).unwrap();
        data
    }

    fn code(e: StoreError) -> &'static str {
        match e {
            StoreError::Backup { code, .. } => code,
            other => panic!("not a backup error: {other}"),
        }
    }

    #[test]
    fn a_backup_restores_the_store_keys_and_config_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let data = node(root.path());
        let out = root.path().join("node.backup");
        let written = {
            let store = Store::open(&data).unwrap();
            write_backup(&store, &data, &out, b"pass", FAST, Timestamp(100)).unwrap()
        };
        assert_eq!(fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(written.files, ["keys/state.key", "keys/node.key", "node.toml"]);
        assert_eq!(verify_backup(&out, b"pass").unwrap(), written);
        assert_eq!(code(verify_backup(&out, b"wrong").unwrap_err()), "wrong_passphrase");

        let restored = root.path().join("restored");
        assert_eq!(restore_backup(&out, b"pass", &restored).unwrap().rows, written.rows);
        for name in &written.files {
            assert_eq!(fs::read(restored.join(name)).unwrap(), fs::read(data.join(name)).unwrap(), "{name}");
        }
        let store = Store::open(&restored).unwrap();
        assert_eq!(store.snapshot().unwrap().cancelled_at(&MessageId([9; 16])).unwrap(), Some(Timestamp(5)));
        drop(store);
        // Never over an existing data directory.
        assert!(matches!(restore_backup(&out, b"pass", &restored), Err(StoreError::AlreadyExists { .. })));
        // Never inside the data directory.
        let store2 = Store::open(&restored).unwrap();
        let err = write_backup(&store2, &restored, &restored.join("keys/x.backup"), b"pass", FAST, Timestamp(1));
        assert!(err.unwrap_err().to_string().contains("inside the node's data directory"));
        drop(store2);
        // A second backup to the same file is refused.
        let store = Store::open(&data).unwrap();
        assert_eq!(code(write_backup(&store, &data, &out, b"pass", FAST, Timestamp(1)).unwrap_err()), "malformed");
    }

    #[test]
    fn a_changed_or_cut_backup_is_refused_with_its_reason_and_restores_nothing() {
        let root = tempfile::tempdir().unwrap();
        let data = node(root.path());
        let out = root.path().join("node.backup");
        let store = Store::open(&data).unwrap();
        write_backup(&store, &data, &out, b"pass", FAST, Timestamp(100)).unwrap();
        let good = fs::read(&out).unwrap();
        let try_with = |bytes: &[u8]| {
            let path = root.path().join("changed.backup");
            fs::write(&path, bytes).unwrap();
            let target = root.path().join("target");
            let result = restore_backup(&path, b"pass", &target);
            assert!(!target.join(DB_FILE).exists(), "nothing restored from a bad backup");
            result.map(|_| ()).map_err(code)
        };
        // One byte anywhere in the sealed chunks, or in the header's salt.
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(try_with(&flipped), Err("wrong_passphrase"), "the only chunk, changed");
        let mut salt = good.clone();
        salt[HEADER_BYTES - NONCE_BYTES - 1] ^= 1;
        assert_eq!(try_with(&salt), Err("wrong_passphrase"));
        assert_eq!(try_with(&good[..good.len() - 10]), Err("truncated"));
        assert_eq!(try_with(&good[..HEADER_BYTES + 2]), Err("truncated"));
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(try_with(&longer), Err("malformed"));
        assert_eq!(try_with(b"hello"), Err("not_a_backup"));
    }
}
