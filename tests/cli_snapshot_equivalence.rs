//! The offline snapshot holds only a Deployment's related objects (see `manifests::set`). That
//! filter must never change a verdict: every fixture of every check kind, and the examples,
//! are judged against the filtered snapshot and against the whole namespace, and the reports
//! must be identical. New fixtures of any check kind are covered automatically.
//!
//! `cel` gates are compared too: the filter holds every object of the lists an expression uses
//! (`engine::dependencies`), so `size(configMaps)` is the same both ways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gonogo::api::ReadinessChecklist;
use gonogo::engine::{Checklists, Source, evaluate};
use gonogo::manifests::{ManifestSet, Mentions, parse_stream};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

fn load(texts: &[(String, String)]) -> ManifestSet {
    let mut set = ManifestSet::default();
    for (name, text) in texts {
        for doc in parse_stream(name, text).unwrap_or_else(|e| panic!("{e}")) {
            set.add(&doc, "default").unwrap_or_else(|e| panic!("{e}"));
        }
    }
    set
}

/// Judge every DeploymentReadiness and the baseline both ways; return the differences.
fn compare(label: &str, set: &ManifestSet, now: jiff::Timestamp) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    let baseline: Vec<Arc<ReadinessChecklist>> = gonogo::cli::verdicts::baseline()
        .cloned()
        .into_iter()
        .collect();
    let baseline_mentions = Mentions::of(&baseline[0].spec);
    let assumed = BTreeSet::new();
    for (ns_name, ns) in &set.namespaces {
        let checklists = Checklists {
            namespaced: &ns.checklists,
            cluster: &set.cluster_checklists,
        };
        for (workload, _) in &ns.workloads {
            let name = workload.name().to_string();
            for source in [Source::Cluster, Source::Manifests] {
                let mut filtered = set.snapshot_for(ns_name, workload, now, &assumed);
                let mut full = set.full_snapshot_for(ns_name, workload, now, &assumed);
                filtered.source = source;
                full.source = source;
                differences.extend(missing_related(label, &name, &filtered, &full));
                for (readiness, _) in ns
                    .readiness
                    .iter()
                    .filter(|(r, _)| workload.is(r.spec.target_ref.kind(), &r.spec.target_ref.name))
                {
                    compared += 1;
                    let a = evaluate(readiness, checklists, &filtered);
                    let b = evaluate(readiness, checklists, &full);
                    if a != b {
                        differences.push(format!("{label}: {ns_name}/{name} ({source:?}):\n  filtered: {a:?}\n  full:     {b:?}"));
                    }
                }
                // The baseline, as `gonogo check` applies it to a Deployment without readiness.
                let mut extra = baseline_mentions.clone();
                extra.readiness.insert(name.clone());
                let mut filtered = set.snapshot_with(ns_name, workload, now, &assumed, &extra);
                filtered.source = source;
                let mut readiness = gonogo::api::DeploymentReadiness::new(
                    &name,
                    serde_json::from_value(serde_json::json!({"targetRef": {"name": name}, "checklists": [{"name": "baseline"}]})).unwrap(),
                );
                readiness.metadata.namespace = Some(ns_name.clone());
                let checklists = Checklists {
                    namespaced: &baseline,
                    cluster: &[],
                };
                compared += 1;
                let a = evaluate(&readiness, checklists, &filtered);
                let b = evaluate(&readiness, checklists, &full);
                if a != b {
                    differences.push(format!("{label}: {ns_name}/{name} baseline ({source:?}):\n  filtered: {a:?}\n  full:     {b:?}"));
                }
            }
        }
    }
    (compared, differences)
}

#[test]
fn the_snapshot_filter_never_changes_a_verdict() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let mut compared = 0;
    let mut differences = Vec::new();

    let mut fixtures = Vec::new();
    yaml_files(&root.join("tests/fixtures/checks"), &mut fixtures);
    fixtures.sort();
    for file in &fixtures {
        let text = std::fs::read_to_string(file).unwrap();
        let (n, d) = compare(
            &file.display().to_string(),
            &load(&[(file.display().to_string(), text)]),
            now,
        );
        compared += n;
        differences.extend(d);
    }
    // Every fixture at once: objects of one fixture must not leak into another's verdicts.
    let all: Vec<(String, String)> = fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // One namespace per fixture, as they reuse names.
            let text = std::fs::read_to_string(f).unwrap();
            (
                f.display().to_string(),
                namespaced(&text, &format!("fixture-{i}")),
            )
        })
        .collect();
    let (n, d) = compare("all fixtures together", &load(&all), now);
    compared += n;
    differences.extend(d);

    for example in ["examples/app", "examples/broken"] {
        let mut files = Vec::new();
        yaml_files(&root.join(example), &mut files);
        yaml_files(&root.join("examples/checklists"), &mut files);
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.display().to_string(), std::fs::read_to_string(f).unwrap()))
            .collect();
        let (n, d) = compare(example, &load(&texts), now);
        compared += n;
        differences.extend(d);
    }
    let (n, d) = compare(
        "tricky selectors",
        &load(&[("tricky.yaml".into(), TRICKY.into())]),
        now,
    );
    compared += n;
    differences.extend(d);

    assert!(compared > 10, "only {compared} comparisons");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// Independent of the check catalog: every object that selects the pods, scales the
/// Deployment or is referenced by name from its template must be in the filtered snapshot.
fn missing_related(
    label: &str,
    name: &str,
    filtered: &gonogo::engine::Snapshot,
    full: &gonogo::engine::Snapshot,
) -> Vec<String> {
    use gonogo::engine::pod::{map_selector_matches, selector_matches};
    let workload = full.workload.as_ref().unwrap();
    let labels = workload.pod_labels().cloned().unwrap_or_default();
    let template = serde_json::to_string(&workload.to_value()["spec"]).unwrap();
    let names = |objects: Vec<Option<String>>| -> BTreeSet<String> {
        objects.into_iter().flatten().collect()
    };
    let mut missing = Vec::new();
    let mut expect = |kind: &str, wanted: BTreeSet<String>, have: BTreeSet<String>| {
        for w in wanted.difference(&have) {
            missing.push(format!(
                "{label}: Deployment {name}: {kind} {w} missing from the filtered snapshot"
            ));
        }
    };
    expect(
        "Service",
        names(
            full.services
                .iter()
                .filter(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|sel| map_selector_matches(sel, &labels))
                })
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .services
                .iter()
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
    );
    expect(
        "PodDisruptionBudget",
        names(
            full.pdbs
                .iter()
                .filter(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|sel| selector_matches(sel, &labels))
                })
                .map(|p| p.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .pdbs
                .iter()
                .map(|p| p.metadata.name.clone())
                .collect(),
        ),
    );
    expect(
        "NetworkPolicy",
        names(
            full.network_policies
                .iter()
                .filter(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.pod_selector.as_ref())
                        .is_some_and(|sel| selector_matches(sel, &labels))
                })
                .map(|p| p.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .network_policies
                .iter()
                .map(|p| p.metadata.name.clone())
                .collect(),
        ),
    );
    expect(
        "HorizontalPodAutoscaler",
        names(
            gonogo::engine::pod::hpa_for(full, workload)
                .map(|h| h.metadata.name.clone())
                .into_iter()
                .collect(),
        ),
        names(
            filtered
                .hpas
                .iter()
                .map(|h| h.metadata.name.clone())
                .collect(),
        ),
    );
    // Referenced by name: quoted in the serialized template.
    let quoted = |n: &Option<String>| {
        n.as_ref()
            .is_some_and(|n| template.contains(&format!("\"{n}\"")))
    };
    expect(
        "Secret",
        names(
            full.secrets
                .iter()
                .filter(|s| quoted(&s.metadata.name))
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .secrets
                .iter()
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
    );
    expect(
        "ConfigMap",
        names(
            full.config_maps
                .iter()
                .filter(|s| quoted(&s.metadata.name))
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .config_maps
                .iter()
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
    );
    expect(
        "PersistentVolumeClaim",
        names(
            full.pvcs
                .iter()
                .filter(|s| quoted(&s.metadata.name))
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
        names(
            filtered
                .pvcs
                .iter()
                .map(|s| s.metadata.name.clone())
                .collect(),
        ),
    );
    missing
}

/// Put every object of a fixture in its own namespace.
fn namespaced(text: &str, namespace: &str) -> String {
    let mut out = String::new();
    for doc in parse_stream("x", text).unwrap() {
        let mut value = doc.value;
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.insert("namespace".into(), namespace.into());
        }
        out.push_str("---\n");
        out.push_str(&serde_json::to_string(&value).unwrap());
        out.push('\n');
    }
    out
}

/// Selectors the index must not miss: expressions only, `{}`, null, shared labels, a Service
/// selecting a superset of the pod labels, an Ingress routing to a Service by name.
const TRICKY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: web, release: r1}}
    spec:
      containers: [{name: api, image: "api:1", readinessProbe: {tcpSocket: {port: 80}}, livenessProbe: {tcpSocket: {port: 80}}}]
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: expr}, spec: {selector: {matchExpressions: [{key: app, operator: In, values: [api]}]}, maxUnavailable: 1}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: everything}, spec: {selector: {}, maxUnavailable: 1}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: nothing}, spec: {maxUnavailable: 1}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: release}, spec: {selector: {matchLabels: {release: r1}}, maxUnavailable: 1}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: too-narrow}, spec: {selector: {matchLabels: {release: r1, app: api, canary: "true"}}, maxUnavailable: 1}}
---
{apiVersion: v1, kind: Service, metadata: {name: wide}, spec: {selector: {release: r1}, ports: [{port: 80}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: other}, spec: {selector: {app: other, release: r1}, ports: [{port: 80}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: all-pods}, spec: {podSelector: {}, policyTypes: [Ingress]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web-tier}, spec: {podSelector: {matchExpressions: [{key: tier, operator: Exists}]}, policyTypes: [Ingress, Egress]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: wide}
spec:
  tls: [{secretName: wide-tls}]
  defaultBackend: {service: {name: wide, port: {number: 80}}}
---
{apiVersion: v1, kind: Secret, metadata: {name: wide-tls}, type: kubernetes.io/tls}
---
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  items:
    - {name: pdb, podDisruptionBudget: {}}
    - {name: netpol, networkPolicy: {policyTypes: [Ingress, Egress]}}
    - {name: svc, service: {}}
    - {name: svc-named, service: {name: other}}
    - {name: tls, tlsCertificate: {}}
    - {name: probes, probes: {}}
    - {name: cel, cel: {expression: "size(pdbs) > 3"}}
"#;
