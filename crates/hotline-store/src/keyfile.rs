//! Secret key files.
//!
//! A key file is three lines of text:
//!
//! ```text
//! hotline-ed25519-secret-v1
//! <the 32-byte Ed25519 seed, 64 hex digits>
//! # public <the public key, 64 hex digits>
//! ```
//!
//! The public line lets an operator see which key a file holds without
//! exposing the secret, and lets [`read`] catch a file whose lines were
//! mixed up. Files are created owner-only (mode 0600) at the moment they
//! are created, so there is no window in which another user could open
//! them, and reading refuses a file that group or others may access, as ssh
//! does. Seeds pass only through buffers that are wiped after use, and no
//! error message or `Debug` output ever contains secret material.

use crate::error::StoreError;
use crate::fsutil::{create_private_dir, parent_dir, sync_dir};
use hotline_core::{PublicKey, SecretKey};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The first line of every key file.
pub const HEADER: &str = "hotline-ed25519-secret-v1";

/// The prefix of the third line.
const PUBLIC_PREFIX: &str = "# public ";

/// A well-formed key file is about 170 bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: usize = 1024;

/// Writes `key` to a new file at `path`, mode 0600, creating the parent
/// directory (mode 0700) if it is missing, and fsyncs the file and its
/// directory. Refuses to replace an existing file: overwriting a key by
/// mistake would change a node's identity.
pub fn write_new(path: &Path, key: &SecretKey) -> Result<(), StoreError> {
    let dir = parent_dir(path);
    create_private_dir(dir)?;
    let content = render(key);
    let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(StoreError::KeyFileExists { path: path.to_path_buf() });
        }
        Err(e) => return Err(StoreError::io("create key file", path, e)),
    };
    if let Err(e) = file.write_all(content.as_bytes()).and_then(|()| file.sync_all()) {
        drop(file);
        // A partial key file would block the next attempt and hold nothing usable.
        let _ = fs::remove_file(path);
        return Err(StoreError::io("write key file", path, e));
    }
    sync_dir(dir)
}

/// The file's text, built in a buffer that is wiped on drop and sized so it
/// never reallocates (a reallocation would leave a copy of the seed behind).
fn render(key: &SecretKey) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(256));
    out.push_str(HEADER);
    out.push('\n');
    push_hex(&mut out, &*key.to_seed());
    out.push('\n');
    out.push_str(PUBLIC_PREFIX);
    push_hex(&mut out, &key.public().0);
    out.push('\n');
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
}

/// Reads the key file at `path`.
///
/// Refuses a file that group or others may read or write (fix it with
/// `chmod 600`), one that is not a key file, and one whose public line does
/// not match its secret.
pub fn read(path: &Path) -> Result<SecretKey, StoreError> {
    let malformed = |reason| StoreError::KeyFileMalformed { path: path.to_path_buf(), reason };
    let mut file = File::open(path).map_err(|e| StoreError::io("open key file", path, e))?;
    // The checks use the opened file's metadata, so the file checked is the file read.
    let meta = file.metadata().map_err(|e| StoreError::io("read key file", path, e))?;
    if !meta.is_file() {
        return Err(malformed("it is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyFilePermissions { path: path.to_path_buf(), mode });
    }
    let mut buf = Zeroizing::new([0u8; MAX_KEY_FILE_BYTES]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Err(malformed("it is too large to be a key file"));
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StoreError::io("read key file", path, e)),
        }
    }
    parse(&buf[..len]).map_err(malformed)
}

/// Parses key file content; the error is a reason that quotes nothing.
fn parse(content: &[u8]) -> Result<SecretKey, &'static str> {
    let text = std::str::from_utf8(content).map_err(|_| "it is not text")?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    if lines.next() != Some(HEADER) {
        return Err("the first line is not `hotline-ed25519-secret-v1`");
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    let seed_line = lines.next().ok_or("the secret line is missing")?;
    hex::decode_to_slice(seed_line.trim(), &mut *seed).map_err(|_| "the second line is not 64 hex digits")?;
    let public_hex = lines
        .next()
        .and_then(|l| l.strip_prefix(PUBLIC_PREFIX))
        .ok_or("the third line is not `# public <64 hex digits>`")?;
    let mut public = [0u8; 32];
    hex::decode_to_slice(public_hex.trim(), &mut public).map_err(|_| "the public key line is not 64 hex digits")?;
    if lines.any(|l| !l.trim().is_empty()) {
        return Err("it has text after the public key line");
    }
    let key = SecretKey::from_seed(&seed);
    if key.public() != PublicKey(public) {
        return Err("the public key line does not match the secret key");
    }
    Ok(key)
}

/// A fresh key from the operating system's random number generator.
pub fn generate() -> Result<SecretKey, StoreError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(SecretKey::from_seed(&seed))
}

/// The secret keys of a node: the node key, which is the node's libp2p
/// identity and signs its prekeys and envelopes, and the state key, which
/// signs the state's contact records. A node added to a state with
/// `hotline node add` has no state key: another node of its state (or an
/// offline machine) signs for the state. `Debug` shows only public keys.
#[derive(Debug)]
pub struct NodeKeys {
    /// The state key (`DATA/keys/state.key`), if this node holds it.
    pub state: Option<SecretKey>,
    /// The node key (`DATA/keys/node.key`).
    pub node: SecretKey,
}

impl NodeKeys {
    /// Where the state key of the node in `data_dir` lives.
    pub fn state_key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("state.key")
    }

    /// The file that says a node holds no state key on purpose (`hotline
    /// node add` writes it), so that a state key lost by accident is not
    /// taken for one never held.
    pub fn no_state_key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("no-state-key")
    }

    /// Where the node key of the node in `data_dir` lives.
    pub fn node_key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("node.key")
    }

    /// Generates both keys and writes them under `data_dir/keys/`. Refuses,
    /// writing nothing, if either file already exists.
    pub fn generate_into(data_dir: &Path) -> Result<NodeKeys, StoreError> {
        let (state_path, node_path) = (Self::state_key_path(data_dir), Self::node_key_path(data_dir));
        for path in [&state_path, &node_path] {
            if path.symlink_metadata().is_ok() {
                return Err(StoreError::KeyFileExists { path: path.clone() });
            }
        }
        let (state, node) = (generate()?, generate()?);
        write_new(&state_path, &state)?;
        if let Err(e) = write_new(&node_path, &node) {
            // Half a key set would make the next attempt refuse; this key is
            // brand new and nobody knows it yet, so removing it loses nothing.
            let _ = fs::remove_file(&state_path);
            return Err(e);
        }
        Ok(NodeKeys { state: Some(state), node })
    }

    /// Generates a node key only, for a node added to a state whose state
    /// key is kept elsewhere. Refuses if either key file already exists.
    pub fn generate_node_into(data_dir: &Path) -> Result<NodeKeys, StoreError> {
        let (state_path, node_path) = (Self::state_key_path(data_dir), Self::node_key_path(data_dir));
        for path in [&state_path, &node_path] {
            if path.symlink_metadata().is_ok() {
                return Err(StoreError::KeyFileExists { path: path.clone() });
            }
        }
        let node = generate()?;
        write_new(&node_path, &node)?;
        let marker = Self::no_state_key_path(data_dir);
        let text = "This node was added with `hotline node add`: it holds no state key on purpose.\n";
        if let Err(e) = fs::write(&marker, text) {
            let _ = fs::remove_file(&node_path);
            return Err(StoreError::io("write", &marker, e));
        }
        Ok(NodeKeys { state: None, node })
    }

    /// Reads the keys of the node in `data_dir`. A missing state key file
    /// is a node without one; any other trouble with it is an error, never
    /// taken for its absence.
    pub fn load(data_dir: &Path) -> Result<NodeKeys, StoreError> {
        let state_path = Self::state_key_path(data_dir);
        let state = match state_path.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if Self::no_state_key_path(data_dir).symlink_metadata().is_err() {
                    return Err(StoreError::KeyFileMissing { path: state_path });
                }
                None
            }
            _ => Some(read(&state_path)?),
        };
        Ok(NodeKeys { state, node: read(&Self::node_key_path(data_dir))? })
    }

    /// The state key, or why this node cannot sign for its state.
    pub fn state_key(&self, data_dir: &Path) -> Result<&SecretKey, StoreError> {
        self.state.as_ref().ok_or_else(|| StoreError::NoStateKey { path: Self::state_key_path(data_dir) })
    }

    /// Where the next state key waits during a rotation (`hotline state
    /// rotate-key`), until the stewards' admission naming it arrives.
    pub fn next_state_key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("state.key.next")
    }

    /// Makes the next state key of a rotation and writes it beside the
    /// state key. Refuses if one is already waiting (a rotation under way)
    /// or if this node holds no state key.
    pub fn prepare_next_state_key(data_dir: &Path) -> Result<SecretKey, StoreError> {
        let current = Self::state_key_path(data_dir);
        if current.symlink_metadata().is_err() {
            return Err(StoreError::NoStateKey { path: current });
        }
        let key = generate()?;
        write_new(&Self::next_state_key_path(data_dir), &key)?;
        Ok(key)
    }

    /// Sets the waiting next state key aside (`state.key.abandoned-SECONDS`)
    /// so that a new rotation can start. It is kept, not deleted: if the
    /// stewards sign its admission after all, it is taken up still.
    pub fn abandon_next_state_key(data_dir: &Path, now: hotline_core::Timestamp) -> Result<PathBuf, StoreError> {
        let next_path = Self::next_state_key_path(data_dir);
        let aside = data_dir.join("keys").join(format!("state.key.abandoned-{}", now.0));
        fs::rename(&next_path, &aside).map_err(|e| StoreError::io("set the next state key aside", &next_path, e))?;
        sync_dir(parent_dir(&aside))?;
        Ok(aside)
    }

    /// Takes up the waiting next state key (or one set aside) if it is
    /// `expected` (the key the state's admission in force names): the
    /// state key becomes `state.key.retired-SECONDS` (kept, never used
    /// again to sign), the next one `state.key`. Returns the key taken up,
    /// or `None` when no waiting key is the one expected.
    pub fn take_up_next_state_key(
        data_dir: &Path,
        expected: &hotline_core::PublicKey,
        now: hotline_core::Timestamp,
    ) -> Result<Option<SecretKey>, StoreError> {
        let keys_dir = data_dir.join("keys");
        let mut waiting = vec![Self::next_state_key_path(data_dir)];
        if let Ok(entries) = fs::read_dir(&keys_dir) {
            waiting.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("state.key.abandoned-")))
                    .map(|e| e.path()),
            );
        }
        let mut found = None;
        for path in waiting {
            if path.symlink_metadata().is_err() {
                continue;
            }
            let key = read(&path)?;
            if key.public() == *expected {
                found = Some((path, key));
                break;
            }
        }
        let Some((next_path, next)) = found else { return Ok(None) };
        swap_in(&next_path, &Self::state_key_path(data_dir), now)?;
        Ok(Some(next))
    }

    /// Where the next node key waits while the node key changes (`hotline
    /// node rotate-key`, `hotline node replace`): a daemon refuses to start
    /// while it is there, since the change is half done.
    pub fn next_node_key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("keys").join("node.key.next")
    }

    /// The next node key: the one waiting from a change that was cut
    /// short (so that running the command again finishes it with the same
    /// key the records may already list), or a new one written beside the
    /// node key. The flag says whether it was waiting.
    pub fn prepare_next_node_key(data_dir: &Path) -> Result<(SecretKey, bool), StoreError> {
        let path = Self::next_node_key_path(data_dir);
        if path.symlink_metadata().is_ok() {
            return Ok((read(&path)?, true));
        }
        // Written beside and renamed into place: a crash leaves a whole
        // next key or none (a half-written one would block the daemon).
        let staging = data_dir.join("keys").join("node.key.next.partial");
        let _ = fs::remove_file(&staging);
        let key = generate()?;
        write_new(&staging, &key)?;
        fs::rename(&staging, &path).map_err(|e| StoreError::io("write", &path, e))?;
        sync_dir(parent_dir(&path))?;
        Ok((key, false))
    }

    /// Takes up the waiting next node key: the node key becomes
    /// `node.key.retired-SECONDS` (kept for the record, never used again),
    /// the next one `node.key`, by a link and one rename as for the state
    /// key. Returns the key taken up.
    pub fn take_up_next_node_key(data_dir: &Path, now: hotline_core::Timestamp) -> Result<SecretKey, StoreError> {
        let next_path = Self::next_node_key_path(data_dir);
        let next = read(&next_path)?;
        swap_in(&next_path, &Self::node_key_path(data_dir), now)?;
        Ok(next)
    }

    /// Sets aside every key of a data directory whose node moved elsewhere
    /// (`hotline node replace`): `keys/` is renamed `keys.moved-SECONDS`,
    /// so that no daemon or command started there by mistake finds a key
    /// (the node key, the state key, a next key) and speaks as the revoked
    /// node or signs for the state. [`NodeKeys::moved_keys`] finds it.
    pub fn set_keys_aside(data_dir: &Path, now: hotline_core::Timestamp) -> Result<PathBuf, StoreError> {
        let keys = data_dir.join("keys");
        let aside = data_dir.join(format!("keys.moved-{}", now.0));
        fs::rename(&keys, &aside).map_err(|e| StoreError::io("set the keys aside", &keys, e))?;
        sync_dir(data_dir)?;
        Ok(aside)
    }

    /// The keys set aside in `data_dir` because its node moved, if any.
    pub fn moved_keys(data_dir: &Path) -> Option<PathBuf> {
        fs::read_dir(data_dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("keys.moved-")))
    }
}

/// Puts the key file `next` in the place of `current`, keeping `current`
/// as `<name>.retired-SECONDS`. A link keeps the old key (retired) and
/// `current` in place, and one rename then replaces `current` atomically:
/// a crash at any point leaves a usable key, the old or the new, and
/// running the change again finishes it.
fn swap_in(next: &Path, current: &Path, now: hotline_core::Timestamp) -> Result<(), StoreError> {
    let keys_dir = parent_dir(current);
    if current.symlink_metadata().is_ok() {
        let name = current.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let retired = keys_dir.join(format!("{name}.retired-{}", now.0));
        match fs::hard_link(current, &retired) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io("retire the key", current, e)),
        }
        sync_dir(keys_dir)?;
    }
    fs::rename(next, current).map_err(|e| StoreError::io("take up the next key", next, e))?;
    sync_dir(keys_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn key_text(key: &SecretKey) -> String {
        String::from(render(key).as_str())
    }

    #[test]
    fn a_rotation_takes_up_the_next_state_key_only_when_its_admission_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let keys = NodeKeys::generate_into(data).unwrap();
        let old = keys.state.as_ref().unwrap().public();
        let next = NodeKeys::prepare_next_state_key(data).unwrap();
        assert!(matches!(NodeKeys::prepare_next_state_key(data), Err(StoreError::KeyFileExists { .. })));
        let t = hotline_core::Timestamp(1_800_000_000);
        // Another key in force: nothing changes.
        assert!(NodeKeys::take_up_next_state_key(data, &old, t).unwrap().is_none());
        assert_eq!(NodeKeys::load(data).unwrap().state.unwrap().public(), old);
        let taken = NodeKeys::take_up_next_state_key(data, &next.public(), t).unwrap().unwrap();
        assert_eq!(taken.public(), next.public());
        assert_eq!(NodeKeys::load(data).unwrap().state.unwrap().public(), next.public());
        let retired = read(&data.join("keys").join("state.key.retired-1800000000")).unwrap();
        assert_eq!(retired.public(), old);
        assert!(NodeKeys::next_state_key_path(data).symlink_metadata().is_err());
        // A rotation given up, whose admission the stewards sign after all:
        // the key set aside is taken up still.
        let first = NodeKeys::prepare_next_state_key(data).unwrap();
        NodeKeys::abandon_next_state_key(data, t).unwrap();
        let second = NodeKeys::prepare_next_state_key(data).unwrap();
        assert_ne!(first.public(), second.public());
        let later = hotline_core::Timestamp(t.0 + 1);
        assert_eq!(
            NodeKeys::take_up_next_state_key(data, &first.public(), later).unwrap().unwrap().public(),
            first.public()
        );
        assert_eq!(NodeKeys::load(data).unwrap().state.unwrap().public(), first.public());
        // A node without a state key cannot rotate one.
        let added = tempfile::tempdir().unwrap();
        NodeKeys::generate_node_into(added.path()).unwrap();
        assert!(matches!(NodeKeys::prepare_next_state_key(added.path()), Err(StoreError::NoStateKey { .. })));
    }

    #[test]
    fn a_node_key_change_cut_short_finishes_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let old = NodeKeys::generate_into(data).unwrap().node.public();
        let (next, waiting) = NodeKeys::prepare_next_node_key(data).unwrap();
        assert!(!waiting);
        // Run again (the first run stopped here): the same key.
        let (again, waiting) = NodeKeys::prepare_next_node_key(data).unwrap();
        assert!(waiting);
        assert_eq!(again.public(), next.public());
        let t = hotline_core::Timestamp(1_800_000_000);
        assert_eq!(NodeKeys::take_up_next_node_key(data, t).unwrap().public(), next.public());
        assert_eq!(NodeKeys::load(data).unwrap().node.public(), next.public());
        assert_eq!(read(&data.join("keys").join("node.key.retired-1800000000")).unwrap().public(), old);
        assert!(NodeKeys::next_node_key_path(data).symlink_metadata().is_err());
        // A moved node's directory keeps no usable key where one is looked for.
        let aside = NodeKeys::set_keys_aside(data, hotline_core::Timestamp(t.0 + 1)).unwrap();
        assert_eq!(read(&aside.join("node.key")).unwrap().public(), next.public());
        assert!(NodeKeys::load(data).is_err());
        assert_eq!(NodeKeys::moved_keys(data), Some(aside));
    }

    #[test]
    fn written_file_is_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("k.key");
        let key = SecretKey::from_seed(&[5; 32]);
        write_new(&path, &key).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[1], hex::encode([5u8; 32]));
        assert_eq!(lines[2], format!("# public {}", key.public()));
        assert_eq!(read(&path).unwrap().public(), key.public());
    }

    #[test]
    fn an_added_node_has_a_node_key_only_and_a_damaged_state_key_is_no_absent_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::generate_node_into(dir.path()).unwrap();
        assert!(keys.state.is_none());
        let loaded = NodeKeys::load(dir.path()).unwrap();
        assert_eq!(loaded.node.public(), keys.node.public());
        assert!(loaded.state.is_none());
        let err = loaded.state_key(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NoStateKey { .. }), "{err}");
        assert!(err.to_string().contains("hotline node add"), "{err}");
        // A second key set is refused, whichever kind.
        assert!(matches!(NodeKeys::generate_node_into(dir.path()), Err(StoreError::KeyFileExists { .. })));
        assert!(matches!(NodeKeys::generate_into(dir.path()), Err(StoreError::KeyFileExists { .. })));
        // Without the file that says so, a missing state key is an error.
        fs::remove_file(NodeKeys::no_state_key_path(dir.path())).unwrap();
        assert!(matches!(NodeKeys::load(dir.path()), Err(StoreError::KeyFileMissing { .. })));
        // A state key file that is there but unreadable is an error, never
        // taken for a node without one.
        let state_path = NodeKeys::state_key_path(dir.path());
        fs::write(&state_path, "not a key").unwrap();
        fs::set_permissions(&state_path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(NodeKeys::load(dir.path()).is_err());
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_new(&path, &SecretKey::from_seed(&[1; 32])).unwrap();
        let err = write_new(&path, &SecretKey::from_seed(&[2; 32])).unwrap_err();
        assert!(matches!(err, StoreError::KeyFileExists { .. }), "{err}");
        assert_eq!(read(&path).unwrap().public(), SecretKey::from_seed(&[1; 32]).public());
    }

    #[test]
    fn group_or_world_access_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_new(&path, &SecretKey::from_seed(&[3; 32])).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).unwrap_err();
            assert!(matches!(err, StoreError::KeyFilePermissions { mode: m, .. } if m == mode), "{err}");
            let msg = err.to_string();
            assert!(msg.contains("chmod 600") && msg.contains(&path.display().to_string()), "{msg}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read(&path).is_ok());
    }

    #[test]
    fn malformed_files_are_refused_without_quoting_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed(&[4; 32]);
        let good = key_text(&key);
        let seed_hex = hex::encode([4u8; 32]);
        let other_public = SecretKey::from_seed(&[6; 32]).public().to_string();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "first line"),
            (good.replace(HEADER, "hotline-ed25519-secret-v2"), "first line"),
            (format!("{HEADER}\n"), "secret line is missing"),
            (good.replace(&seed_hex, &seed_hex[..62]), "second line"),
            (good.replace(&seed_hex, &seed_hex.replace('4', "g")), "second line"),
            (good.replace("# public ", "public "), "third line"),
            (good.replace(&key.public().to_string(), &other_public), "does not match"),
            (format!("{good}extra\n"), "after the public key line"),
            ("x".repeat(2000), "too large"),
        ];
        for (i, (content, expected)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("bad{i}.key"));
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = read(&path).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, StoreError::KeyFileMalformed { .. }), "case {i}: {msg}");
            assert!(msg.contains(expected), "case {i}: {msg}");
            assert!(!msg.contains(&seed_hex[..16]), "case {i} leaks the seed: {msg}");
        }
        // Windows line endings and a trailing blank line are fine.
        let path = dir.path().join("crlf.key");
        fs::write(&path, format!("{}\n", good.replace('\n', "\r\n"))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path).unwrap().public(), key.public());
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("absent.key"), "{msg}");
    }

    #[test]
    fn node_keys_generate_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let keys = NodeKeys::generate_into(&data).unwrap();
        assert_ne!(keys.state.as_ref().unwrap().public(), keys.node.public());
        for path in [NodeKeys::state_key_path(&data), NodeKeys::node_key_path(&data)] {
            assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        }
        let loaded = NodeKeys::load(&data).unwrap();
        assert_eq!(loaded.state.as_ref().unwrap().public(), keys.state.as_ref().unwrap().public());
        assert_eq!(loaded.node.public(), keys.node.public());
        let shown = format!("{loaded:?}");
        assert!(!shown.contains(&hex::encode(*keys.node.to_seed())), "{shown}");
        assert!(matches!(NodeKeys::generate_into(&data), Err(StoreError::KeyFileExists { .. })));
        // Refusing must not have touched the existing keys.
        assert_eq!(NodeKeys::load(&data).unwrap().node.public(), keys.node.public());
    }
}
