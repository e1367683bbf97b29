//! The `http` gates of the seed checklists (examples/checklists/) and of the seed systems'
//! readiness objects (examples/<system>/healthy/readiness.yaml), and per gate what the seed's
//! healthy system answers and what an unhealthy one answers (the bodies the seeds document).
//!
//! Shared by tests/seed_http_gates.rs (gonogo's prober against a loopback server) and
//! tests/seed_http_gates_e2e.rs (the operator on the real control plane, against a test host).
#![allow(dead_code)]

use std::path::PathBuf;

use gonogo::checks::http::Http;
use serde::Deserialize;

pub const SYSTEMS: [&str; 5] = ["kato", "ai-etl", "knowledgebeast", "kailash", "st-risk"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a system answers: status and body.
pub type Answer = (u16, &'static str);

/// Per gate (`checklist/item`, `inline/item` for a readiness object's own): the healthy
/// system's answer, then an unhealthy one's.
pub fn answers(gate: &str) -> Option<(Answer, Answer)> {
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

/// An `http` item of a seed checklist or readiness object.
pub struct Gate {
    /// `checklist/item`, or `inline/item` for a readiness object's own item.
    pub name: String,
    /// The item as the seed writes it (name, description, `http`…).
    pub item: serde_yaml_ng::Value,
    pub http: Http,
}

/// The `http` items of the five checklists and the healthy sets' readiness objects.
pub fn http_gates() -> Vec<Gate> {
    let mut gates = Vec::new();
    let mut add = |prefix: &str, items: &serde_yaml_ng::Value| {
        for item in items.as_sequence().into_iter().flatten() {
            if let Some(params) = item.get("http") {
                let name = format!("{prefix}/{}", item["name"].as_str().unwrap());
                let http: Http = serde_yaml_ng::from_value(params.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                gates.push(Gate {
                    name,
                    item: item.clone(),
                    http,
                });
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
