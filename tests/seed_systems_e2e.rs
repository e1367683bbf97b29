//! The seed systems on the real control plane: each examples/<system>/healthy set and its
//! checklist applied as they ship, `gonogo run` judging them against a real Prometheus holding
//! the systems' metrics (tests/seed_metrics). Every gate of the seed checklist that a cluster
//! of fake nodes can show — the static ones, `rollout`, `readyReplicas`, `service` ready
//! endpoints, `pvcsBound`, `tlsCertificate` and every `prometheus` gate — passes on the
//! healthy system (a `prometheus` gate held `for` an hour is Unknown while it holds); then,
//! with a certificate 4 days from expiry and the unhealthy metrics, every `prometheus` gate
//! and every certificate gate asking for more days fail.
//!
//! The seeds' cluster checklists (Nodes, a StorageClass) pass on the test cluster's kwok nodes.
//! The `job` and `resource` gates read what other controllers make: the cluster's own Job and
//! CronJob controllers run the migration Jobs and one run of each backup CronJob (kwok completes
//! Job pods); the PrometheusRule, cert-manager Certificate and ExternalSecret kinds get
//! CRDs of their own, and the test writes the Ready condition cert-manager and External Secrets
//! would.
//!
//! `http` gates need answers from the pods (kwok pods answer nothing): tests/seed_http_gates.rs
//! probes them against the seeds' documented answers, and tests/seed_http_gates_e2e.rs shows
//! them through the operator against a test host giving those answers. Approvals need a person.

mod operator;
mod seed_metrics;
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gonogo::api::{DeploymentReadiness, GateOutcome};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use operator::{Operator, install};
use seed_metrics::{Server, healthy, unhealthy};
use serde_json::json;
use support::{TestNamespace, cluster, eventually, from_yaml, repo_root};

use GateOutcome::{Fail, Pass, Unknown};

/// A self-signed certificate for `names`, valid from yesterday for `days` more days, and its
/// key (as tests/live_gates_e2e.rs makes them).
fn certificate(names: &[&str], days: i64) -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let date = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
    };
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = date(today.yesterday().unwrap());
    params.not_after = date(today.checked_add(jiff::Span::new().days(days)).unwrap());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn tls_secret(name: &str, host: &str, days: i64) -> String {
    let (cert, key) = certificate(&[host], days);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(&cert),
        indent(&key)
    )
}

/// The gate results of the readiness object, by name, once its status is of this generation.
async fn gates(drs: &Api<DeploymentReadiness>, name: &str) -> Vec<(String, GateOutcome, String)> {
    let Ok(dr) = drs.get(name).await else {
        return Vec::new();
    };
    let Some(status) = dr.status.as_ref() else {
        return Vec::new();
    };
    status
        .gates
        .iter()
        .map(|g| (g.name.clone(), g.result, g.message.clone()))
        .collect()
}

/// Waits until every `(gate, result)` holds at once; on timeout names those that do not.
async fn wait_for(
    drs: &Api<DeploymentReadiness>,
    name: &str,
    expected: &[(String, GateOutcome)],
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let now = gates(drs, name).await;
        let unmet: Vec<String> = expected
            .iter()
            .filter_map(|(gate, want)| {
                let got = now.iter().find(|(n, _, _)| n == gate);
                match got {
                    Some((_, result, _)) if result == want => None,
                    Some((_, result, message)) => {
                        Some(format!("{gate}: {result:?} ({message}), want {want:?}"))
                    }
                    None => Some(format!("{gate}: not reported, want {want:?}")),
                }
            })
            .collect();
        if unmet.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "DeploymentReadiness {name}, after {timeout:?}:\n{}",
            unmet.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One seed system as the test applies it.
struct System {
    name: &'static str,
    /// The readiness object bound to the seed's checklist.
    readiness: &'static str,
    /// The TLS Secret cert-manager would make, and its host.
    tls: (&'static str, &'static str),
    /// Claims to give a PersistentVolume: (name, storage class, size).
    claims: &'static [(&'static str, &'static str, &'static str)],
}

const SYSTEMS: [System; 5] = [
    System {
        name: "kato",
        readiness: "kato",
        tls: ("kato-tls", "kato.example.com"),
        claims: &[],
    },
    System {
        name: "ai-etl",
        readiness: "ai-etl-backend",
        tls: ("ai-etl-tls", "app.ai-etl.example.com"),
        claims: &[("ai-etl-uploads", "efs-sc", "200Gi")],
    },
    System {
        name: "knowledgebeast",
        readiness: "knowledgebeast-green",
        tls: ("knowledgebeast-tls", "api.knowledgebeast.com"),
        claims: &[("knowledgebeast-data", "", "100Gi")],
    },
    System {
        name: "kailash",
        readiness: "doc-workflows",
        tls: ("doc-workflows-tls", "workflows.example.com"),
        claims: &[],
    },
    System {
        name: "st-risk",
        readiness: "st-risk-api",
        tls: ("st-risk-api-tls", "api.prod.example.com"),
        claims: &[],
    },
];

/// Days the unhealthy certificate is valid for (so 4 whole days left).
const SHORT_DAYS: i64 = 5;

/// An item of a seed checklist: name, check kind, and for `prometheus` whether it is held
/// `for` a duration, for `tlsCertificate` its `minDaysValid`.
struct Item {
    name: String,
    kind: String,
    held: bool,
    min_days: i64,
}

/// The seed's checklist files: its ReadinessChecklist, and its ClusterReadinessChecklist (the
/// cluster-scoped kinds) when it has one.
fn checklist_files(system: &str) -> Vec<PathBuf> {
    [format!("{system}.yaml"), format!("{system}-cluster.yaml")]
        .into_iter()
        .map(|f| repo_root().join("examples/checklists").join(f))
        .filter(|p| p.exists())
        .collect()
}

fn checklist_items(system: &str) -> Vec<Item> {
    checklist_files(system)
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            doc["spec"]["items"].as_sequence().unwrap().clone()
        })
        .map(|item| {
            let item = &item;
            let map = item.as_mapping().unwrap();
            let kind = map
                .keys()
                .filter_map(|k| k.as_str())
                .find(|k| !["name", "description", "severity", "phase"].contains(k))
                .unwrap()
                .to_string();
            Item {
                name: item["name"].as_str().unwrap().to_string(),
                held: item[kind.as_str()].get("for").is_some(),
                min_days: item[kind.as_str()]
                    .get("minDaysValid")
                    .and_then(|d| d.as_i64())
                    .unwrap_or(0),
                kind,
            }
        })
        .collect()
}

/// What the healthy system shows for a gate: `None` for gates this cluster cannot show
/// (`http`: kwok pods answer nothing; `approval`: a person signs).
fn healthy_result(item: &Item) -> Option<GateOutcome> {
    match item.kind.as_str() {
        // The test cluster runs no resource metrics API: an HPA's ScalingActive stays False.
        "http" | "approval" | "hpa" => None,
        // A gate held `for` an hour cannot pass within a test: Unknown while it holds.
        "prometheus" if item.held => Some(Unknown),
        _ => Some(Pass),
    }
}

/// What the unhealthy system shows: every prometheus gate fails, and every certificate gate
/// asking for more days than the short certificate has.
fn unhealthy_result(item: &Item) -> Option<GateOutcome> {
    match item.kind.as_str() {
        "prometheus" => Some(Fail),
        "tlsCertificate" if item.min_days >= SHORT_DAYS - 1 => Some(Fail),
        "tlsCertificate" => Some(Pass),
        _ => None,
    }
}

/// The custom resource kinds the seed systems use, as (group, version, kind, plural): the
/// projects' CRDs cut to a schema that keeps any field, with the status subresource.
const CUSTOM_KINDS: [(&str, &str, &str, &str); 3] = [
    (
        "monitoring.coreos.com",
        "v1",
        "PrometheusRule",
        "prometheusrules",
    ),
    ("cert-manager.io", "v1", "Certificate", "certificates"),
    (
        "external-secrets.io",
        "v1beta1",
        "ExternalSecret",
        "externalsecrets",
    ),
];

async fn install_custom_kinds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("seed-systems-e2e").force();
    for (group, version, kind, plural) in CUSTOM_KINDS {
        let crd: CustomResourceDefinition = from_yaml(&format!(
            r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
  - name: {version}
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
            singular = kind.to_lowercase()
        ));
        crds.patch(&format!("{plural}.{group}"), &apply, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|e| panic!("CRD {plural}.{group}: {e}"));
    }
    // Established before a set naming these kinds is applied.
    for (group, _, _, plural) in CUSTOM_KINDS {
        let name = format!("{plural}.{group}");
        eventually(
            &format!("CRD {name} established"),
            Duration::from_secs(60),
            || {
                let crds = crds.clone();
                let name = name.clone();
                async move {
                    let crd = crds.get(&name).await.map_err(|e| e.to_string())?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    if established {
                        Ok(())
                    } else {
                        Err("not established".to_string())
                    }
                }
            },
        )
        .await;
    }
}

/// What cert-manager and External Secrets would do with the set's objects (Ready), and one run
/// of each CronJob, made by the cluster's Job controller and recorded by its CronJob controller
/// as `status.lastSuccessfulTime`.
async fn act_as_the_other_controllers(client: &kube::Client, n: &str) {
    for (group, version, kind, plural) in &CUSTOM_KINDS[1..] {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), n, &resource);
        for object in objects.list(&Default::default()).await.unwrap() {
            let name = object.metadata.name.unwrap();
            let now = jiff::Timestamp::now().to_string();
            objects
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": [{
                        "type": "Ready", "status": "True", "reason": "Ready",
                        "message": "set by the test as its controller would",
                        "lastTransitionTime": now}]}})),
                )
                .await
                .unwrap_or_else(|e| panic!("{kind} {name}: status: {e}"));
        }
    }
    let cron_jobs: Api<CronJob> = Api::namespaced(client.clone(), n);
    for cron_job in cron_jobs.list(&Default::default()).await.unwrap() {
        let name = cron_job.metadata.name.unwrap();
        cluster()
            .kubectl(&[
                "create",
                "job",
                "-n",
                n,
                &format!("{name}-e2e"),
                &format!("--from=cronjob/{name}"),
            ])
            .await;
    }
}

async fn apply(n: &str, yaml: &str) {
    cluster()
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], yaml)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_live_gates_pass_on_the_healthy_systems_and_fail_on_unhealthy_ones() {
    let (good, bad) = tokio::join!(Server::start("15d"), Server::start("7d"));
    let (good_series, bad_series) = (healthy(), unhealthy());
    tokio::join!(good.push(&good_series), bad.push(&bad_series));
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    install_custom_kinds(&client).await;
    // The StorageClass ai-etl's uploads claim asks for, as the cluster's storage setup makes it.
    cluster
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: efs-sc}\nprovisioner: efs.csi.aws.com\n",
        )
        .await;

    for system in &SYSTEMS {
        let ns = TestNamespace::new(&client, &format!("seed-{}", system.name)).await;
        let n = ns.name.as_str();
        let good_url = good.url();
        let mut operator = Operator::start(
            cluster,
            &format!("seed-{}", system.name),
            &["--namespace", n, "--prometheus-url", &good_url],
        )
        .await;

        // Volumes for the claims (the test cluster has no provisioner) and the certificate
        // cert-manager would make.
        for (claim, class, size) in system.claims {
            let volume = format!(
                "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {n}-{claim}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteMany]\n  storageClassName: \"{class}\"\n  hostPath: {{path: /tmp/{n}-{claim}}}\n  claimRef: {{namespace: {n}, name: {claim}}}\n"
            );
            cluster.kubectl_stdin(&["apply", "-f", "-"], &volume).await;
        }
        apply(n, &tls_secret(system.tls.0, system.tls.1, 91)).await;
        // The checklist, then the readiness objects with `enforcement: Annotate` (their
        // approvals stay missing, and a hold would keep the Deployments from rolling out),
        // then the system as examples/ ships it.
        let dir = repo_root().join(format!("examples/{}/healthy", system.name));
        for checklist in checklist_files(system.name) {
            apply(n, &std::fs::read_to_string(checklist).unwrap()).await;
        }
        let readiness = std::fs::read_to_string(dir.join("readiness.yaml"))
            .unwrap()
            .replace("\nspec:\n", "\nspec:\n  enforcement: Annotate\n");
        apply(n, &readiness).await;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|f| f != "readiness.yaml"))
            .collect();
        files.sort();
        for file in files {
            apply(n, &std::fs::read_to_string(file).unwrap()).await;
        }
        act_as_the_other_controllers(&client, n).await;

        let drs: Api<DeploymentReadiness> = ns.api(&client);
        let items = checklist_items(system.name);
        let expected: Vec<(String, GateOutcome)> = items
            .iter()
            .filter_map(|i| Some((i.name.clone(), healthy_result(i)?)))
            .collect();
        wait_for(&drs, system.readiness, &expected, Duration::from_secs(180)).await;

        // Unhealthy: a certificate with 4 days left, and the unhealthy metrics.
        apply(n, &tls_secret(system.tls.0, system.tls.1, SHORT_DAYS)).await;
        operator.stop(false);
        drop(operator);
        let bad_url = bad.url();
        let _operator = Operator::start(
            cluster,
            &format!("seed-{}-unhealthy", system.name),
            &["--namespace", n, "--prometheus-url", &bad_url],
        )
        .await;
        let expected: Vec<(String, GateOutcome)> = items
            .iter()
            .filter_map(|i| Some((i.name.clone(), unhealthy_result(i)?)))
            .collect();
        wait_for(&drs, system.readiness, &expected, Duration::from_secs(180)).await;
    }
}
