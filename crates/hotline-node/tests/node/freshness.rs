//! Record freshness (CBM 8: contact details are confirmed every year): a
//! node warns its operator 60 and 30 days before its own record expires,
//! and `send` to a PoC whose record is about to expire warns first, naming
//! the record's alternates and channels. The clock is moved by a test hook.

use hotline_core::time::DAY;
use hotline_core::{Address, Alternate, Channel, MessageType, Role, Tlp};
use hotline_node::NodeHandle;
use hotline_node::api_types::{NodeEvent, SendRequest};
use hotline_node::testkit::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn rfi(to: &str, force: bool) -> SendRequest {
    let to = Address { state: to.parse().unwrap(), role: Role::technical() };
    SendRequest {
        tlp: Some(Tlp::Green),
        is_exercise: true,
        force,
        ..SendRequest::new(to, MessageType::RequestForInformation, "Are you still reachable here?")
    }
}

async fn warnings(h: &NodeHandle) -> Vec<String> {
    h.status().await.unwrap().warnings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_records_warn_at_60_and_30_days_and_sending_to_an_expiring_record_needs_force() {
    let net = TestNet::new("freshness");
    let (shared, offset) = adjustable_clock();
    let options_for = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.clock = shared.clone();
        o.prekey_check = Duration::from_millis(100);
        o
    };
    let a = net.prepare("fra", "FRA", true);
    let b = net.prepare("deu", "DEU", true);
    let na = start(&a, options_for(&[])).await;
    let nb = start(&b, options_for(&[first_addr(&na)])).await;
    let (fra, deu) = (na.handle(), nb.handle());
    let mut events = fra.subscribe();

    fra.publish_record(draft("technical", node_of(fra.peer_id()), "CERT-FR"), Some(90)).await.unwrap();
    // DEU's record is valid 20 days only: under the charter's 30-day window, it shows as expiring.
    let mut short = draft("technical", node_of(deu.peer_id()), "CERT-Bund");
    short.alternates =
        vec![Alternate { name: "Duty officer".into(), email: Some("duty@bund.example".into()), phone: None }];
    short.other_channels = vec![Channel { kind: "fax".into(), address: "+49 228 0000".into() }];
    deu.publish_record(short, Some(20)).await.unwrap();
    converged(&[fra.clone(), deu.clone()], 6).await;

    // FRA's own record: 89 days left, nothing to say.
    assert!(warnings(&fra).await.is_empty(), "{:?}", warnings(&fra).await);
    let own = fra.status().await.unwrap().own_records;
    assert_eq!((own.len(), own[0].status.as_str()), (1, "current"));

    // Sending to DEU warns first and names the other ways to reach it.
    let refused = fra.send(rfi("DEU", false)).await.unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("--force") && text.contains("Duty officer") && text.contains("fax"), "{text}");
    let sent = fra.send(rfi("DEU", true)).await.unwrap();
    assert_eq!(fra.wait_delivered(sent.msg_id, DEADLINE).await.unwrap().status, "delivered");

    // 35 days on: under 60 days left for FRA; DEU's record has expired.
    offset.store(35 * DAY, Ordering::SeqCst);
    let days = wait_event(&mut events, "the 60-day warning", |e| match e {
        NodeEvent::RecordExpiring { key, days_left } if key == "rec/FRA/technical" => Some(*days_left),
        _ => None,
    })
    .await;
    assert!((30..60).contains(&days), "{days}");
    let w = warnings(&fra).await;
    assert!(w.len() == 1 && w[0].contains("FRA/technical") && w[0].contains("expires in"), "{w:?}");

    // Sending to the expired record is refused unless forced; forced, the
    // message waits until DEU renews its record, then is delivered.
    let refused = fra.send(rfi("DEU", false)).await.unwrap_err().to_string();
    assert!(refused.contains("expired") && refused.contains("Duty officer"), "{refused}");
    let waiting = fra.send(rfi("DEU", true)).await.unwrap();
    assert_eq!(waiting.status, "queued");
    deu.publish_record(draft("technical", node_of(deu.peer_id()), "CERT-Bund"), Some(365)).await.unwrap();
    assert_eq!(fra.wait_delivered(waiting.msg_id, DEADLINE).await.unwrap().status, "delivered");

    // 65 days on: under 30 days left, announced again.
    offset.store(65 * DAY, Ordering::SeqCst);
    let days = wait_event(&mut events, "the 30-day warning", |e| match e {
        NodeEvent::RecordExpiring { days_left, .. } => Some(*days_left),
        _ => None,
    })
    .await;
    assert!((0..30).contains(&days), "{days}");

    // A new version clears the warning.
    fra.publish_record(draft("technical", node_of(fra.peer_id()), "CERT-FR"), Some(365)).await.unwrap();
    assert!(warnings(&fra).await.is_empty());
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}
