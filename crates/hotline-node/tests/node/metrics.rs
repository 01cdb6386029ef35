//! `GET /metrics`: Prometheus metrics from a running node, on the control
//! API and on the TCP address of `metrics_listen`, counting what really
//! happened (records, deliveries, a member gone).

use hotline_core::{Address, MessageType, Role};
use hotline_node::api_types::SendRequest;
use hotline_node::testkit::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request over a fresh TCP connection; the raw answer.
async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// The value of the series named exactly `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_on_the_socket_and_over_tcp() {
    let net = TestNet::new("metrics");
    let fra = net.prepare("fra", "FRA", true);
    let deu = net.prepare("deu", "DEU", true);
    let mut with_metrics = options(&[]);
    with_metrics.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let a = start(&fra, with_metrics).await;
    let b = start(&deu, options(&[first_addr(&a)])).await;
    publish(&a.handle(), "technical", "CERT-FR").await;
    publish(&b.handle(), "technical", "CERT-Bund").await;
    converged(&[a.handle(), b.handle()], 6).await;

    let to = Address { state: "DEU".parse().unwrap(), role: Role::technical() };
    let sent = a.handle().send(SendRequest::new(to, MessageType::StatusUpdate, "Counted")).await.unwrap();
    a.handle().wait_delivered(sent.msg_id, DEADLINE).await.unwrap();

    let text = a.handle().metrics_text().await.unwrap();
    assert_eq!(value(&text, "hotline_directory_objects"), Some(6.0), "{text}");
    assert_eq!(value(&text, "hotline_deliveries_receipted_total"), Some(1.0), "{text}");
    assert_eq!(value(&text, "hotline_receipt_latency_seconds_count"), Some(1.0), "{text}");
    assert_eq!(value(&text, "hotline_member_nodes{state=\"connected\"}"), Some(1.0), "{text}");
    assert_eq!(value(&text, "hotline_connected_peers{kind=\"stranger\"}"), Some(0.0), "{text}");
    assert_eq!(value(&text, "hotline_deliveries{state=\"queued\"}"), Some(0.0), "{text}");
    // The evidence log: one message sent and its receipt held.
    assert_eq!(value(&text, "hotline_evidence_log_leaves"), Some(2.0), "{text}");
    assert_eq!(value(&text, "hotline_evidence_equivocations"), Some(0.0), "{text}");
    assert!(value(&text, "hotline_evidence_checkpoint_signed_at_seconds").is_some(), "{text}");
    assert!(text.ends_with("# EOF\n"));

    // The same over TCP, with the OpenMetrics content type; nothing else there.
    let addr = a.metrics_addr().expect("metrics_listen is served");
    let answer = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_lowercase().contains("content-type: application/openmetrics-text"), "{answer}");
    assert!(answer.contains("hotline_deliveries_receipted_total 1"), "{answer}");
    let other = http(addr, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404"), "only /metrics over TCP: {other}");
    let post = http(addr, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");

    // Whoever reaches the TCP port holds at most 16 connections: with 16
    // idle ones open, the next scrape waits; one closes, it is answered.
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let waiting = tokio::spawn(http(addr, request));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a 17th connection is not served while 16 are held");
    drop(idle.pop());
    let answer = tokio::time::timeout(DEADLINE, waiting).await.expect("served once a slot is free").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);

    // DEU goes away: its node shows as unreachable.
    b.shutdown().await.unwrap();
    poll_until("DEU to show as unreachable in the metrics", || async {
        let text = a.handle().metrics_text().await.ok()?;
        (value(&text, "hotline_member_nodes{state=\"unreachable\"}") == Some(1.0)).then_some(())
    })
    .await;
    a.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the metrics address closes with the node");
}
