//! A `cel` expression cannot stall the operator, on the real control plane (needs the Go-built
//! control plane: run it through `tests/run.sh`), with `gonogo run` as the chart's
//! ServiceAccount:
//! - the bomb (eight nested `exists` over literal lists, ~330 characters) and a nested
//!   `map` that would grow memory are refused before they run, each gate Unknown with its
//!   estimated cost, in more readiness objects than the operator reconciles at once;
//! - an object of 128 gates that each run near the cost budget ends its evaluation within the
//!   shared time limit, the gates past it Unknown naming that limit;
//! - while those objects exist, a readiness object created after them is judged within
//!   seconds, and `/healthz` keeps answering (well within the chart's 5 s liveness timeout).

mod operator;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::{DeploymentReadiness, GateOutcome};
use kube::api::{Api, PostParams};
use operator::{http_get, watched_namespace_with_api};
use serde_json::json;
use support::{single_container_deployment, wait_gates};

/// More attack objects than `--concurrency` (8) reconciles at once.
const ATTACKERS: usize = 10;

fn readiness(name: &str, target: &str, expressions: &[String]) -> DeploymentReadiness {
    let items: Vec<_> = expressions
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"name": format!("g{i}"), "cel": {"expression": e}}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "gonogo.dev/v1alpha1",
        "kind": "DeploymentReadiness",
        "metadata": {"name": name},
        "spec": {"targetRef": {"name": target}, "enforcement": "Annotate", "items": items},
    }))
    .unwrap()
}

const TEN: &str = "[0,1,2,3,4,5,6,7,8,9]";

/// The attack: nested `exists` over literal lists.
fn bomb() -> String {
    let mut bomb = "true".to_string();
    for v in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        bomb = format!("{TEN}.exists({v}, {bomb} && {v} < 0)");
    }
    assert!(bomb.len() < 400, "{}", bomb.len());
    bomb
}

/// Nested `map`s whose result grows with every level.
fn growing_map() -> String {
    format!(
        "{TEN}.map(a, {TEN}.map(b, {TEN}.map(c, {TEN}.map(d, {TEN}.map(e, {TEN}.map(f, [a, b, c, d, e, f])))))) != []"
    )
}

/// Just under the cost budget: 50,000 iterations of a small body.
fn heavy() -> String {
    let hundred = format!(
        "[{}]",
        (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let fifty = format!(
        "[{}]",
        (0..50).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    format!("{TEN}.all(a, {hundred}.all(b, {fifty}.all(c, a + b + c >= 0)))")
}

fn gate(dr: &DeploymentReadiness, name: &str) -> Option<(GateOutcome, String)> {
    dr.status
        .iter()
        .flat_map(|s| s.gates.iter())
        .find(|g| g.name == name)
        .map(|g| (g.result, g.message.clone()))
}

/// Health answers 200, sampled every 100 ms until `until`; the slowest answer.
async fn healthz_answers_promptly(port: u16, until: Instant) -> Duration {
    let mut slowest = Duration::ZERO;
    while Instant::now() < until {
        let started = Instant::now();
        let answer = tokio::task::spawn_blocking(move || http_get(port, "/healthz"))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(
            matches!(answer, Some((200, _))),
            "/healthz did not answer 200: {answer:?}"
        );
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    slowest
}

#[tokio::test]
async fn a_cel_bomb_neither_stalls_nor_starves_the_operator() {
    let w = watched_namespace_with_api("cel-limits").await;
    let pp = PostParams::default();
    let drs: &Api<DeploymentReadiness> = &w.drs;
    w.deployments
        .create(
            &pp,
            &single_container_deployment("web", "registry.k8s.io/pause:3.10"),
        )
        .await
        .unwrap();

    // The attack: more objects than reconcile slots, each with both bombs.
    let started = Instant::now();
    for i in 0..ATTACKERS {
        drs.create(
            &pp,
            &readiness(&format!("bomb-{i}"), "api", &[bomb(), growing_map()]),
        )
        .await
        .unwrap();
    }
    // And one object whose 128 gates each run near the budget.
    drs.create(&pp, &readiness("heavy", "api", &vec![heavy(); 128]))
        .await
        .unwrap();

    // The victim, created after them: judged within seconds.
    let port = w.operator.port;
    let health = tokio::spawn(healthz_answers_promptly(
        port,
        Instant::now() + Duration::from_secs(15),
    ));
    let victim_created = Instant::now();
    drs.create(
        &pp,
        &readiness(
            "victim",
            "web",
            &["workload.spec.replicas >= 1".to_string()],
        ),
    )
    .await
    .unwrap();
    wait_gates(
        drs,
        "victim",
        Duration::from_secs(15),
        &[("g0", GateOutcome::Pass, "is true")],
    )
    .await;
    let victim_latency = victim_created.elapsed();
    eprintln!("victim judged {victim_latency:?} after its creation");

    // Every bomb refused before it ran, with its estimated cost.
    for i in 0..ATTACKERS {
        wait_gates(
            drs,
            &format!("bomb-{i}"),
            Duration::from_secs(30),
            &[
                ("g0", GateOutcome::Unknown, "exceeds the budget of 1000000"),
                ("g1", GateOutcome::Unknown, "exceeds the budget of 1000000"),
            ],
        )
        .await;
    }
    let dr = drs.get("bomb-0").await.unwrap();
    let (_, message) = gate(&dr, "g0").unwrap();
    assert!(
        message.contains("its estimated cost over these objects, ") && message.contains(" steps"),
        "{message}"
    );
    eprintln!(
        "bombs answered {:?} after their creation",
        started.elapsed()
    );

    // The heavy object: every gate judged or Unknown naming a limit, none left unreported.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (passed, stopped) = loop {
        let dr = drs.get("heavy").await.unwrap();
        let gates: Vec<_> = (0..128)
            .filter_map(|i| gate(&dr, &format!("g{i}")))
            .collect();
        if gates.len() == 128 {
            let passed = gates
                .iter()
                .filter(|(r, _)| *r == GateOutcome::Pass)
                .count();
            let stopped: Vec<&String> = gates
                .iter()
                .filter(|(r, _)| *r != GateOutcome::Pass)
                .map(|(_, m)| m)
                .collect();
            for m in &stopped {
                assert!(
                    m.contains(
                        "the time for all expressions of this evaluation (2000 ms) is spent"
                    ) || m.contains("time limit of 500 ms per expression"),
                    "{m}"
                );
            }
            break (passed, stopped.len());
        }
        assert!(
            Instant::now() < deadline,
            "heavy not judged: {:?}",
            dr.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("heavy: {passed} gates passed, {stopped} stopped at a time limit");

    let slowest = health.await.unwrap();
    eprintln!("slowest /healthz answer while the attack ran: {slowest:?}");
    // The chart's liveness probe gives /healthz 5 s.
    assert!(slowest < Duration::from_secs(3), "{slowest:?}");
    assert!(
        victim_latency < Duration::from_secs(10),
        "the victim waited {victim_latency:?}"
    );
    w.operator.assert_no_forbidden();
}
