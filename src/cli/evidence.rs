//! `hotline evidence`: this node's evidence log (`docs/protocol.md`
//! section 14): its head, its latest signed checkpoint and who cosigned
//! it, and the proofs held that other nodes rewrote their logs.

use super::Out;
use super::daemon::runtime;
use anyhow::Result;
use clap::Subcommand;
use hotline_node::Client;
use hotline_node::endpoints::GetEvidence;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub(crate) enum EvidenceCommand {
    /// The log's size and root, its latest checkpoint (the signed note)
    /// and witnesses, and any node caught rewriting its log.
    Status,
}

pub(super) fn run(cmd: EvidenceCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        EvidenceCommand::Status => status(data_dir, out),
    }
}

fn status(data_dir: &Path, out: &Out) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    let view = runtime()?.block_on(client.call(GetEvidence))?;
    out.emit(&view, || {
        let mut text =
            format!("Evidence log of {} (epoch {}): {} events, root {}\n", view.node, view.epoch, view.size, view.root);
        match &view.checkpoint {
            None => text.push_str("No checkpoint signed yet.\n"),
            Some(cp) => {
                text.push_str(&format!(
                    "Latest checkpoint: {} events, signed {}; cosigned by {}\n",
                    cp.size,
                    super::note::utc(cp.signed_at),
                    if cp.cosigned_by.is_empty() {
                        "no witness yet".to_string()
                    } else {
                        cp.cosigned_by.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join(", ")
                    }
                ));
                text.push_str(&format!("\n{}", cp.note));
            }
        }
        for e in &view.equivocations {
            text.push_str(&format!(
                "\nEQUIVOCATION: node {} rewrote its log ({}), seen {}.\n",
                e.node,
                e.kind,
                super::note::utc(e.seen_at)
            ));
        }
        text.trim_end().to_string()
    })
}
