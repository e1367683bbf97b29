//! Unit-test helpers shared by the checks: a snapshot from multi-document YAML (first
//! workload as the target), a check evaluated against it, or against a bare pod spec.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodSpec;

use crate::checks::{Check, Context};
use crate::engine::{Outcome, Snapshot, Source};
use crate::manifests::{ManifestSet, parse_stream};

/// `assumed` as `(kind, name)`, e.g. `("Secret", "api-keys")`.
pub fn snapshot(yaml: &str, source: Source, assumed: &[(&str, &str)]) -> Snapshot {
    let mut set = ManifestSet::default();
    for doc in parse_stream("test.yaml", yaml).unwrap() {
        set.add(&doc, "default").unwrap();
    }
    let ns = set.namespaces.get("default").unwrap();
    let workload = ns.workloads.first().unwrap().0.clone();
    let assumed: BTreeSet<(String, String)> = assumed
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    let mut snapshot = set.snapshot_for(
        "default",
        &workload,
        "2026-06-01T00:00:00Z".parse().unwrap(),
        &assumed,
    );
    snapshot.source = source;
    snapshot
}

pub fn evaluate(check: &dyn Check, snapshot: &Snapshot) -> Outcome {
    let workload = snapshot.workload.as_ref().unwrap();
    let empty_pod = PodSpec::default();
    let empty_labels = BTreeMap::new();
    let cx = Context {
        snapshot,
        workload,
        pod: workload.pod_spec().unwrap_or(&empty_pod),
        pod_labels: workload.pod_labels().unwrap_or(&empty_labels),
        readiness: "test",
        checklist: "inline",
        item: "item",
    };
    check.evaluate(&cx)
}

/// The messages of a Fail, for assertions.
pub fn fail_messages(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Fail(findings) => findings.iter().map(|f| f.message.clone()).collect(),
        other => panic!("expected Fail, got {other:?}"),
    }
}

/// Evaluate a check against a pod spec alone (Deployment `api` with these template labels).
pub fn judge_pod(check: &dyn Check, pod_yaml: &str, labels: &[(&str, &str)]) -> Outcome {
    let pod: PodSpec = serde_yaml_ng::from_str(pod_yaml).unwrap();
    let deployment: k8s_openapi::api::apps::v1::Deployment =
        serde_yaml_ng::from_str("{metadata: {name: api}}").unwrap();
    let snapshot = Snapshot::new("default", jiff::Timestamp::UNIX_EPOCH, Source::Cluster);
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    check.evaluate(&Context {
        snapshot: &snapshot,
        workload: &deployment.into(),
        pod: &pod,
        pod_labels: &labels,
        readiness: "api",
        checklist: "inline",
        item: "item",
    })
}
