//! File helpers for the ceremony: bounded reads, files that are never
//! silently overwritten, atomic replacement, and the admission and export
//! file formats.

use anyhow::{Context, Result, bail};
use hotline_core::encoding::{self, DecodeError};
use hotline_core::{DirectoryObject, NetworkId, SignedCharter};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Largest file the ceremony commands read (an export of a large directory).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file, refusing anything over [`MAX_FILE_BYTES`] before reading it.
pub(super) fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        bail!("{} is {} bytes, more than the {} a Hotline file may be", path.display(), meta.len(), MAX_FILE_BYTES);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a new file; refuses to replace an existing one.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Replaces a file atomically: write a temporary file beside it, fsync, rename.
pub(super) fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-hotline");
    {
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("cannot write beside {}", path.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Reads and decodes a charter file.
pub(super) fn read_charter(path: &Path) -> Result<SignedCharter> {
    let bytes = read_bounded(path)?;
    SignedCharter::from_bytes(&bytes).with_context(|| format!("{} is not a valid charter file", path.display()))
}

/// An object passed between stewards or to a node during the ceremony,
/// together with the charter it belongs to, so a steward can sign it without
/// a node and a node can tell an object of another network.
#[derive(Serialize, Deserialize)]
pub(super) struct CeremonyFile {
    magic: String,
    /// The charter of the network.
    pub charter: SignedCharter,
    /// The object (an admission, for now).
    pub object: DirectoryObject,
}

const CEREMONY_MAGIC: &str = "hotline-ceremony-v1";
const EXPORT_MAGIC: &str = "hotline-export-v1";

impl CeremonyFile {
    /// A file for `object` under `charter`.
    pub(super) fn new(charter: SignedCharter, object: DirectoryObject) -> CeremonyFile {
        CeremonyFile { magic: CEREMONY_MAGIC.into(), charter, object }
    }

    /// Reads a ceremony file.
    pub(super) fn read(path: &Path) -> Result<CeremonyFile> {
        let bytes = read_bounded(path)?;
        let file: CeremonyFile = decode_file(&bytes, CEREMONY_MAGIC, "admission")
            .with_context(|| format!("{} is not a Hotline admission file", path.display()))?;
        Ok(file)
    }

    /// The file bytes.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }
}

/// A directory export: every object a node holds, for carrying to another
/// node by hand (an air-gapped first contact, or a backup).
#[derive(Serialize, Deserialize)]
pub(super) struct ExportFile {
    magic: String,
    /// The network the objects belong to.
    pub network: NetworkId,
    /// The objects, admissions first.
    pub objects: Vec<DirectoryObject>,
}

impl ExportFile {
    /// An export of `objects`.
    pub(super) fn new(network: NetworkId, objects: Vec<DirectoryObject>) -> ExportFile {
        ExportFile { magic: EXPORT_MAGIC.into(), network, objects }
    }

    /// Reads an export file.
    pub(super) fn read(path: &Path) -> Result<ExportFile> {
        let bytes = read_bounded(path)?;
        decode_file(&bytes, EXPORT_MAGIC, "export")
            .with_context(|| format!("{} is not a Hotline directory export", path.display()))
    }

    /// The file bytes.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }
}

trait Magic {
    fn magic(&self) -> &str;
}
impl Magic for CeremonyFile {
    fn magic(&self) -> &str {
        &self.magic
    }
}
impl Magic for ExportFile {
    fn magic(&self) -> &str {
        &self.magic
    }
}

fn decode_file<T: Serialize + serde::de::DeserializeOwned + Magic>(
    bytes: &[u8],
    magic: &str,
    what: &'static str,
) -> Result<T, DecodeError> {
    let value: T = encoding::decode(what, bytes, MAX_FILE_BYTES as usize)?;
    if value.magic() != magic {
        return Err(DecodeError::Invalid { what, detail: format!("unknown file kind '{}'", value.magic()) });
    }
    Ok(value)
}
