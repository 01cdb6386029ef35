//! Fixtures shared by the fuzz targets and by the seed generator
//! (`cargo run --example gen_seeds`): a fixed recipient node with a fixed
//! prekey ring, and a valid envelope and receipt for it, so the envelope
//! target can reach decryption and signature checks.

use hotline_core::{NetworkId, NodeId, SecretKey, Timestamp};
use hotline_crypto::{DeliveryReceipt, Envelope, PrekeyPolicy, PrekeyRing, SeedRng};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The fixed clock of every target.
pub const T0: Timestamp = Timestamp(1_790_000_000);
/// The fixed network of every target.
pub const NET: NetworkId = NetworkId([0x4e; 32]);

/// A recipient node, its ring, and one valid envelope and receipt for it.
pub struct EnvelopeFixture {
    /// The recipient's prekey ring (one prekey, id 1).
    pub ring: PrekeyRing,
    /// The recipient node.
    pub recipient: NodeId,
    /// A valid envelope to the recipient, wire bytes.
    pub envelope: Vec<u8>,
    /// The recipient's receipt for it, wire bytes.
    pub receipt: Vec<u8>,
}

/// The fixture, built once.
pub fn envelope_fixture() -> &'static EnvelopeFixture {
    static FIXTURE: OnceLock<EnvelopeFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sender = SecretKey::from_seed(&[1; 32]);
        let recipient_key = SecretKey::from_seed(&[2; 32]);
        let recipient = NodeId(recipient_key.public().0);
        let mut rng = SeedRng::from_seed(Zeroizing::new([3; 32]));
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng, PrekeyPolicy::default());
        let prekey = ring.newest().expect("the ring has a prekey after rotate");
        let envelope = Envelope::seal(
            b"fuzz seed message",
            &sender,
            NodeId(sender.public().0),
            recipient,
            (prekey.id(), prekey.public_bytes()),
            &NET,
            [9; 16],
            T0,
            &mut rng,
        )
        .expect("fixture envelope seals");
        let receipt = DeliveryReceipt::sign(&envelope, &recipient_key, &NET, T0, 1, 0).expect("fixture receipt signs");
        EnvelopeFixture { envelope: envelope.to_bytes(), receipt: receipt.to_bytes(), ring, recipient }
    })
}
