//! Checkpoints of a node's evidence log, as C2SP signed notes.
//!
//! The note's text is a C2SP `tlog-checkpoint`:
//!
//! ```text
//! hotline.evidence/v1/<network id, hex>/<node peer id>/<epoch>
//! <size>
//! <root, base64>
//! time <Unix seconds>
//! ```
//!
//! The origin names the network, the node and the log's epoch, so no
//! checkpoint of one log passes for another's. A node starts a new epoch,
//! a new log, when its store is restored from a backup (`hotline restore`
//! says so): the old log's cosigned checkpoints still stand, and the new
//! one starts where the backup was. A store put back without a word keeps
//! its epoch, and its next checkpoints contradict the ones cosigned. The `time` extension line orders two checkpoints
//! of one log in time: a log never shrinks, so a smaller size signed later
//! proves a rollback (`crate::witness`).
//!
//! Signature lines follow `c2sp.org/signed-note`. Hotline signs the way it
//! signs everything (`len(context) ‖ context ‖ network ‖ body`), which is no
//! algorithm the signed-note registry assigns, so the key type is the
//! escape byte `0xff` followed by the context, and the key id is
//! `SHA-256(name ‖ "\n" ‖ 0xff ‖ context ‖ public key)[..4]`:
//!
//! - the node's line: name = the origin, context
//!   `hotline/v1/evidence-checkpoint`, signature over the text;
//! - a witness's line: name `hotline.witness/v1/<network>/<witness peer
//!   id>`, context `hotline/v1/evidence-cosignature`, signature over
//!   `time (u64 BE) ‖ text`, and the line's bytes are `time ‖ signature`.

use crate::EvidenceError;
use hotline_core::keys::Context;
use hotline_core::{NetworkId, NodeId, SecretKey, Signature, Timestamp};
use signed_note::{Note, VerificationError, Verifier, Verifiers};
use tlog_tiles::Hash;

/// Largest checkpoint note read, cosignatures included.
pub const MAX_CHECKPOINT_BYTES: usize = 8 * 1024;
/// Most signature lines a checkpoint may carry (the node and its witnesses).
const MAX_LINES: usize = 16;

const LOG_PREFIX: &str = "hotline.evidence/v1/";
const WITNESS_PREFIX: &str = "hotline.witness/v1/";

/// The origin (log name) of `node`'s evidence log of `epoch` in `network`.
pub fn log_origin(network: &NetworkId, node: &NodeId, epoch: u64) -> String {
    format!("{LOG_PREFIX}{network}/{}/{epoch}", node.to_peer_id())
}

/// The key name of witness node `node` in `network`.
pub fn witness_name(network: &NetworkId, node: &NodeId) -> String {
    format!("{WITNESS_PREFIX}{network}/{}", node.to_peer_id())
}

fn key_id(name: &str, context: Context, key: &NodeId) -> u32 {
    let mut typed = vec![0xff];
    typed.extend_from_slice(context.as_str().as_bytes());
    typed.extend_from_slice(&key.0);
    signed_note::key_id(name, &typed)
}

/// What a checkpoint says: a node's log at one size, at one time (a head),
/// or, without a time, what its log's root was at an earlier size (a
/// prefix claim: `CosignRequest::prefix`). A node signs heads only of its
/// log as it is, with times that never go back, so a smaller head signed
/// later proves a rollback; a prefix claim carries no time and can prove
/// only a fork.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checkpoint {
    /// The node whose log it is.
    pub node: NodeId,
    /// The log's epoch (0, then one more at each restore).
    pub epoch: u64,
    /// Leaves in the log.
    pub size: u64,
    /// The tree's root at that size.
    pub root: Hash,
    /// When the node signed it; `None` for a prefix claim.
    pub time: Option<Timestamp>,
}

impl Checkpoint {
    /// The note text.
    fn text(&self, network: &NetworkId) -> Result<Vec<u8>, EvidenceError> {
        let extension = match self.time {
            Some(t) => format!("time {}\n", t.0),
            None => "prefix\n".to_string(),
        };
        let origin = log_origin(network, &self.node, self.epoch);
        let body = tlog_tiles::Checkpoint::new(&origin, self.size, self.root, &extension)
            .map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        Ok(body.to_bytes())
    }

    /// Reads a checkpoint text of `node`'s log in `network`.
    fn parse(text: &[u8], network: &NetworkId, node: &NodeId) -> Result<Checkpoint, EvidenceError> {
        let body = tlog_tiles::Checkpoint::from_bytes(text).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        let prefix = format!("{LOG_PREFIX}{network}/{}/", node.to_peer_id());
        let epoch = body
            .origin()
            .strip_prefix(&prefix)
            .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) && (e.len() == 1 || !e.starts_with('0')))
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| EvidenceError::WrongLog {
                expected: format!("{prefix}EPOCH"),
                found: body.origin().to_string(),
            })?;
        let time = if body.extension() == "prefix\n" {
            None
        } else {
            let time = body
                .extension()
                .strip_prefix("time ")
                .and_then(|t| t.strip_suffix('\n'))
                .filter(|t| {
                    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t.len() == 1 || !t.starts_with('0'))
                })
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| {
                    EvidenceError::Malformed("its extension is not one `time SECONDS` or `prefix` line".into())
                })?;
            Some(Timestamp(time))
        };
        Ok(Checkpoint { node: *node, epoch, size: body.size(), root: *body.hash(), time })
    }
}

/// A witness's cosignature on a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness node.
    pub witness: NodeId,
    /// When it cosigned.
    pub time: Timestamp,
}

/// A checkpoint as signed by its node, with any cosignatures, in note form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    bytes: Vec<u8>,
}

struct Line {
    name: String,
    id: u32,
    context: Context,
    key: NodeId,
    network: NetworkId,
}

impl Verifier for Line {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (body, sig) = if self.context == Context::EVIDENCE_COSIGNATURE {
            let Some((time, sig)) = sig.split_first_chunk::<8>() else { return false };
            let mut body = time.to_vec();
            body.extend_from_slice(msg);
            (body, sig)
        } else {
            (msg.to_vec(), sig)
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig) else { return false };
        self.key.public_key().verify(self.context, &self.network, &body, &Signature(sig)).is_ok()
    }
}

struct Known(Vec<Line>);

impl Verifiers for Known {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn Verifier, VerificationError> {
        self.0
            .iter()
            .find(|l| l.name == name && l.id == id)
            .map(|l| l as &dyn Verifier)
            .ok_or_else(|| VerificationError::UnknownKey { name: name.to_string(), id })
    }
}

fn note_error(e: signed_note::NoteError) -> EvidenceError {
    match e {
        signed_note::NoteError::InvalidSignature { .. } | signed_note::NoteError::UnverifiedNote => {
            EvidenceError::BadSignature
        }
        other => EvidenceError::Malformed(other.to_string()),
    }
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `key`, the key of its node.
    pub fn sign(checkpoint: &Checkpoint, key: &SecretKey, network: &NetworkId) -> Result<Self, EvidenceError> {
        if key.node_id() != checkpoint.node {
            return Err(EvidenceError::BadSignature);
        }
        let text = checkpoint.text(network)?;
        let name = log_origin(network, &checkpoint.node, checkpoint.epoch);
        let id = key_id(&name, Context::EVIDENCE_CHECKPOINT, &checkpoint.node);
        let sig = key.sign(Context::EVIDENCE_CHECKPOINT, network, &text);
        let line = signed_note::Signature::new(name, id, sig.0.to_vec()).map_err(note_error)?;
        let note = Note::new(&text, &[line]).map_err(note_error)?;
        Ok(SignedCheckpoint { bytes: note.to_bytes() })
    }

    /// The note's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Reads note bytes (from the network, the disk or a bundle), bounded;
    /// nothing is verified yet: see [`SignedCheckpoint::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EvidenceError> {
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(EvidenceError::TooLarge { what: "a checkpoint", len: bytes.len(), max: MAX_CHECKPOINT_BYTES });
        }
        if bytes.iter().filter(|b| **b == b'\n').count() > MAX_LINES + 8 {
            return Err(EvidenceError::Malformed("too many lines".into()));
        }
        Note::from_bytes(bytes).map_err(note_error)?;
        Ok(SignedCheckpoint { bytes: bytes.to_vec() })
    }

    /// Verifies the node's signature and every witness line: the
    /// checkpoint and who cosigned it, when. A line that names a witness
    /// and does not verify is refused (`BadCosignature`): it was tampered
    /// with. Lines of other names are ignored.
    pub fn verify(&self, network: &NetworkId, node: &NodeId) -> Result<(Checkpoint, Vec<Cosignature>), EvidenceError> {
        let parts = self.parts(network, node)?;
        Ok((parts.checkpoint, parts.witnesses.into_iter().map(|(c, _)| c).collect()))
    }

    /// The note, verified, in parts: the text, the node's line, and each
    /// witness's line (one per witness).
    fn parts(&self, network: &NetworkId, node: &NodeId) -> Result<Parts, EvidenceError> {
        let note = Note::from_bytes(&self.bytes).map_err(note_error)?;
        let checkpoint = Checkpoint::parse(note.text(), network, node)?;
        let name = log_origin(network, node, checkpoint.epoch);
        let own = Line {
            id: key_id(&name, Context::EVIDENCE_CHECKPOINT, node),
            name,
            context: Context::EVIDENCE_CHECKPOINT,
            key: *node,
            network: *network,
        };
        let (mut verified, others) = note.verify(&Known(vec![own])).map_err(note_error)?;
        let own_line = verified.pop().ok_or(EvidenceError::BadSignature)?;
        let prefix = format!("{WITNESS_PREFIX}{network}/");
        let mut witnesses: Vec<(Cosignature, signed_note::Signature)> = Vec::new();
        for line in others {
            let Some(peer) = line.name().strip_prefix(&prefix) else { continue };
            let witness = NodeId::from_peer_id(peer)
                .map_err(|_| EvidenceError::BadCosignature { witness: line.name().to_string() })?;
            let verifier = Line {
                name: line.name().to_string(),
                id: key_id(line.name(), Context::EVIDENCE_COSIGNATURE, &witness),
                context: Context::EVIDENCE_COSIGNATURE,
                key: witness,
                network: *network,
            };
            let ok = line.id() == verifier.id && verifier.verify(note.text(), line.signature());
            let time = line.signature().first_chunk::<8>().map(|t| Timestamp(u64::from_be_bytes(*t)));
            match (ok, time) {
                (true, Some(time)) if !witnesses.iter().any(|(c, _)| c.witness == witness) => {
                    witnesses.push((Cosignature { witness, time }, line))
                }
                (true, Some(_)) => {}
                _ => return Err(EvidenceError::BadCosignature { witness: witness.to_peer_id() }),
            }
        }
        Ok(Parts { text: note.text().to_vec(), checkpoint, own: own_line, witnesses })
    }

    /// This checkpoint with the cosignatures of `other` (the same
    /// checkpoint, cosigned by other witnesses) added; a witness already
    /// here keeps its line. Both must verify for `node`. Only the node's
    /// line and verified witness lines are kept, at most
    /// [`MAX_WITNESS_LINES`].
    pub fn merge(&self, other: &SignedCheckpoint, network: &NetworkId, node: &NodeId) -> Result<Self, EvidenceError> {
        let mut ours = self.parts(network, node)?;
        let theirs = other.parts(network, node)?;
        if theirs.text != ours.text {
            return Err(EvidenceError::Malformed("the two notes are not the same checkpoint".into()));
        }
        for (c, line) in theirs.witnesses {
            if !ours.witnesses.iter().any(|(o, _)| o.witness == c.witness) {
                ours.witnesses.push((c, line));
            }
        }
        ours.into_note()
    }

    /// The checkpoint, stripped to its node's line, with `witness`'s
    /// cosignature at `time`. The caller has decided that it may cosign
    /// (`crate::witness`); a prefix claim is never cosigned.
    pub fn cosign(
        &self,
        node: &NodeId,
        witness: &SecretKey,
        network: &NetworkId,
        time: Timestamp,
    ) -> Result<Self, EvidenceError> {
        let mut parts = self.parts(network, node)?;
        if parts.checkpoint.time.is_none() {
            return Err(EvidenceError::Malformed("a prefix claim is not a checkpoint to cosign".into()));
        }
        let me = witness.node_id();
        let name = witness_name(network, &me);
        let id = key_id(&name, Context::EVIDENCE_COSIGNATURE, &me);
        let mut body = time.0.to_be_bytes().to_vec();
        body.extend_from_slice(&parts.text);
        let sig = witness.sign(Context::EVIDENCE_COSIGNATURE, network, &body);
        let mut bytes = time.0.to_be_bytes().to_vec();
        bytes.extend_from_slice(&sig.0);
        let line = signed_note::Signature::new(name, id, bytes).map_err(note_error)?;
        parts.witnesses = vec![(Cosignature { witness: me, time }, line)];
        parts.into_note()
    }
}

/// Most witness lines a note keeps (its size and line count stay within
/// what [`SignedCheckpoint::from_bytes`] reads).
pub const MAX_WITNESS_LINES: usize = MAX_LINES - 1;

/// A verified note in parts.
struct Parts {
    text: Vec<u8>,
    checkpoint: Checkpoint,
    own: signed_note::Signature,
    witnesses: Vec<(Cosignature, signed_note::Signature)>,
}

impl Parts {
    /// The note: the text, the node's line, then at most
    /// [`MAX_WITNESS_LINES`] witness lines.
    fn into_note(self) -> Result<SignedCheckpoint, EvidenceError> {
        let mut lines = vec![self.own];
        lines.extend(self.witnesses.into_iter().take(MAX_WITNESS_LINES).map(|(_, l)| l));
        let bytes = Note::new(&self.text, &lines).map_err(note_error)?.to_bytes();
        // Read back as any stored note is: a note this crate writes is one it reads.
        SignedCheckpoint::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    fn checkpoint(size: u64, time: u64) -> Checkpoint {
        Checkpoint {
            node: key(1).node_id(),
            epoch: 2,
            size,
            root: tlog_tiles::record_hash(&size.to_be_bytes()),
            time: Some(Timestamp(time)),
        }
    }

    #[test]
    fn a_checkpoint_verifies_for_its_node_and_network_only() {
        let net = NetworkId([7; 32]);
        let cp = checkpoint(42, 1_800_000_000);
        let signed = SignedCheckpoint::sign(&cp, &key(1), &net).unwrap();
        let text = String::from_utf8(signed.as_bytes().to_vec()).unwrap();
        assert!(text.starts_with(&format!("{}\n42\n", log_origin(&net, &cp.node, 2))), "{text}");
        assert!(text.starts_with("hotline.evidence/v1/0707"), "{text}");
        assert!(text.contains("\ntime 1800000000\n\n— hotline.evidence/v1/"), "{text}");
        let read = SignedCheckpoint::from_bytes(signed.as_bytes()).unwrap();
        assert_eq!(read.verify(&net, &cp.node).unwrap(), (cp, vec![]));
        assert!(matches!(read.verify(&NetworkId([8; 32]), &cp.node), Err(EvidenceError::WrongLog { .. })));
        assert!(matches!(read.verify(&net, &key(2).node_id()), Err(EvidenceError::WrongLog { .. })));
        // Only the node's own key signs its log.
        assert!(SignedCheckpoint::sign(&cp, &key(2), &net).is_err());
        // One byte changed anywhere in the text: refused.
        let tampered = text.replacen("\n42\n", "\n43\n", 1);
        let tampered = SignedCheckpoint::from_bytes(tampered.as_bytes()).unwrap();
        assert_eq!(tampered.verify(&net, &cp.node), Err(EvidenceError::BadSignature));
    }

    #[test]
    fn witnesses_cosign_and_a_forged_cosignature_is_caught() {
        let net = NetworkId([7; 32]);
        let cp = checkpoint(5, 100);
        let signed = SignedCheckpoint::sign(&cp, &key(1), &net).unwrap();
        let once = signed.cosign(&cp.node, &key(2), &net, Timestamp(101)).unwrap();
        // A witness cosigns the node's line alone: others' lines are not its word.
        let twice = once.cosign(&cp.node, &key(3), &net, Timestamp(102)).unwrap();
        let only: Vec<(NodeId, u64)> =
            twice.verify(&net, &cp.node).unwrap().1.iter().map(|c| (c.witness, c.time.0)).collect();
        assert_eq!(only, vec![(key(3).node_id(), 102)]);
        // Cosigned apart, then merged: both witnesses, each once.
        let merged = once.merge(&twice, &net, &cp.node).unwrap();
        let again = merged.merge(&twice, &net, &cp.node).unwrap();
        let mut seen: Vec<(NodeId, u64)> =
            again.verify(&net, &cp.node).unwrap().1.iter().map(|c| (c.witness, c.time.0)).collect();
        seen.sort();
        let mut expected = vec![(key(2).node_id(), 101), (key(3).node_id(), 102)];
        expected.sort();
        assert_eq!(seen, expected);
        let other = SignedCheckpoint::sign(&checkpoint(6, 100), &key(1), &net).unwrap();
        assert!(once.merge(&other, &net, &cp.node).is_err(), "another checkpoint");
        // Many witnesses: the note keeps at most MAX_WITNESS_LINES and stays readable.
        let mut many = signed.clone();
        for i in 10..40u8 {
            let by = signed.cosign(&cp.node, &key(i), &net, Timestamp(200)).unwrap();
            many = many.merge(&by, &net, &cp.node).unwrap();
        }
        let read = SignedCheckpoint::from_bytes(many.as_bytes()).unwrap();
        assert_eq!(read.verify(&net, &cp.node).unwrap().1.len(), MAX_WITNESS_LINES);
        // A prefix claim is never cosigned.
        let claim = Checkpoint { time: None, ..cp };
        let claim = SignedCheckpoint::sign(&claim, &key(1), &net).unwrap();
        assert!(claim.as_bytes().windows(7).any(|w| w == b"prefix\n"));
        assert_eq!(claim.verify(&net, &cp.node).unwrap().0.time, None);
        assert!(claim.cosign(&cp.node, &key(2), &net, Timestamp(1)).is_err());
        // A witness line whose time was changed no longer verifies.
        let text = String::from_utf8(once.as_bytes().to_vec()).unwrap();
        let line = text.lines().last().unwrap();
        let (name, b64) = line.trim_start_matches("— ").split_once(' ').unwrap();
        let mut raw = base64_decode(b64);
        raw[4 + 7] ^= 1;
        let forged = text.replace(line, &format!("— {name} {}", base64_encode(&raw)));
        let forged = SignedCheckpoint::from_bytes(forged.as_bytes()).unwrap();
        assert!(matches!(forged.verify(&net, &cp.node), Err(EvidenceError::BadCosignature { .. })));
    }

    #[test]
    fn oversized_and_malformed_notes_are_refused() {
        assert!(matches!(
            SignedCheckpoint::from_bytes(&vec![b'a'; MAX_CHECKPOINT_BYTES + 1]),
            Err(EvidenceError::TooLarge { .. })
        ));
        assert!(matches!(SignedCheckpoint::from_bytes(b"no signature\n"), Err(EvidenceError::Malformed(_))));
    }

    // Base64 for the tests only, through the note format itself.
    fn base64_decode(text: &str) -> Vec<u8> {
        let line = format!("— x {text}");
        let sig = signed_note::Signature::from_bytes(line.as_bytes()).unwrap();
        let mut out = sig.id().to_be_bytes().to_vec();
        out.extend_from_slice(sig.signature());
        out
    }

    fn base64_encode(raw: &[u8]) -> String {
        let id = u32::from_be_bytes(raw[..4].try_into().unwrap());
        let sig = signed_note::Signature::new("x".into(), id, raw[4..].to_vec()).unwrap();
        let line = String::from_utf8(sig.to_bytes()).unwrap();
        line.trim_end().trim_start_matches("— x ").to_string()
    }
}
