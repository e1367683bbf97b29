//! Every `http` gate of the seed checklists (examples/checklists/) and of the seed systems'
//! readiness objects (examples/<system>/healthy/readiness.yaml) through the operator on the
//! real control plane: `gonogo run` probes the seeds' Services, and each gate is Pass in the
//! DeploymentReadiness status when the endpoint answers what the seed's healthy system answers,
//! Fail when it answers what an unhealthy one does (the answers are tests/seed_http's table,
//! which tests/seed_http_gates.rs checks offline against the prober alone).
//!
//! The kwok pods of the test cluster answer nothing, so the Services the gates name (`kato`,
//! `kato-clickhouse`, `knowledgebeast-green`…) are selector-less, with a hand-written
//! EndpointSlice pointing at the test host (tests/testhost), one host port per Service port,
//! which the operator may reach with `--http-allow-cidr`. The items are the seeds' own
//! (description and `http` parameters as written), renamed `<checklist>-<item>` to be unique
//! in one readiness object.
//!
//! Needs the control plane (tests/run.sh builds it) and root: the test host is a network
//! namespace with a veth pair (CI runs as root).

mod operator;
mod seed_http;
mod support;
mod testhost;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use gonogo::api::{DeploymentReadiness, GateOutcome};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::PostParams;
use operator::{WatchedNamespace, watched_namespace_with_api_and_args};
use seed_http::{Gate, answers, http_gates};
use support::{TIMEOUT, cluster, ready_is, wait_until};
use testhost::{ALLOW_CIDR, Route, TestHost};

use GateOutcome::{Fail, Pass};

/// The test host's first port for the seeds' Service ports (one each, counting up).
const FIRST_PORT: u16 = 9000;

/// The gate's name in the readiness object: `kato/health-endpoint` → `kato-health-endpoint`.
fn item_name(gate: &str) -> String {
    gate.replace('/', "-")
}

/// A Service port as the gates name it: its name, or `p<number>` for one named by number.
fn port_name(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => format!("p{n}"),
        IntOrString::String(name) => name.clone(),
    }
}

/// The Service port's number: the one the gate names, or 80 for a port named `http`.
fn port_number(port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(_) => 80,
    }
}

/// Each Service the gates probe, with its ports: (port, the test host's port behind it).
fn backends(gates: &[Gate]) -> BTreeMap<String, Vec<(IntOrString, u16)>> {
    let mut services: BTreeMap<String, Vec<(IntOrString, u16)>> = BTreeMap::new();
    let mut next = FIRST_PORT;
    for Gate { http, .. } in gates {
        let ports = services.entry(http.service.clone()).or_default();
        if !ports.iter().any(|(p, _)| *p == http.port) {
            ports.push((http.port.clone(), next));
            next += 1;
        }
    }
    services
}

/// The selector-less Services and their EndpointSlices, pointing at the test host.
fn services_yaml(services: &BTreeMap<String, Vec<(IntOrString, u16)>>, address: &str) -> String {
    let mut yaml = String::new();
    for (service, ports) in services {
        let service_ports: Vec<String> = ports
            .iter()
            .map(|(p, _)| format!("{{name: {}, port: {}}}", port_name(p), port_number(p)))
            .collect();
        let slice_ports: Vec<String> = ports
            .iter()
            .map(|(p, host)| format!("{{name: {}, port: {host}, protocol: TCP}}", port_name(p)))
            .collect();
        yaml += &format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {service}}}\nspec:\n  ports: [{}]\n\
             ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: {service}-1, labels: {{kubernetes.io/service-name: {service}}}}}\n\
             addressType: IPv4\nports: [{}]\nendpoints: [{{addresses: [\"{address}\"]}}]\n",
            service_ports.join(", "),
            slice_ports.join(", ")
        );
    }
    yaml
}

/// Shows every seed `http` gate judged by the operator against the healthy answers (`healthy`)
/// or the unhealthy ones: Pass or Fail, each because of the answer the test host gave.
async fn judge(healthy: bool) {
    let (state, want) = if healthy {
        ("healthy", Pass)
    } else {
        ("unhealthy", Fail)
    };
    let gates = http_gates();
    assert!(gates.len() >= 9, "found only {} http gates", gates.len());
    let without: Vec<&str> = gates
        .iter()
        .filter(|g| answers(&g.name).is_none())
        .map(|g| g.name.as_str())
        .collect();
    assert!(
        without.is_empty(),
        "no healthy and unhealthy answer in tests/seed_http for: {}",
        without.join(", ")
    );

    // The test host answers each gate's request on its Service port's host port.
    let services = backends(&gates);
    let host_port = |gate: &Gate| {
        services[&gate.http.service]
            .iter()
            .find(|(p, _)| *p == gate.http.port)
            .map(|(_, host)| *host)
            .unwrap()
    };
    let routes: Vec<Route> = gates
        .iter()
        .map(|gate| {
            let (good, bad) = answers(&gate.name).unwrap();
            let (status, body) = if healthy { good } else { bad };
            Route {
                port: host_port(gate),
                path: gate.http.path.clone(),
                status,
                body: body.to_string(),
            }
        })
        .collect();
    let distinct: BTreeSet<(u16, &str)> =
        routes.iter().map(|r| (r.port, r.path.as_str())).collect();
    assert_eq!(
        distinct.len(),
        routes.len(),
        "two gates ask the same Service port for the same path: one answer cannot serve both"
    );
    let host = TestHost::serving(&routes);

    let WatchedNamespace {
        ns, operator, drs, ..
    } = watched_namespace_with_api_and_args(
        &format!("seed-http-{state}"),
        &["--http-allow-cidr", ALLOW_CIDR],
    )
    .await;
    let n = ns.name.as_str();
    cluster()
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            &services_yaml(&services, &host.address.to_string()),
        )
        .await;
    let items: Vec<serde_yaml_ng::Value> = gates
        .iter()
        .map(|gate| {
            let mut item = gate.item.clone();
            item["name"] = item_name(&gate.name).into();
            item
        })
        .collect();
    let readiness: DeploymentReadiness = serde_json::from_value(serde_json::json!({
        "apiVersion": "gonogo.dev/v1alpha1",
        "kind": "DeploymentReadiness",
        "metadata": {"name": "seed-http"},
        "spec": {"targetRef": {"name": "api"}, "items": items},
    }))
    .expect("the seeds' http items make a DeploymentReadiness");
    let started = Instant::now();
    drs.create(&PostParams::default(), &readiness)
        .await
        .expect("the readiness object with the seeds' http items is created");

    // Each gate as wanted, and its message names the status the test host answered: the
    // verdict is the answer's, not a missing Service, a refusal or an unreachable host.
    let expected: Vec<(String, String)> = gates
        .iter()
        .zip(&routes)
        .map(|(gate, route)| (item_name(&gate.name), format!("answered {}", route.status)))
        .collect();
    let expected: Vec<(&str, GateOutcome, &str)> = expected
        .iter()
        .map(|(gate, text)| (gate.as_str(), want, text.as_str()))
        .collect();
    let dr = support::wait_gates(&drs, "seed-http", TIMEOUT, &expected).await;
    eprintln!(
        "{state}: every seed http gate {want} {:.1}s after the readiness object was created",
        started.elapsed().as_secs_f64()
    );
    for g in &dr.status.as_ref().unwrap().gates {
        eprintln!("  {} {}: {}", g.result, g.name, g.message);
    }

    // Every item Required: the answers alone make the object Ready or not.
    let ready = if healthy { "True" } else { "False" };
    wait_until(
        &drs,
        "seed-http",
        &format!("to be Ready={ready}"),
        TIMEOUT,
        |dr| ready_is(dr, ready),
    )
    .await;

    let hits = host.hits().expect("the test host answers");
    let missed: Vec<String> = routes
        .iter()
        .map(Route::hits_key)
        .filter(|key| !hits.contains_key(key))
        .collect();
    assert!(
        missed.is_empty(),
        "the test host saw no request for {missed:?}; it saw {hits:?}"
    );
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn every_seed_http_gate_passes_through_the_operator_on_the_healthy_answers() {
    judge(true).await;
}

#[tokio::test]
async fn every_seed_http_gate_fails_through_the_operator_on_the_unhealthy_answers() {
    judge(false).await;
}
