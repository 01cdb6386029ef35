//! `hotline backup`, `hotline backup verify` and `hotline restore`: a
//! node's store, keys and configuration in one encrypted file, and back.
//!
//! The passphrase comes from `--passphrase-file` or the environment
//! variable `HOTLINE_BACKUP_PASSPHRASE`, never from the command line
//! (where `ps` and the shell history would show it).

use super::daemon::{Source, runtime, source};
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hotline_node::api_types::{BackupRequest, BackupView, MIN_PASSPHRASE_BYTES};
use hotline_node::endpoints::MakeBackup;
use hotline_store::backup::{restore_backup, verify_backup, write_backup};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable a passphrase may come from.
const PASSPHRASE_ENV: &str = "HOTLINE_BACKUP_PASSPHRASE";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// The backup file to write (it must not exist). The daemon, if
    /// running, writes it: give a path it can write to.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Read a backup through and check every part of it; writes nothing.
    Verify {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
    /// Move an existing data directory aside (to DIR.before-restore-TIME)
    /// and restore in its place. Its daemon must be stopped.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

#[derive(Args, Debug)]
struct PassphraseArgs {
    /// A file whose first line is the passphrase (else the environment
    /// variable HOTLINE_BACKUP_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    fn read(&self) -> Result<Zeroizing<String>> {
        let passphrase = match &self.passphrase_file {
            Some(path) => {
                let text = Zeroizing::new(
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
                );
                Zeroizing::new(text.lines().next().unwrap_or_default().to_string())
            }
            None => match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => Zeroizing::new(p),
                Err(_) => bail!("give the passphrase with --passphrase-file FILE or in ${PASSPHRASE_ENV}"),
            },
        };
        if passphrase.len() < MIN_PASSPHRASE_BYTES {
            bail!("the passphrase is {} bytes; a backup's must be at least {MIN_PASSPHRASE_BYTES}", passphrase.len());
        }
        Ok(passphrase)
    }
}

pub(super) fn backup(args: BackupArgs, data_dir: &Path, out: &Out) -> Result<()> {
    if let Some(BackupCommand::Verify { file, passphrase }) = args.command {
        let passphrase = passphrase.read()?;
        let summary = verify_backup(&file, passphrase.as_bytes())?;
        let view = BackupView::of(file, summary);
        return out.emit(&view, || format!("Backup verified: every chunk and record is intact.\n{}", describe(&view)));
    }
    let Some(path) = args.out else { bail!("give --out FILE (or `hotline backup verify FILE`)") };
    let passphrase = args.passphrase.read()?;
    // The daemon resolves paths from its own working directory.
    let path = std::path::absolute(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let view = match source(data_dir)? {
        Source::Daemon(client) => runtime()?.block_on(async {
            let request = BackupRequest { out: path, passphrase: passphrase.to_string() };
            anyhow::Ok(client.call(MakeBackup(request)).await?)
        })?,
        Source::Offline(open) => {
            let params = hotline_crypto::backup::KdfParams::DEFAULT;
            let summary = write_backup(&open.store, &open.data_dir, &path, passphrase.as_bytes(), params, now())?;
            BackupView::of(path, summary)
        }
    };
    out.emit(&view, || {
        format!(
            "Backup written.\n{}\nIt holds the node's secret keys: keep it as you keep them, and the passphrase apart from it.",
            describe(&view)
        )
    })
}

pub(super) fn restore(args: RestoreArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let passphrase = args.passphrase.read()?;
    let occupied = match std::fs::read_dir(data_dir) {
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        Ok(mut entries) => entries.next().is_some(),
    };
    let mut moved = None;
    if occupied {
        if !args.force {
            bail!(
                "{} is not empty: restore into a new directory (--data-dir), or give --force to move it aside",
                data_dir.display()
            );
        }
        // A daemon holds its store open: opening it says whether one runs,
        // however it answers on its socket.
        if let Err(hotline_store::StoreError::Locked { .. }) = hotline_store::Store::open(data_dir) {
            bail!("a daemon runs on {}: stop it before restoring over it", data_dir.display());
        }
        let aside = PathBuf::from(format!("{}.before-restore-{}", data_dir.display(), now().0));
        std::fs::rename(data_dir, &aside).with_context(|| format!("cannot move {} aside", data_dir.display()))?;
        moved = Some(aside);
    }
    // All or nothing: on failure the directory moved aside comes back.
    let summary = match restore_backup(&args.file, passphrase.as_bytes(), data_dir) {
        Ok(summary) => summary,
        Err(e) => {
            if let Some(aside) = &moved
                && let Err(back) = std::fs::rename(aside, data_dir)
            {
                bail!("{e}; and the directory moved aside could not be put back ({back}): it is {}", aside.display());
            }
            return Err(e.into());
        }
    };
    // The directory is restored: a failure from here on leaves it so, and
    // says what is missing.
    let rolled = roll_prekeys_forward(data_dir).with_context(|| {
        format!(
            "{} is restored, but its prekey ids could not be moved past those published since the backup; \
             run the restore again before starting the daemon",
            data_dir.display()
        )
    })?;
    let view = BackupView::of(args.file, summary);
    let json = serde_json::json!({
        "restored": &view, "data_dir": data_dir, "moved_aside": moved, "next_prekey_id": rolled
    });
    out.emit(&json, || {
        let mut text = format!("Restored into {}.\n{}", data_dir.display(), describe(&view));
        if let Some(aside) = &moved {
            text.push_str(&format!("\nThe directory that was there is now {}.", aside.display()));
        }
        text.push_str(
            "\nMessages received after the backup was taken are not in it: start the daemon, and the nodes that \
             sent them deliver them again (each holds this node's numbered receipts and notices the gap). \
             `hotline watch` on their side shows `redelivering`.",
        );
        text
    })
}

/// How far a restored ring's prekey ids jump: further than any ring makes
/// between a backup and its restore (one prekey an hour, the fastest
/// policy, for 119 years), and small enough for 4,000 restores in a u32.
const RESTORE_PREKEY_ID_GAP: u32 = 1 << 20;

/// Moves the restored prekey ring's next id past every id the node may
/// have made since the backup, so no id is made twice with two keys
/// (prekeys made since are lost; senders sealing to them are refused and
/// seal again to the bundle the node publishes next). Returns the next id.
fn roll_prekeys_forward(data_dir: &Path) -> Result<Option<u32>> {
    let store = hotline_store::Store::open(data_dir)?;
    let Some(bytes) = store.secret(hotline_store::PREKEY_RING)? else { return Ok(None) };
    let mut ring = hotline_crypto::PrekeyRing::from_bytes_secret(&bytes)?;
    ring.roll_forward(ring.next_id().saturating_add(RESTORE_PREKEY_ID_GAP - 1));
    let mut batch = hotline_store::WriteBatch::new();
    batch.put_secret(hotline_store::PREKEY_RING, &ring.to_bytes_secret());
    store.write(batch)?;
    Ok(Some(ring.next_id()))
}

fn describe(view: &BackupView) -> String {
    format!(
        "File:     {} ({} bytes)\nNode of:  {}, network {}\nTaken at: {} UTC\nHolds:    {} rows of the store; {}",
        view.file.display(),
        view.bytes,
        view.state,
        view.network,
        super::note::utc(view.taken_at),
        view.rows,
        view.files.join(", ")
    )
}
