//! Reading a long case: split over the cores, yet one snapshot, one order.

use hotline_core::{Address, CaseId, Fields, Message, MessageId, MessageType, NodeId, Role, Timestamp, Tlp};
use hotline_node::testkit::*;
use hotline_store::{MessageRow, ReceivedRow, SentRow, Store, WriteBatch};

const LONG: u64 = 700;

fn id(n: u64) -> MessageId {
    let mut bytes = [0u8; 16];
    // Spread over the key space, as random ids are, so that a case's
    // messages are not read in the order they were written.
    bytes[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    MessageId(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_case_is_read_whole_with_no_reply_before_its_parent_and_answers_seen_across_the_whole_case() {
    let net = TestNet::new("threads");
    let fra = net.prepare("fra", "FRA", true);
    let case = CaseId([0xca; 16]);
    let (us, them) = (
        Address { state: fra.state, role: Role::technical() },
        Address { state: "DEU".parse().unwrap(), role: Role::technical() },
    );
    let base = clock().now().0 - 10_000;
    {
        let store = Store::open(&fra.data).unwrap();
        let mut batch = WriteBatch::new();
        for n in 0..LONG {
            // Each message answers the one before, except the last, which
            // answers message 10: the two lie in different parts of the case.
            let parent = match n {
                0 => None,
                n if n == LONG - 1 => Some(id(10)),
                n => Some(id(n - 1)),
            };
            let received = n % 2 == 0;
            let (from, to) = if received { (them.clone(), us.clone()) } else { (us.clone(), them.clone()) };
            // Message 350 claims a time before its parent's: only the reply
            // rule keeps it after.
            let created = if n == 350 { base } else { base + n };
            let message = Message {
                msg_id: id(n),
                case_id: case,
                in_reply_to: parent,
                kind: MessageType::Notification,
                from,
                to,
                created_at: Timestamp(created),
                lang: None,
                tlp: Tlp::Green,
                severity: None,
                is_exercise: false,
                respond_by: (n == 10).then_some(Timestamp(base + 100_000)),
                subject: format!("Message {n}"),
                body: "x".repeat(50),
                fields: Fields::None,
                attachments: Vec::new(),
            };
            let row = if received {
                MessageRow::Received(ReceivedRow {
                    message: message.to_bytes(),
                    sender: NodeId([7; 32]),
                    envelope_hash: [n as u8; 32],
                    received_at: Timestamp(created),
                    receipt: vec![1; 16],
                    read: false,
                    acknowledged_with: None,
                })
            } else {
                MessageRow::Sent(SentRow {
                    message: message.to_bytes(),
                    queued_at: Timestamp(created),
                    recipients: Vec::new(),
                    acknowledged_with: None,
                })
            };
            batch.put_message(id(n), &row);
            batch.index_case(case, id(n));
        }
        store.write(batch).unwrap();
    }
    let node = start(&fra, options(&[])).await;
    let thread = node.handle().thread(case).await.unwrap();

    assert_eq!(thread.len(), LONG as usize, "every message of the case, once");
    let place = |m: MessageId| thread.iter().position(|v| v.message.msg_id == m).unwrap();
    for v in &thread {
        if let Some(parent) = v.message.in_reply_to {
            assert!(place(parent) < place(v.message.msg_id), "{} before its parent", v.message.subject);
        }
    }
    assert_eq!(place(id(0)), 0);
    assert!(place(id(350)) > place(id(349)), "a reply dated before its parent still follows it");
    let answered: Vec<&str> = thread.iter().filter(|v| v.answered).map(|v| v.message.subject.as_str()).collect();
    assert_eq!(answered, ["Message 10"], "message 10 asked for an answer and had one, from the case's far end");
}
