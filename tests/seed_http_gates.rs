//! Every `http` gate of the seed checklists (examples/checklists/) and of the seed systems'
//! readiness objects (examples/<system>/healthy/readiness.yaml), probed by gonogo's own HTTP
//! prober: each must succeed on what the seed's healthy system answers (the bodies the seeds
//! document) and not on what an unhealthy one answers. The answers come from a loopback server
//! of this test (the table is tests/seed_http, shared with tests/seed_http_gates_e2e.rs, which
//! shows the same through the operator on the real control plane).
//!
//! Offline: no control plane, no root.

mod seed_http;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use gonogo::checks::http::Http;
use gonogo::engine::ProbeOutcome;
use gonogo::probe::http::{Request, client, probe_once};
use gonogo::probe::ssrf::{Guard, parse_cidr};
use seed_http::{Answer, Gate, answers, http_gates};

/// A loopback server giving every request the same answer.
fn serve((status, body): Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    address
}

/// Probe as the prober does, and say whether the gate's condition holds (status expected, body
/// as required).
async fn succeeds(http: &Http, answer: Answer) -> (bool, ProbeOutcome) {
    let guard = Guard::new(vec![parse_cidr("127.0.0.1/32").unwrap()], []);
    let request = Request {
        scheme: &http.scheme,
        address: serve(answer),
        method: &http.method,
        path: &http.path,
        body_contains: http.body_contains.as_deref(),
        body_json: &http.body_json,
        timeout: Duration::from_secs(5),
    };
    let outcome = probe_once(&client().unwrap(), &guard, &request).await;
    let ok = match &outcome {
        ProbeOutcome::Http {
            status,
            body_matched,
        } => {
            http.expected_status.contains(&i32::from(*status))
                && ((http.body_contains.is_none() && http.body_json.is_empty())
                    || *body_matched == Some(true))
        }
        _ => false,
    };
    (ok, outcome)
}

#[tokio::test]
async fn every_seed_http_gate_passes_on_a_healthy_answer_and_fails_on_an_unhealthy_one() {
    let gates = http_gates();
    assert!(gates.len() >= 9, "found only {} http gates", gates.len());
    let mut wrong = Vec::new();
    for Gate { name, http, .. } in &gates {
        let Some((healthy, unhealthy)) = answers(name) else {
            wrong.push(format!(
                "{name}: no healthy and unhealthy answer in this test"
            ));
            continue;
        };
        let (ok, outcome) = succeeds(http, healthy).await;
        if !ok {
            wrong.push(format!("{name}: fails on the healthy answer: {outcome:?}"));
        }
        let (ok, outcome) = succeeds(http, unhealthy).await;
        if ok {
            wrong.push(format!(
                "{name}: passes on the unhealthy answer: {outcome:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What the knowledgebeast checklist asked before: `bodyContains: healthy` passes on
/// `"unhealthy"`, and `bodyContains: '"status": "up"'` on one component up out of four (and
/// not at all on compact JSON).
#[tokio::test]
async fn the_substring_gates_they_replace_were_wrong() {
    let with = |yaml: &str| -> Http { serde_yaml_ng::from_str(yaml).unwrap() };
    let (_, unhealthy) = answers("knowledgebeast/green-health").unwrap();
    let old = with("{service: knowledgebeast, port: 8000, path: /health, bodyContains: healthy}");
    assert!(succeeds(&old, unhealthy).await.0);
    let (healthy, unhealthy) = answers("knowledgebeast/dependencies-healthy").unwrap();
    let old = with(
        r#"{service: knowledgebeast, port: 8000, path: /health, bodyContains: '"status": "up"'}"#,
    );
    assert!(succeeds(&old, unhealthy).await.0);
    assert!(!succeeds(&old, healthy).await.0);
}
