//! The database of one node.

use crate::batch::{Op, WriteBatch};
use crate::error::{StoreError, from_redb};
use crate::fsutil::{create_private_dir, sync_dir};
use crate::schema::{self, HISTORY, HistoryRow, META, SCHEMA_VERSION, SLOTS, SlotRow, Table, meta};
use hotline_core::{Directory, DirectoryObject, NetworkId, ObjectHash, ObjectKey, SignedCharter, StateCode, Timestamp};
use redb::{Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A messaging table open for writing.
type BytesTable<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

/// The database file's name inside a node's data directory.
pub const DB_FILE: &str = "hotline.redb";

/// One object in a slot's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Position in this store's history: it grows by one with every object
    /// the store accepts, across all slots, so it orders a slot's history by
    /// acceptance. It is local to this node, and is not the object's own
    /// version number ([`DirectoryObject::seq`]).
    pub seq: u64,
    /// The object's hash.
    pub hash: ObjectHash,
    /// Whether the object became the slot's winner when it was accepted
    /// (else it was kept as evidence of an equivocation).
    pub winner: bool,
    /// When this node accepted it.
    pub accepted_at: Timestamp,
    /// The object.
    pub object: DirectoryObject,
}

/// One node's database, `DATA/hotline.redb`.
///
/// The charter, network id and state are read once when the store is opened.
/// Every write commits with an fsync before it returns. `Store` is `Sync`: share
/// it behind an `Arc`; write transactions are serialised by the database.
pub struct Store {
    pub(crate) db: Database,
    path: PathBuf,
    charter: SignedCharter,
    network: NetworkId,
    state: StateCode,
    transactions: AtomicU64,
    /// Faults a test injected into this store's writes.
    #[cfg(feature = "fault-injection")]
    faults: std::sync::OnceLock<std::sync::Arc<crate::faults::WriteFaults>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("network", &self.network)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates the store of a new node of `state` in the network of
    /// `charter`, creating `data_dir` (mode 0700) if it is missing.
    ///
    /// Refuses if a database already exists there, and if the charter does
    /// not verify. The database is built under a temporary name and linked
    /// into place only once its meta table is durable, so an interrupted
    /// creation leaves no half-made store behind.
    pub fn create(data_dir: &Path, charter: &SignedCharter, state: StateCode) -> Result<Store, StoreError> {
        let network = charter.verify().map_err(StoreError::InvalidCharter)?;
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        if path.symlink_metadata().is_ok() {
            return Err(StoreError::AlreadyExists { path });
        }
        let tmp = data_dir.join(format!(".{DB_FILE}.init-{}", std::process::id()));
        let built = build_new_database(&tmp, charter, network, state);
        let installed = built.and_then(|()| install(&tmp, &path));
        // The temporary name is ours alone; whatever happened, it must not linger.
        let _ = fs::remove_file(&tmp);
        installed?;
        sync_dir(data_dir)?;
        Store::open(data_dir)
    }

    /// Opens the store in `data_dir`.
    ///
    /// Tells apart a missing store ([`StoreError::NotInitialized`]), a redb
    /// file of another program ([`StoreError::Foreign`]), a damaged file or
    /// one that is no database at all ([`StoreError::Corrupt`]), a store from
    /// a newer Hotline ([`StoreError::UnsupportedSchema`]) and one held by
    /// another process ([`StoreError::Locked`]).
    ///
    /// The open verifies the checksum of every page: redb may panic on a
    /// damaged file it trusts, and a node must fail with a clear error
    /// instead. That costs a read of the whole file at start-up.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        match fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotInitialized { dir: data_dir.to_path_buf() });
            }
            Err(e) => return Err(StoreError::io("read", &path, e)),
            Ok(m) if !m.is_file() => {
                return Err(StoreError::Corrupt { path, detail: "it is not a regular file".into() });
            }
            Ok(m) if m.len() == 0 => return Err(StoreError::Corrupt { path, detail: "the file is empty".into() }),
            Ok(_) => {}
        }
        let db = open_database(&path)?;
        let txn = db.begin_read().map_err(|e| from_redb(&path, "reading the store's meta data", e))?;
        let facts = read_meta(&txn, &path)?;
        drop(txn);
        crate::migrate::upgrade(&db, &path, facts.schema, &facts.network)?;
        Ok(Store {
            db,
            path,
            charter: facts.charter,
            network: facts.network,
            state: facts.state,
            #[cfg(feature = "fault-injection")]
            faults: std::sync::OnceLock::new(),
            transactions: AtomicU64::new(0),
        })
    }

    /// The network's charter.
    pub fn charter(&self) -> &SignedCharter {
        &self.charter
    }

    /// The network id (the charter's hash).
    pub fn network_id(&self) -> NetworkId {
        self.network
    }

    /// The state this node belongs to.
    pub fn state(&self) -> StateCode {
        self.state
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many durable write transactions (fsyncs) this handle has
    /// committed since it was opened; for metrics, and to see group commit
    /// at work.
    pub fn write_transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Rebuilds the directory from the saved slots. Objects that waited for a
    /// parent are not saved; sync fetches them again.
    pub fn load_directory(&self) -> Result<Directory, StoreError> {
        let txn = self.begin_read("loading the directory")?;
        let mut entries = Vec::new();
        if let Some(table) = self.open_read(&txn, SLOTS, "loading the directory")? {
            let rows = table.iter().map_err(|e| self.db_error("loading the directory", e))?;
            for row in rows {
                let (key, value) = row.map_err(|e| self.db_error("loading the directory", e))?;
                let key_bytes = key.value();
                let slot = ObjectKey::from_bytes(key_bytes)
                    .map_err(|e| self.corrupt(format!("a key in the slots table: {e}")))?;
                let (winner, evidence) =
                    SlotRow::decode_objects(value.value()).map_err(|e| self.corrupt(format!("slot {slot}: {e}")))?;
                if winner.key() != slot {
                    return Err(self.corrupt(format!("slot {slot} holds an object of slot {}", winner.key())));
                }
                entries.push((winner, evidence));
            }
        }
        Directory::restore(self.charter.clone(), entries)
            .map_err(|e| self.corrupt(format!("the stored charter does not verify: {e}")))
    }

    /// Every object ever accepted into slot `key`, oldest first.
    pub fn history(&self, key: &ObjectKey) -> Result<Vec<HistoryEntry>, StoreError> {
        let txn = self.begin_read("reading history")?;
        let Some(table) = self.open_read(&txn, HISTORY, "reading history")? else { return Ok(Vec::new()) };
        let prefix = key.to_bytes();
        let rows = table.range::<&[u8]>(prefix.as_slice()..).map_err(|e| self.db_error("reading history", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (k, v) = row.map_err(|e| self.db_error("reading history", e))?;
            let Some(suffix) = k.value().strip_prefix(prefix.as_slice()) else { break };
            let (seq, hash) = schema::history_key_suffix(suffix)
                .ok_or_else(|| self.corrupt(format!("a history key of slot {key} is malformed")))?;
            let row = HistoryRow::decode(v.value()).map_err(|e| self.corrupt(format!("history of {key}: {e}")))?;
            let object =
                DirectoryObject::from_bytes(&row.object).map_err(|e| self.corrupt(format!("history of {key}: {e}")))?;
            if object.hash(&self.network) != hash {
                return Err(self.corrupt(format!("history of {key}: entry {seq} does not match its hash")));
            }
            out.push(HistoryEntry { seq, hash, winner: row.winner, accepted_at: row.accepted_at, object });
        }
        Ok(out)
    }

    /// Writes `batch` in one transaction and returns once it is durable.
    pub fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write_group(std::slice::from_ref(&batch))
    }

    /// Injects `faults` into this store's writes, from now on (once per
    /// store; later calls change nothing).
    #[cfg(feature = "fault-injection")]
    pub fn inject_faults(&self, faults: std::sync::Arc<crate::faults::WriteFaults>) {
        let _ = self.faults.set(faults);
    }

    /// Writes several batches in one transaction, in order, with one fsync.
    /// Either all of them are durable or none is.
    pub(crate) fn write_group(&self, batches: &[WriteBatch]) -> Result<(), StoreError> {
        if batches.iter().all(WriteBatch::is_empty) {
            return Ok(());
        }
        #[cfg(feature = "fault-injection")]
        if self.faults.get().is_some_and(|f| f.before_write(batches)) {
            let injected = std::io::Error::other("write fault injected by a test");
            return Err(StoreError::io("write a batch to", &self.path, injected));
        }
        const ACTION: &str = "writing a batch";
        let mut txn = self.db.begin_write().map_err(|e| self.db_error(ACTION, e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| self.db_error(ACTION, e))?;
        let ops = || batches.iter().flat_map(|b| &b.ops);
        // Only what the group touches is opened and rewritten: every table
        // opened for writing costs page writes at commit, and a message
        // batch has no business with the directory's tables.
        if ops().any(|op| matches!(op, Op::PutSlot { .. } | Op::DeleteSlot { .. } | Op::AppendHistory { .. })) {
            let mut meta_table = txn.open_table(META).map_err(|e| self.db_error(ACTION, e))?;
            let mut next = match meta_table.get(meta::HISTORY_NEXT).map_err(|e| self.db_error(ACTION, e))? {
                Some(v) => read_u64(v.value()).ok_or_else(|| self.corrupt("the history counter is malformed"))?,
                None => 0,
            };
            let mut slots = txn.open_table(SLOTS).map_err(|e| self.db_error(ACTION, e))?;
            let mut history = txn.open_table(HISTORY).map_err(|e| self.db_error(ACTION, e))?;
            for op in ops() {
                match op {
                    Op::PutSlot { key, row } => {
                        slots.insert(key.as_slice(), row.as_slice()).map_err(|e| self.db_error(ACTION, e))?;
                    }
                    Op::DeleteSlot { key } => {
                        slots.remove(key.as_slice()).map_err(|e| self.db_error(ACTION, e))?;
                    }
                    Op::AppendHistory { key, hash, row } => {
                        let hkey = schema::history_key(key, next, hash);
                        history.insert(hkey.as_slice(), row.as_slice()).map_err(|e| self.db_error(ACTION, e))?;
                        next += 1;
                    }
                    Op::Put { .. } | Op::PutSecret { .. } | Op::Delete { .. } | Op::AppendEvidence { .. } => {}
                }
            }
            meta_table
                .insert(meta::HISTORY_NEXT, next.to_be_bytes().as_slice())
                .map_err(|e| self.db_error(ACTION, e))?;
        }
        // The messaging tables, each opened once for the whole group. The
        // directory's operations and these touch disjoint tables, so doing
        // them in two passes keeps every table's own order.
        let mut open: Vec<(Table, BytesTable)> = Vec::new();
        for op in ops() {
            let (table, key, value) = match op {
                Op::Put { table, key, value } => (*table, key, Some(value.as_slice())),
                Op::PutSecret { key, value } => (Table::Secrets, key, Some(value.0.as_slice())),
                Op::Delete { table, key } => (*table, key, None),
                _ => continue,
            };
            let index = match open.iter().position(|(t, _)| *t == table) {
                Some(i) => i,
                None => {
                    let t = txn.open_table(table.definition()).map_err(|e| self.db_error(ACTION, e))?;
                    open.push((table, t));
                    open.len() - 1
                }
            };
            let t = &mut open[index].1;
            match value {
                Some(v) => t.insert(key.as_slice(), v).map(drop),
                None => t.remove(key.as_slice()).map(drop),
            }
            .map_err(|e| self.db_error(ACTION, e))?;
        }
        drop(open);
        // The evidence log's leaves, after every table they record is
        // written: each at the log's end (`crate::evidence`).
        let mut leaves = ops()
            .filter_map(|op| match op {
                Op::AppendEvidence { leaf, at } => Some((leaf, *at)),
                _ => None,
            })
            .peekable();
        if leaves.peek().is_some() {
            crate::evidence::append_leaves(&txn, leaves).map_err(|e| match e {
                crate::evidence::AppendError::Db(e) => self.db_error(ACTION, e),
                crate::evidence::AppendError::OutOfPlace { expected, size } => {
                    StoreError::EvidenceOutOfPlace { expected, size }
                }
            })?;
        }
        txn.commit().map_err(|e| self.db_error(ACTION, e))?;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A consistent view of the store for several reads: one read
    /// transaction, which writers do not wait for.
    pub fn snapshot(&self) -> Result<Snapshot<'_>, StoreError> {
        Ok(Snapshot { store: self, txn: self.begin_read("reading the store")?, tables: Default::default() })
    }

    pub(crate) fn begin_read(&self, action: &'static str) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(|e| self.db_error(action, e))
    }

    /// Opens a table for reading; `None` if no write has created it yet.
    pub(crate) fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        table: TableDefinition<K, V>,
        action: &'static str,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
        match txn.open_table(table) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.db_error(action, e)),
        }
    }

    pub(crate) fn db_error(&self, action: &'static str, e: impl Into<redb::Error>) -> StoreError {
        from_redb(&self.path, action, e)
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { path: self.path.clone(), detail: detail.into() }
    }

    /// Holds the database's write lock until the returned transaction is
    /// dropped, so that tests can make batches queue up.
    #[cfg(test)]
    pub(crate) fn block_writes(&self) -> redb::WriteTransaction {
        self.db.begin_write().expect("begin a write transaction")
    }
}

/// A read transaction on a [`Store`]: every read through it sees the store
/// as it was when [`Store::snapshot`] was called. Messaging reads are
/// methods of it (see `crate::messages` and `crate::mailbox`).
///
/// It is `Sync`: threads may share one snapshot to split a long read (a
/// thread of thousands of messages) and still see one state of the store.
pub struct Snapshot<'s> {
    pub(crate) store: &'s Store,
    txn: ReadTransaction,
    /// Each messaging table, opened on first use: a thread of thousands of
    /// messages reads the same few tables thousands of times.
    tables: [OnceLock<Option<BytesReadTable>>; Table::COUNT],
}

type BytesReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

impl Snapshot<'_> {
    /// Messaging table `which`, or `None` if no write has created it yet.
    pub(crate) fn table(&self, which: Table, action: &'static str) -> Result<Option<&BytesReadTable>, StoreError> {
        let cell = &self.tables[which as usize];
        if cell.get().is_none() {
            let opened = self.store.open_read(&self.txn, which.definition(), action)?;
            // Two threads may both open it; either handle serves.
            let _ = cell.set(opened);
        }
        Ok(cell.get().and_then(Option::as_ref))
    }
}

impl fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot").field("path", &self.store.path).finish()
    }
}

/// Creates a database at `tmp` holding only the meta table, durably.
fn build_new_database(
    tmp: &Path,
    charter: &SignedCharter,
    network: NetworkId,
    state: StateCode,
) -> Result<(), StoreError> {
    const ACTION: &str = "creating the store";
    // A leftover of an earlier, interrupted run of this same process id.
    let _ = fs::remove_file(tmp);
    // Created here with O_EXCL and mode 0600 so that redb never creates it
    // with the default, world-readable mode.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| StoreError::io("create", tmp, e))?;
    let db = Database::create(tmp).map_err(|e| from_redb(tmp, ACTION, e))?;
    let mut txn = db.begin_write().map_err(|e| from_redb(tmp, ACTION, e))?;
    txn.set_durability(Durability::Immediate).map_err(|e| from_redb(tmp, ACTION, e))?;
    {
        let mut table = txn.open_table(META).map_err(|e| from_redb(tmp, ACTION, e))?;
        let charter_bytes = charter.to_bytes();
        let rows: [(&str, &[u8]); 6] = [
            (meta::MAGIC, schema::MAGIC),
            (meta::SCHEMA, &SCHEMA_VERSION.to_be_bytes()),
            (meta::NETWORK, &network.0),
            (meta::STATE, state.as_str().as_bytes()),
            (meta::CHARTER, &charter_bytes),
            (meta::HISTORY_NEXT, &0u64.to_be_bytes()),
        ];
        for (key, value) in rows {
            table.insert(key, value).map_err(|e| from_redb(tmp, ACTION, e))?;
        }
        txn.open_table(SLOTS).map_err(|e| from_redb(tmp, ACTION, e))?;
        txn.open_table(HISTORY).map_err(|e| from_redb(tmp, ACTION, e))?;
    }
    txn.commit().map_err(|e| from_redb(tmp, ACTION, e))?;
    db.close().map_err(|e| from_redb(tmp, ACTION, e))
}

/// Gives the finished database its real name, without ever replacing a file
/// already there: a hard link fails if the name is taken, where a rename
/// would silently overwrite.
fn install(tmp: &Path, path: &Path) -> Result<(), StoreError> {
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists { path: path.into() }),
        // Some file systems have no hard links; fall back to a checked rename.
        Err(_) if path.symlink_metadata().is_err() => {
            fs::rename(tmp, path).map_err(|e| StoreError::io("create", path, e))
        }
        Err(_) => Err(StoreError::AlreadyExists { path: path.into() }),
    }
}

/// The database's page cache while the node runs: enough for the pages a
/// long thread touches (a case of 5,000 messages lies on about 6,500 leaves,
/// 26 MB), so that reading it again is served from memory.
const CACHE_BYTES: usize = 40 * 1024 * 1024;

/// The page cache of the integrity check on open. The check reads every
/// page of the file once, so a larger cache only fills with pages no read
/// will ask for; the node's own cache starts empty after it.
const CHECK_CACHE_BYTES: usize = 2 * 1024 * 1024;

/// Opens the database at `path`: first to check every page's checksum (and
/// repair after an unclean stop), then again for use.
///
/// Two opens because redb's check fills the page cache with whatever it
/// read last: with the node's cache size, every start would hold 40 MB of
/// arbitrary pages (and a default 1 GiB cache would hold the whole file).
fn open_database(path: &Path) -> Result<Database, StoreError> {
    let checked = open_database_with(path, true, CHECK_CACHE_BYTES)?;
    // Closing releases redb's file lock; another process opening the store
    // in between makes the second open fail as "in use", as it should.
    drop(checked);
    open_database_with(path, false, CACHE_BYTES)
}

fn open_database_with(path: &Path, check: bool, cache_bytes: usize) -> Result<Database, StoreError> {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(check);
    builder.set_cache_size(cache_bytes);
    // Belt and braces: should the engine still panic on some damage its
    // checks miss, report the file as corrupt rather than bring the node down.
    let opened = panic::catch_unwind(AssertUnwindSafe(|| builder.open(path)));
    match opened {
        Err(_) => Err(StoreError::Corrupt { path: path.into(), detail: "the database engine cannot read it".into() }),
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(match e.into() {
            // A file too short to hold a database header.
            redb::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                StoreError::Corrupt { path: path.into(), detail: "the file is too short to be a database".into() }
            }
            // redb's way of saying the header is not a redb header.
            redb::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
                StoreError::Corrupt { path: path.into(), detail: e.to_string() }
            }
            redb::Error::Io(e) => StoreError::io("open", path, e),
            other => from_redb(path, "opening the store", other),
        }),
    }
}

/// What the meta table says.
struct Facts {
    schema: u32,
    charter: SignedCharter,
    network: NetworkId,
    state: StateCode,
}

fn read_meta(txn: &ReadTransaction, path: &Path) -> Result<Facts, StoreError> {
    const ACTION: &str = "reading the store's meta data";
    let corrupt = |detail: String| StoreError::Corrupt { path: path.into(), detail };
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Err(StoreError::Foreign { path: path.into() }),
        Err(e) => return Err(from_redb(path, ACTION, e)),
    };
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(table.get(key).map_err(|e| from_redb(path, ACTION, e))?.map(|v| v.value().to_vec()))
    };
    if get(meta::MAGIC)?.as_deref() != Some(schema::MAGIC) {
        return Err(StoreError::Foreign { path: path.into() });
    }
    let require = |key: &'static str| -> Result<Vec<u8>, StoreError> {
        get(key)?.ok_or_else(|| corrupt(format!("the meta table has no {key}")))
    };
    let schema_bytes = require(meta::SCHEMA)?;
    let found = <[u8; 4]>::try_from(schema_bytes.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| corrupt("the schema version is malformed".into()))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema { path: path.into(), found, supported: SCHEMA_VERSION });
    }
    if found == 0 {
        return Err(corrupt("the schema version is 0".into()));
    }
    let network = <[u8; 32]>::try_from(require(meta::NETWORK)?.as_slice())
        .map(NetworkId)
        .map_err(|_| corrupt("the network id is malformed".into()))?;
    let state = std::str::from_utf8(&require(meta::STATE)?)
        .ok()
        .and_then(|s| s.parse::<StateCode>().ok())
        .ok_or_else(|| corrupt("the state code is malformed".into()))?;
    let charter = SignedCharter::from_bytes(&require(meta::CHARTER)?)
        .map_err(|e| corrupt(format!("the stored charter does not decode: {e}")))?;
    let verified = charter.verify().map_err(|e| corrupt(format!("the stored charter does not verify: {e}")))?;
    if verified != network {
        return Err(corrupt("the stored charter does not match the stored network id".into()));
    }
    Ok(Facts { schema: found, charter, network, state })
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::directory::Entry;
    use hotline_core::testkit::{IntoObject, T0, World};
    use hotline_core::{Applied, Change, Outcome, Role, SignedRecord};

    fn fra() -> StateCode {
        "FRA".parse().unwrap()
    }

    fn entries(dir: &Directory) -> Vec<(ObjectKey, Entry)> {
        dir.entries().map(|(k, e)| (k.clone(), e.clone())).collect()
    }

    fn directory(w: &World) -> Directory {
        Directory::new(w.charter.clone()).expect("the fixture charter verifies")
    }

    /// The testkit's record of `state` for `role`, signed under admission
    /// `admission_seq`, with `organization` set so that two versions with
    /// the same seq can differ.
    fn record(w: &World, state: &str, role: &str, admission_seq: u64, seq: u64, organization: &str) -> DirectoryObject {
        let mut body = w.record_body(state, role, admission_seq, seq);
        body.organization = organization.into();
        SignedRecord::sign(body, &w.state_key(state, admission_seq), &w.net).obj()
    }

    /// Applies `object`, which must change the directory.
    fn apply(dir: &mut Directory, object: DirectoryObject) -> Applied {
        let what = object.describe();
        match dir.apply(object, T0) {
            Ok(Outcome::Applied(applied)) => applied,
            other => panic!("applying {what}: {other:?}"),
        }
    }

    /// Applies each object and writes what it changed, one batch per apply.
    fn apply_all(store: &Store, dir: &mut Directory, objects: Vec<DirectoryObject>) {
        for object in objects {
            let applied = apply(dir, object);
            let mut batch = WriteBatch::new();
            batch.record_applied(&applied, dir, T0);
            store.write(batch).unwrap();
        }
    }

    #[test]
    fn a_snapshot_is_shareable_across_threads() {
        fn sync<T: Sync>() {}
        sync::<Snapshot<'_>>();
    }

    #[test]
    fn store_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<crate::GroupCommitter>();
        assert_send_sync::<StoreError>();
    }

    #[test]
    fn create_then_open_reads_the_meta_data() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("node");
        let store = Store::create(&data, &w.charter, fra()).unwrap();
        assert_eq!(store.network_id(), w.net);
        drop(store);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(data.join(DB_FILE)).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [DB_FILE]);

        let store = Store::open(&data).unwrap();
        assert_eq!(store.charter(), &w.charter);
        assert_eq!(store.network_id(), w.net);
        assert_eq!(store.state(), fra());
        assert_eq!(store.load_directory().unwrap().entries().count(), 0);
    }

    #[test]
    fn create_refuses_an_existing_store_and_a_bad_charter() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::create(tmp.path(), &w.charter, fra()).unwrap());
        let err = Store::create(tmp.path(), &w.charter, fra()).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        // The refused create left the first store as it was.
        assert_eq!(Store::open(tmp.path()).unwrap().state(), fra());

        let mut unsigned = w.charter.clone();
        unsigned.signatures.truncate(1);
        let other = tempfile::tempdir().unwrap();
        let err = Store::create(other.path(), &unsigned, fra()).unwrap_err();
        assert!(matches!(err, StoreError::InvalidCharter(_)), "{err}");
        assert!(!other.path().join(DB_FILE).exists());
    }

    #[test]
    fn reopen_gives_an_identical_directory() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        // A record that waits for its admission, then both in one apply.
        let early = record(&w, "DEU", "policy", 1, 1, "BSI");
        assert!(matches!(dir.apply(early, T0), Ok(hotline_core::Outcome::Pending(_))));
        // Two versions of a record, and an equivocation (same seq, different content).
        apply_all(
            &store,
            &mut dir,
            vec![
                w.admission("FRA", 1).obj(),
                record(&w, "FRA", "policy", 1, 1, "ANSSI"),
                record(&w, "FRA", "policy", 1, 2, "ANSSI (new)"),
                record(&w, "FRA", "technical", 1, 1, "CERT-FR"),
                record(&w, "FRA", "technical", 1, 1, "CERT-FR bis"),
                w.admission("DEU", 1).obj(),
            ],
        );
        assert_eq!(dir.pending_len(), 0);
        let technical = dir.entry(&ObjectKey::Record(fra(), Role::technical())).unwrap();
        assert_eq!(technical.evidence.len(), 1, "the equivocation is kept as evidence");
        let before = entries(&dir);
        assert_eq!(before.len(), 5);
        let digest = dir.digest(T0);
        drop(store);

        let store = Store::open(tmp.path()).unwrap();
        let reloaded = store.load_directory().unwrap();
        assert_eq!(entries(&reloaded), before);
        assert_eq!(reloaded.digest(T0), digest);
        assert_eq!(reloaded.digest_hash(T0), dir.digest_hash(T0));
        assert_eq!(reloaded.network_id(), dir.network_id());
        // The reloaded directory keeps enforcing the rules: a replay is stale.
        let mut reloaded = reloaded;
        let replay = record(&w, "FRA", "policy", 1, 1, "ANSSI");
        assert!(reloaded.apply(replay, T0).is_err());
    }

    #[test]
    fn history_lists_every_accepted_object_oldest_first() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        let v1 = record(&w, "FRA", "policy", 1, 1, "ANSSI");
        let v2 = record(&w, "FRA", "policy", 1, 2, "ANSSI (new)");
        let t1 = record(&w, "FRA", "technical", 1, 1, "CERT-FR");
        let t1b = record(&w, "FRA", "technical", 1, 1, "CERT-FR bis");
        apply_all(&store, &mut dir, vec![w.admission("FRA", 1).obj(), v1.clone(), t1.clone(), v2.clone(), t1b.clone()]);

        let policy = store.history(&ObjectKey::Record(fra(), Role::policy())).unwrap();
        assert_eq!(policy.iter().map(|h| &h.object).collect::<Vec<_>>(), [&v1, &v2]);
        assert!(policy.iter().all(|h| h.winner && h.accepted_at == T0));
        assert!(policy[0].seq < policy[1].seq);
        assert_eq!(policy[1].hash, v2.hash(&store.network_id()));

        let technical = store.history(&ObjectKey::Record(fra(), Role::technical())).unwrap();
        assert_eq!(technical.len(), 2);
        let net = store.network_id();
        assert_eq!((&technical[0].object, technical[0].winner), (&t1, true));
        // The equivocating sibling wins only if its hash is lower.
        assert_eq!((&technical[1].object, technical[1].winner), (&t1b, t1b.hash(&net) < t1.hash(&net)));
        assert_eq!(store.history(&ObjectKey::Admission(fra())).unwrap().len(), 1);
        assert!(store.history(&ObjectKey::Admission("DEU".parse().unwrap())).unwrap().is_empty());

        // History survives a reopen, and numbering goes on where it stopped.
        drop(store);
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.history(&ObjectKey::Record(fra(), Role::policy())).unwrap(), policy);
        let v3 = record(&w, "FRA", "policy", 1, 3, "ANSSI (newer)");
        apply_all(&store, &mut dir, vec![v3.clone()]);
        let policy = store.history(&ObjectKey::Record(fra(), Role::policy())).unwrap();
        assert_eq!(policy.len(), 3);
        assert!(policy[1].seq < policy[2].seq);
        assert_eq!(policy[2].object, v3);
    }

    #[test]
    fn a_key_change_removes_slots_but_not_their_history() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        let old = record(&w, "FRA", "policy", 1, 1, "ANSSI");
        apply_all(&store, &mut dir, vec![w.admission("FRA", 1).obj(), old.clone()]);
        // Admission 2 carries a new state key: the record signed under admission 1 goes.
        let applied = apply(&mut dir, w.admission("FRA", 2).obj());
        assert!(applied.changes.iter().any(|c| matches!(c, Change::Removed { .. })));
        let mut batch = WriteBatch::new();
        batch.record_applied(&applied, &dir, T0);
        store.write(batch).unwrap();
        drop(store);

        let store = Store::open(tmp.path()).unwrap();
        let reloaded = store.load_directory().unwrap();
        assert_eq!(entries(&reloaded), entries(&dir));
        assert!(reloaded.record(fra(), &Role::policy()).is_none());
        let history = store.history(&ObjectKey::Record(fra(), Role::policy())).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].object, old);
    }

    #[test]
    fn one_batch_is_one_transaction_and_empty_batches_write_nothing() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        let mut batch = WriteBatch::new();
        for object in
            [w.admission("FRA", 1).obj(), record(&w, "FRA", "policy", 1, 1, "ANSSI"), w.admission("DEU", 1).obj()]
        {
            let applied = apply(&mut dir, object);
            batch.record_applied(&applied, &dir, T0);
        }
        assert_eq!(batch.len(), 6);
        store.write(batch).unwrap();
        store.write(WriteBatch::new()).unwrap();
        assert_eq!(store.write_transactions(), 1);
        drop(store);
        assert_eq!(entries(&Store::open(tmp.path()).unwrap().load_directory().unwrap()), entries(&dir));
    }

    // ----- Opening what is not a good store -----

    fn open_err(dir: &Path) -> StoreError {
        let err = Store::open(dir).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        err
    }

    #[test]
    fn missing_store_says_to_run_init() {
        let tmp = tempfile::tempdir().unwrap();
        let err = open_err(&tmp.path().join("nowhere"));
        assert!(matches!(err, StoreError::NotInitialized { .. }), "{err}");
        assert!(err.to_string().contains("hotline init"), "{err}");
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::NotInitialized { .. }), "{err}");
    }

    #[test]
    fn garbage_files_are_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DB_FILE);
        let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for content in [&b""[..], b"hello", b"SQLite format 3\0", &garbage[..]] {
            fs::write(&path, content).unwrap();
            let err = open_err(tmp.path());
            assert!(matches!(err, StoreError::Corrupt { .. }), "{} bytes: {err}", content.len());
        }
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert!(matches!(open_err(tmp.path()), StoreError::Corrupt { .. }));
    }

    #[test]
    fn other_redb_databases_are_foreign() {
        const OTHER: TableDefinition<u64, u64> = TableDefinition::new("other");
        const META_OTHER_TYPES: TableDefinition<u64, u64> = TableDefinition::new("meta");
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DB_FILE);

        let write = |f: &dyn Fn(&redb::WriteTransaction)| {
            let _ = fs::remove_file(&path);
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            f(&txn);
            txn.commit().unwrap();
        };
        write(&|txn| {
            txn.open_table(OTHER).unwrap().insert(1, 2).unwrap();
        });
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

        write(&|txn| {
            txn.open_table(META_OTHER_TYPES).unwrap().insert(1, 2).unwrap();
        });
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

        write(&|txn| {
            txn.open_table(META).unwrap().insert(meta::MAGIC, b"someone-else".as_slice()).unwrap();
        });
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

        // A redb file with no table at all.
        let _ = fs::remove_file(&path);
        drop(Database::create(&path).unwrap());
        assert!(matches!(open_err(tmp.path()), StoreError::Foreign { .. }));
    }

    fn set_meta(data: &Path, key: &str, value: &[u8]) {
        let db = Database::open(data.join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(key, value).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::create(tmp.path(), &w.charter, fra()).unwrap());
        set_meta(tmp.path(), meta::SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes());
        let err = open_err(tmp.path());
        assert!(
            matches!(err, StoreError::UnsupportedSchema { found, supported: SCHEMA_VERSION, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade hotline"), "{err}");
    }

    /// A store written by schema version 1, whose node revocation slot and
    /// history rows were keyed by the node alone, opens as version 2 with
    /// the same directory and history, keyed by state and node.
    #[test]
    fn a_version_1_store_is_upgraded_in_place() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let node = w.node_id("FRA", 0);
        let new_key = ObjectKey::NodeRevocation(fra(), node);
        let expected = {
            let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
            let mut dir = directory(&w);
            let objects = vec![
                w.admission("FRA", 1).obj(),
                w.record("FRA", "technical", 1, 1).obj(),
                w.revoke_node("FRA", 1, 0).obj(),
            ];
            apply_all(&store, &mut dir, objects);
            entries(&dir)
        };
        // Rewrite the revocation's rows as version 1 wrote them.
        {
            let db = Database::open(tmp.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let v1_key = crate::migrate::v1_node_revocation_key(&node);
                let mut slots = txn.open_table(SLOTS).unwrap();
                let row = slots.remove(new_key.to_bytes().as_slice()).unwrap().unwrap().value().to_vec();
                slots.insert(v1_key.as_slice(), row.as_slice()).unwrap();
                let mut history = txn.open_table(HISTORY).unwrap();
                let prefix = new_key.to_bytes();
                let rows: Vec<(Vec<u8>, Vec<u8>)> = history
                    .range::<&[u8]>(prefix.as_slice()..)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .collect();
                assert_eq!(rows.len(), 1);
                for (k, v) in rows {
                    history.remove(k.as_slice()).unwrap();
                    let mut old = v1_key.clone();
                    old.extend_from_slice(&k[prefix.len()..]);
                    history.insert(old.as_slice(), v.as_slice()).unwrap();
                }
                txn.open_table(META).unwrap().insert(meta::SCHEMA, 1u32.to_be_bytes().as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(entries(&store.load_directory().unwrap()), expected);
        assert_eq!(store.history(&new_key).unwrap().len(), 1);
        drop(store);
        let db = Database::open(tmp.path().join(DB_FILE)).unwrap();
        let txn = db.begin_read().unwrap();
        let schema = txn.open_table(META).unwrap().get(meta::SCHEMA).unwrap().unwrap().value().to_vec();
        assert_eq!(schema, SCHEMA_VERSION.to_be_bytes());
    }

    /// Version 1 kept every state's revocation of a node in one slot: the
    /// winner, the rest as evidence. DEU, which listed FRA's node in a
    /// record of its own, won that slot with a lower hash; FRA's genuine
    /// revocation was evidence. The upgrade gives each its own slot.
    #[test]
    fn a_shared_version_1_slot_is_split_by_state() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let node = w.node_id("FRA", 0);
        let deu: StateCode = "DEU".parse().unwrap();
        let fra_rev = w.revoke_node("FRA", 1, 0).obj();
        let fra_hash = fra_rev.hash(&w.net);
        let deu_rev = (0..64)
            .map(|i| w.revoke_node_id("DEU", 1, node, &format!("attempt {i}")).obj())
            .find(|r| r.hash(&w.net) < fra_hash)
            .expect("one of 64 hashes is lower");
        let expected = {
            let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
            let mut dir = directory(&w);
            let mut body = w.record_body("DEU", "technical", 1, 1);
            body.nodes.push(node);
            let objects = vec![
                w.admission("FRA", 1).obj(),
                w.record("FRA", "technical", 1, 1).obj(),
                w.admission("DEU", 1).obj(),
                SignedRecord::sign(body, &w.state_key("DEU", 1), &w.net).obj(),
                fra_rev.clone(),
                deu_rev.clone(),
            ];
            apply_all(&store, &mut dir, objects);
            entries(&dir)
        };
        {
            let db = Database::open(tmp.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut slots = txn.open_table(SLOTS).unwrap();
                for key in [ObjectKey::NodeRevocation(fra(), node), ObjectKey::NodeRevocation(deu, node)] {
                    slots.remove(key.to_bytes().as_slice()).unwrap();
                }
                let shared = SlotRow { winner: deu_rev.to_bytes(), evidence: vec![fra_rev.to_bytes()] }.encode();
                let v1_key = crate::migrate::v1_node_revocation_key(&node);
                slots.insert(v1_key.as_slice(), shared.as_slice()).unwrap();
                txn.open_table(META).unwrap().insert(meta::SCHEMA, 1u32.to_be_bytes().as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        let dir = store.load_directory().unwrap();
        assert_eq!(entries(&dir), expected);
        let fra_slot = dir.entry(&ObjectKey::NodeRevocation(fra(), node)).unwrap();
        assert_eq!(fra_slot.hash, fra_hash, "FRA's own revocation wins its own slot again");
        assert!(!dir.is_member_of(fra(), &node, T0));
    }

    #[test]
    fn inconsistent_meta_data_is_corrupt() {
        let w = World::default();
        let cases: [(&str, &[u8]); 5] = [
            (meta::SCHEMA, b"\x01"),
            (meta::STATE, b"XYZ"),
            (meta::NETWORK, &[0u8; 32]),
            (meta::CHARTER, b"\x01\x02"),
            (meta::SCHEMA, &0u32.to_be_bytes()),
        ];
        for (key, value) in cases {
            let tmp = tempfile::tempdir().unwrap();
            drop(Store::create(tmp.path(), &w.charter, fra()).unwrap());
            set_meta(tmp.path(), key, value);
            let err = open_err(tmp.path());
            assert!(matches!(err, StoreError::Corrupt { .. }), "{key}: {err}");
        }
    }

    #[test]
    fn damaged_rows_are_corrupt_not_panics() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        apply_all(&store, &mut dir, vec![w.admission("FRA", 1).obj()]);
        drop(store);
        let key = ObjectKey::Admission(fra()).to_bytes();
        {
            let db = Database::open(tmp.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(SLOTS).unwrap().insert(key.as_slice(), b"\x01\xff\xff".as_slice()).unwrap();
            let mut history = txn.open_table(HISTORY).unwrap();
            let first = history.iter().unwrap().next().unwrap().unwrap().0.value().to_vec();
            history.insert(first.as_slice(), b"\x01\x00".as_slice()).unwrap();
            drop(history);
            txn.commit().unwrap();
        }
        let store = Store::open(tmp.path()).unwrap();
        let err = store.load_directory().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("adm/FRA"), "{err}");
        let err = store.history(&ObjectKey::Admission(fra())).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn a_damaged_file_is_corrupt_not_a_panic() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let mut dir = directory(&w);
        apply_all(&store, &mut dir, vec![w.admission("FRA", 1).obj(), record(&w, "FRA", "policy", 1, 1, "ANSSI")]);
        drop(store);
        // Scribble over every copy of the charter in the file: whichever
        // commit redb falls back to, the page it needs is damaged.
        let path = tmp.path().join(DB_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let needle = &w.charter.to_bytes()[..64];
        let mut hits = 0;
        let mut i = 0;
        while i + needle.len() <= bytes.len() {
            if &bytes[i..i + needle.len()] == needle {
                bytes[i + 8..i + 40].fill(0x5a);
                hits += 1;
            }
            i += 1;
        }
        assert!(hits > 0);
        fs::write(&path, &bytes).unwrap();
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn a_store_in_use_is_locked() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let _store = Store::create(tmp.path(), &w.charter, fra()).unwrap();
        let err = open_err(tmp.path());
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }
}
