//! Every `prometheus` gate of the seed checklists (examples/checklists/) against a real
//! Prometheus (built by `tests/prometheus/build.sh`, needs Go): one Prometheus holds 2h20m of
//! metrics of healthy systems, another of unhealthy ones, and each gate's query must pass its
//! threshold on the first and fail it on the second. A query that returns no data, NaN or a
//! syntax error on either side is a failure of this test: such a gate is Unknown forever.
//!
//! The metrics (tests/seed_metrics/) are pushed through Prometheus' OTLP receiver with their past
//! timestamps (the out-of-order window accepts them), so queries over `[1h]` or with `offset 2h`
//! see history.
//! Queries run through gonogo's own prober (`probe::prometheus::query_once`) and comparison
//! (`probe::prometheus::holds`), as `gonogo run` does; holding `for` a duration is the
//! engine's part and tested elsewhere.
//!
//! No control plane and no root: only Go, to build Prometheus once.

mod seed_metrics;

use std::time::{Duration, Instant};

use gonogo::probe::prometheus;
use seed_metrics::{CHECKLISTS, Server, healthy, repo_root, unhealthy, value};

// ------------------------------------------------------------------ the gates

struct Gate {
    name: String,
    query: String,
    operator: String,
    threshold: f64,
}

fn prometheus_gates() -> Vec<Gate> {
    let mut gates = Vec::new();
    for checklist in CHECKLISTS {
        let path = repo_root().join(format!("examples/checklists/{checklist}.yaml"));
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for item in doc["spec"]["items"].as_sequence().unwrap() {
            let Some(p) = item.get("prometheus") else {
                continue;
            };
            gates.push(Gate {
                name: format!("{checklist}/{}", item["name"].as_str().unwrap()),
                query: p["query"].as_str().unwrap().to_string(),
                operator: p["operator"].as_str().unwrap().to_string(),
                threshold: p["threshold"].as_f64().unwrap(),
            });
        }
    }
    gates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_prometheus_gate_passes_on_healthy_and_fails_on_unhealthy_metrics() {
    let gates = prometheus_gates();
    assert!(
        gates.len() > 20,
        "found only {} prometheus gates",
        gates.len()
    );
    let (good, bad) = tokio::join!(Server::start("15d"), Server::start("7d"));
    let (good_series, bad_series) = (healthy(), unhealthy());
    tokio::join!(good.push(&good_series), bad.push(&bad_series));
    // Prometheus scrapes itself every second: wait for its own retention gauge.
    let deadline = Instant::now() + Duration::from_secs(30);
    while value(&good, "prometheus_tsdb_retention_limit_seconds")
        .await
        .is_err()
        || value(&bad, "prometheus_tsdb_retention_limit_seconds")
            .await
            .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "Prometheus does not scrape itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for gate in &gates {
        let wanted = format!("{} {}", gate.operator, gate.threshold);
        let healthy = value(&good, &gate.query).await;
        let unhealthy = value(&bad, &gate.query).await;
        let passes = |v: &Result<f64, String>| {
            v.as_ref()
                .is_ok_and(|v| prometheus::holds(&gate.operator, *v, gate.threshold))
        };
        report.push(format!(
            "{:40} healthy {:?}, unhealthy {:?} (want {wanted})",
            gate.name, healthy, unhealthy
        ));
        if !passes(&healthy) {
            wrong.push(format!(
                "{}: does not pass on healthy metrics: {healthy:?} (want {wanted})",
                gate.name
            ));
        }
        if unhealthy.is_err() || passes(&unhealthy) {
            wrong.push(format!(
                "{}: does not fail on unhealthy metrics: {unhealthy:?} (want a value failing {wanted})",
                gate.name
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // What the checklists queried before: a healthy service has no 5xx series, so the plain
    // ratio is no data (the gate Unknown forever); counting down targets passes on no target.
    let plain_ratio = r#"sum(rate(http_requests_total{service="kato",status=~"5.."}[5m])) / sum(rate(http_requests_total{service="kato"}[5m]))"#;
    assert!(value(&good, plain_ratio).await.is_err());
    let down_targets = r#"count(up{job="knowledgebeast"} == 0) or vector(0)"#;
    assert_eq!(value(&bad, down_targets).await, Ok(0.0));
}
