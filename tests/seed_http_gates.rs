//! Every `http` gate of the seed checklists (examples/checklists/) and of the seed systems'
//! readiness objects (examples/<system>/healthy/readiness.yaml), probed by gonogo's own HTTP
//! prober: each must succeed on what the seed's healthy system answers (the bodies the seeds
//! document) and not on what an unhealthy one answers. The answers come from a loopback server
//! of this test; on a cluster the prober reaches the same through the Service's endpoints.
//!
//! Offline: no control plane, no root.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use gonogo::checks::http::Http;
use gonogo::engine::ProbeOutcome;
use gonogo::probe::http::{Request, client, probe_once};
use gonogo::probe::ssrf::{Guard, parse_cidr};
use serde::Deserialize;

const SYSTEMS: [&str; 5] = ["kato", "ai-etl", "knowledgebeast", "kailash", "st-risk"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a system answers: status and body.
type Answer = (u16, &'static str);

/// Per gate (`checklist/item`, `inline/item` for a readiness object's own): the healthy
/// system's answer, then an unhealthy one's.
fn answers(gate: &str) -> Option<(Answer, Answer)> {
    Some(match gate {
        "kato/metrics-endpoint" => (
            (
                200,
                "# TYPE http_requests_total counter\nhttp_requests_total 7\n",
            ),
            (404, "{\"detail\":\"Not Found\"}"),
        ),
        "kato/health-endpoint" => (
            (200, r#"{"status":"healthy"}"#),
            (503, r#"{"status":"unhealthy"}"#),
        ),
        // Authentication on: ClickHouse refuses a query without credentials.
        "kato/clickhouse-authentication" => (
            (
                401,
                "Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)\n",
            ),
            (200, "1\n"),
        ),
        "kato/clickhouse-reachable" => ((200, "Ok.\n"), (503, "")),
        "kato/qdrant-reachable" => (
            (200, "all shards are ready"),
            (503, "some shards are not ready"),
        ),
        // The seed's 7.2: `Expected: {"status": "healthy", "version": "v2.0.0"}`.
        "knowledgebeast/green-health" => (
            (200, r#"{"status": "healthy", "version": "v2.0.0"}"#),
            (200, r#"{"status": "unhealthy", "version": "v2.0.0"}"#),
        ),
        // The seed's 10.6: `.components`, each `{"status": "up"}`; compact JSON is as healthy.
        "knowledgebeast/dependencies-healthy" => (
            (
                200,
                r#"{"status":"healthy","components":{"chromadb":{"status":"up"},"embedding_model":{"status":"up"},"database":{"status":"up"},"disk":{"status":"up"}}}"#,
            ),
            (
                200,
                r#"{"status": "degraded", "components": {"chromadb": {"status": "up"}, "embedding_model": {"status": "up"}, "database": {"status": "up"}, "disk": {"status": "down"}}}"#,
            ),
        ),
        "st-risk/api-responding" => ((200, r#"{"status":"ok"}"#), (503, "")),
        "inline/health-endpoint" => ((200, r#"{"status":"ok"}"#), (500, "Internal Server Error")),
        _ => return None,
    })
}

/// The `http` items of the five checklists and the healthy sets' readiness objects.
fn http_gates() -> Vec<(String, Http)> {
    let mut gates = Vec::new();
    let mut add = |prefix: &str, items: &serde_yaml_ng::Value| {
        for item in items.as_sequence().into_iter().flatten() {
            if let Some(params) = item.get("http") {
                let name = format!("{prefix}/{}", item["name"].as_str().unwrap());
                let http: Http = serde_yaml_ng::from_value(params.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                gates.push((name, http));
            }
        }
    };
    for system in SYSTEMS {
        let text =
            std::fs::read_to_string(root().join(format!("examples/checklists/{system}.yaml")))
                .unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        add(system, &doc["spec"]["items"]);
        let text = std::fs::read_to_string(
            root().join(format!("examples/{system}/healthy/readiness.yaml")),
        )
        .unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = serde_yaml_ng::Value::deserialize(doc).unwrap();
            add("inline", &doc["spec"]["items"]);
        }
    }
    gates
}

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
    for (name, http) in &gates {
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
