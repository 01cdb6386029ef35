//! Small file-system helpers shared by the store, key files and config.

use crate::error::StoreError;
use std::fs::{DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700, so that nothing
/// Hotline keeps (messages, keys) is ever listable by other users. An
/// existing directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| StoreError::io("create directory", dir, e))
}

/// Fsyncs a directory, so that a file created or renamed in it survives a
/// crash (the file's own fsync does not cover its directory entry).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io("sync directory", dir, e))
}

/// The directory holding `path`, or `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
