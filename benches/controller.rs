//! The operator at scale, against the real control plane (tests/cluster): N Deployments, each
//! with a DeploymentReadiness whose Secret is missing (so every one is held), one fresh control
//! plane per N.
//!
//! Prints, per N: the bench's own creation time; the operator's convergence from a cold start
//! (clock from process start, after every object exists, until every DeploymentReadiness has a
//! status for its generation and every Deployment is paused with gonogo's annotations); CPU of
//! the operator, kube-apiserver and etcd meanwhile; p50/p99 latency from a Secret being created
//! to Ready=True and unpause; RSS; writes at steady state; and API requests per object, counted
//! by the API server itself: its audit log (by user agent `gonogo/…`) and its priority-and-
//! fairness metrics (a FlowSchema matching only the operator's ServiceAccount).
//!
//!     GONOGO_CLUSTER_BIN=$(tests/cluster/build.sh) cargo bench --bench controller
//!
//! With GONOGO_BENCH_MODE=resource, each DeploymentReadiness has instead two `resource` gates
//! over a custom resource kind (cert-manager's Certificate, its CRD installed by the bench) with
//! GONOGO_BENCH_OBJECTS objects (default 5000; 100 under `cargo test`): its own Certificate
//! `cert-<i>` Ready (none is at first, so every Deployment is held), and at least one
//! Certificate labelled with its team (a selector matching 1 in 50). The change measured is then
//! one Certificate's status becoming Ready.
//!
//! Environment: GONOGO_BENCH_N (comma-separated sizes, default 1000,5000; 20 under
//! `cargo test`), GONOGO_BENCH_CONCURRENCY (the operator's --concurrency, default 16),
//! GONOGO_BENCH_SAMPLES (latency samples, default 200), GONOGO_BENCH_STEADY (seconds of steady
//! state observed, default 60), GONOGO_BENCH_APISERVER_PROFILE (a file: the API server's CPU
//! profile over the first 15 s of convergence, for `go tool pprof -top`).
//!
//! GONOGO_BENCH_HOLD selects what holds rollouts at admission: `policy` (default: the
//! MutatingAdmissionPolicy installed as the chart does; the API server matches it against every
//! DeploymentReadiness of the namespace on each Deployment write, which at N = 1000 in one
//! namespace is most of its CPU), `none` (the policy's binding deleted, to tell the API
//! server's cost of it from gonogo's own) or `webhook` (the binding deleted and the chart's
//! MutatingWebhookConfiguration registered with `failurePolicy: Fail`, served by the operator
//! under test: `holdRolloutsWith: webhook`). In `policy` and `webhook` modes the bench also
//! times 30 held writes (a server-side dry run of a new pod template of a held Deployment) and
//! checks each comes back held.
//!
//! The API server is started through a wrapper (kube-apiserver with extra flags) that the
//! launcher's `--bin` picks up: audit log at level Metadata, and priority and fairness on (the
//! launcher turns it off for the tests; real clusters run with it).

#[path = "../tests/operator/mod.rs"]
mod operator;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gonogo::api::DeploymentReadiness;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

const USER_AGENT_PREFIX: &str = "gonogo/";
/// Held writes timed at the end (GONOGO_BENCH_HOLD `policy` or `webhook`).
const HELD_WRITES: usize = 30;
/// Objects the bench creates at once.
const CREATE_CONCURRENCY: usize = 32;

/// What every DeploymentReadiness waits for.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Its Deployment's Secret (missing until the change).
    Secret,
    /// Two `resource` gates over `objects` Certificates: its own one Ready (none is until the
    /// change), and one of its team's (a label selector).
    Resource { objects: usize },
}

/// Teams the Certificates are labelled with: a team selector matches 1 in TEAMS.
const TEAMS: usize = 50;

fn certificates_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    )
}

/// The Certificate CRD (any content, a status subresource) and `objects` Certificates, none
/// Ready.
async fn create_certificates(client: &Client, namespace: &str, objects: usize) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = yaml(
        "metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, plural: certificates, singular: certificate, listKind: CertificateList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
",
    );
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create the Certificate CRD");
    let certificates: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &certificates_resource());
    let certificate = |j: usize| -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": format!("cert-{j}"), "labels": {"team": format!("t{}", j % TEAMS)}},
            "spec": {"secretName": format!("cert-{j}"), "dnsNames": [format!("app-{j}.example.com")],
                     "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"}},
        }))
        .expect("a Certificate")
    };
    // Served a moment after the CRD is created.
    wait_for_async(
        "the Certificate kind to be served",
        Duration::from_secs(60),
        || {
            let certificates = certificates.clone();
            let first = certificate(0);
            async move {
                certificates
                    .create(&PostParams::default(), &first)
                    .await
                    .is_ok()
            }
        },
    )
    .await;
    futures::stream::iter(1..objects)
        .map(|j| {
            let certificates = certificates.clone();
            let object = certificate(j);
            async move {
                certificates
                    .create(&PostParams::default(), &object)
                    .await
                    .expect("create Certificate");
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<()>()
        .await;
}

/// The change of the resource mode: Certificate `cert-<i>` becomes Ready.
async fn certificate_ready(certificates: &Api<DynamicObject>, i: usize) {
    let now = Timestamp::now().to_string();
    certificates
        .patch_status(
            &format!("cert-{i}"),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "issued", "lastTransitionTime": now}
            ]}})),
        )
        .await
        .expect("Certificate status");
}

fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_yaml_ng::from_str(s).expect("bench YAML")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) of one process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the command name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

/// Processes of this control plane (their command lines name its working directory), by name.
fn control_plane_pids(dir: &Path) -> BTreeMap<String, u32> {
    let dir = dir.to_string_lossy();
    let mut pids = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().skip(1).any(|a| a.contains(dir.as_ref())) {
            let name = args
                .first()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("?")
                .to_string();
            if [
                "kube-apiserver",
                "etcd",
                "kube-controller-manager",
                "kwok",
                "kube-scheduler",
            ]
            .contains(&name.as_str())
            {
                pids.insert(name, pid);
            }
        }
    }
    pids
}

// ------------------------------------------------------------ the instrumented control plane

/// A bin directory like the real one, whose kube-apiserver is a wrapper adding the audit log
/// and priority and fairness, and whose launcher uses that directory.
struct Instrumented {
    dir: PathBuf,
    audit_log: PathBuf,
}

const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# The control plane's own components: not what is measured, and most of the volume.
- level: None
  users: [system:kube-scheduler, system:kube-controller-manager, system:apiserver]
- level: None
  userGroups: [system:nodes]
- level: Metadata
";

fn instrument() -> Instrumented {
    let real = match std::env::var_os("GONOGO_CLUSTER_BIN").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let script = support::repo_root().join("tests/cluster/build.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("run tests/cluster/build.sh");
            assert!(out.status.success(), "tests/cluster/build.sh failed");
            PathBuf::from(
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .lines()
                    .last()
                    .expect("bin dir"),
            )
        }
    };
    let dir = std::env::temp_dir().join(format!("gonogo-bench-bin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench bin dir");
    for tool in [
        "etcd",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "kubectl",
        "helm",
        "kstatus",
    ] {
        std::os::unix::fs::symlink(real.join(tool), dir.join(tool)).expect("symlink tool");
    }
    let audit_log = dir.join("audit.log");
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, AUDIT_POLICY).expect("audit policy");
    let script = |name: &str, body: String| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod wrapper");
    };
    // Later flags win: these override the launcher's --enable-priority-and-fairness=false.
    script(
        "kube-apiserver",
        format!(
            "exec '{}' \"$@\" --enable-priority-and-fairness=true --profiling=true --audit-policy-file='{}' --audit-log-path='{}' --audit-log-maxsize=2000",
            real.join("kube-apiserver").display(),
            policy.display(),
            audit_log.display()
        ),
    );
    script(
        "launcher",
        format!(
            "exec '{}' --bin '{}' \"$@\"",
            real.join("launcher").display(),
            dir.display()
        ),
    );
    Instrumented { dir, audit_log }
}

/// The FlowSchema that gives the operator's requests their own line in the API server's
/// `apiserver_flowcontrol_dispatched_requests_total`.
const FLOW_SCHEMA: &str = "\
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: gonogo-bench}
spec:
  matchingPrecedence: 1000
  priorityLevelConfiguration: {name: workload-low}
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {name: gonogo, namespace: gonogo-system}
    resourceRules:
    - {verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*']}
    nonResourceRules:
    - {verbs: ['*'], nonResourceURLs: ['*']}
";

/// The API server's own metrics for the operator's FlowSchema: (requests dispatched, requests
/// rejected by priority and fairness).
async fn apiserver_counters(client: &Client) -> (f64, f64) {
    let text = client
        .request_text(http_request("/metrics"))
        .await
        .expect("GET /metrics");
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.split(['{', ' ']).next() == Some(name)
                    && l.contains("flow_schema=\"gonogo-bench\"")
            })
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    (
        sum("apiserver_flowcontrol_dispatched_requests_total"),
        sum("apiserver_flowcontrol_rejected_requests_total"),
    )
}

fn http_request(path: &str) -> axum::http::Request<Vec<u8>> {
    axum::http::Request::get(path)
        .body(Vec::new())
        .expect("request")
}

// ------------------------------------------------------------------------- audit log

#[derive(Default)]
struct Requests {
    /// Watches (long-running), counted once each.
    watches: u64,
    reads: u64,
    writes: u64,
    /// Answered 429 Too Many Requests.
    throttled: u64,
    by_verb_resource: BTreeMap<String, u64>,
}

impl Requests {
    fn total(&self) -> u64 {
        self.reads + self.writes
    }

    fn breakdown(&self) -> String {
        let mut v: Vec<_> = self.by_verb_resource.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The operator's requests (user agent `gonogo/…`) received in `[from, to)`, from the audit log.
fn audit_requests(log: &Path, from: Timestamp, to: Timestamp) -> Requests {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut seen = HashSet::new();
    let mut out = Requests::default();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if !ev["userAgent"]
            .as_str()
            .is_some_and(|a| a.starts_with(USER_AGENT_PREFIX))
        {
            continue;
        }
        let Some(at) = ev["requestReceivedTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
        else {
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        // A watch has two stages (ResponseStarted, ResponseComplete): count the request once.
        if !seen.insert(ev["auditID"].as_str().unwrap_or_default().to_string()) {
            continue;
        }
        let verb = ev["verb"].as_str().unwrap_or("?");
        let resource = match (
            ev["objectRef"]["resource"].as_str(),
            ev["objectRef"]["subresource"].as_str(),
        ) {
            (Some(r), Some(s)) => format!("{r}/{s}"),
            (Some(r), None) => r.to_string(),
            _ => ev["requestURI"]
                .as_str()
                .unwrap_or("?")
                .split('?')
                .next()
                .unwrap_or("?")
                .to_string(),
        };
        // A watch may get 429 while a custom resource's watch cache (re)initializes; that is
        // not throttling.
        if ev["responseStatus"]["code"].as_u64() == Some(429) && verb != "watch" {
            out.throttled += 1;
        }
        match verb {
            "watch" => out.watches += 1,
            "create" | "update" | "patch" | "delete" | "deletecollection" => out.writes += 1,
            _ => out.reads += 1,
        }
        *out.by_verb_resource
            .entry(format!("{verb} {resource}"))
            .or_default() += 1;
    }
    out
}

// ----------------------------------------------------------------------------- the run

/// What the bench's own watches saw, and when.
#[derive(Default)]
struct Seen {
    evaluated: HashSet<String>,
    held: HashSet<String>,
    converged_at: Option<Instant>,
    ready_at: HashMap<String, Instant>,
    unpaused_at: HashMap<String, Instant>,
}

fn evaluated(d: &DeploymentReadiness) -> bool {
    d.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == d.metadata.generation)
}

fn ready(d: &DeploymentReadiness) -> bool {
    evaluated(d)
        && d.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused) == Some(true)
}

/// Held by gonogo: paused, and marked with gonogo's verdict.
fn held(d: &Deployment) -> bool {
    paused(d)
        && d.annotations()
            .get(gonogo::controller::ANNOTATION_BLOCKED)
            .is_some_and(|v| v == "true")
}

fn watch_all(
    drs: Api<DeploymentReadiness>,
    deployments: Api<Deployment>,
    n: usize,
) -> Arc<Mutex<Seen>> {
    let seen: Arc<Mutex<Seen>> = Default::default();
    let converged = move |s: &mut Seen| {
        if s.converged_at.is_none() && s.evaluated.len() == n && s.held.len() == n {
            s.converged_at = Some(Instant::now());
        }
    };
    let s = seen.clone();
    tokio::spawn(
        watcher(drs, watcher::Config::default())
            .applied_objects()
            .for_each(move |d| {
                if let Ok(d) = d {
                    let mut s = s.lock().unwrap();
                    let name = d.name_any();
                    if evaluated(&d) {
                        s.evaluated.insert(name.clone());
                    }
                    if ready(&d) {
                        s.ready_at.entry(name).or_insert_with(Instant::now);
                    }
                    converged(&mut s);
                }
                std::future::ready(())
            }),
    );
    let s = seen.clone();
    tokio::spawn(
        watcher(deployments, watcher::Config::default())
            .applied_objects()
            .for_each(move |d| {
                if let Ok(d) = d {
                    let mut s = s.lock().unwrap();
                    let name = d.name_any();
                    if held(&d) {
                        s.held.insert(name.clone());
                    } else if !paused(&d) && s.converged_at.is_some() {
                        s.unpaused_at.entry(name).or_insert_with(Instant::now);
                    }
                    converged(&mut s);
                }
                std::future::ready(())
            }),
    );
    seen
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_async<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(n: usize, full: bool, mode: Mode, audit_log: &Path) {
    let samples = env_or("GONOGO_BENCH_SAMPLES", if full { 200 } else { n }).min(n);
    let steady = Duration::from_secs(env_or("GONOGO_BENCH_STEADY", if full { 60 } else { 5 }));
    let concurrency: u16 = env_or("GONOGO_BENCH_CONCURRENCY", 16);
    let load_start = load();

    let cluster = support::cluster();
    let cluster_dir = cluster
        .kubeconfig()
        .parent()
        .expect("cluster dir")
        .to_path_buf();
    operator::install(cluster).await;
    cluster
        .kubectl_stdin(&["apply", "-f", "-"], FLOW_SCHEMA)
        .await;
    let hold = HoldMode::from_env();
    if hold != HoldMode::Policy {
        cluster
            .kubectl(&[
                "delete",
                "mutatingadmissionpolicybinding",
                "gonogo-hold-rollouts",
            ])
            .await;
    }
    let client = cluster.client().await;
    let ns = support::TestNamespace::new(&client, "bench").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let secrets: Api<Secret> = ns.api(&client);
    let certificates: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns.name, &certificates_resource());

    // The bench's own work: every object exists before the operator starts.
    let t = Instant::now();
    if let Mode::Resource { objects } = mode {
        assert!(objects >= n, "GONOGO_BENCH_OBJECTS ({objects}) < N ({n})");
        create_certificates(&client, &ns.name, objects).await;
    }
    let created_certificates = t.elapsed();
    futures::stream::iter(0..n)
        .map(|i| {
            let deployments = deployments.clone();
            async move {
                // Zero replicas: the benchmark measures gonogo, not kwok's pod lifecycle.
                let d: Deployment = yaml(&format!(
                    "metadata: {{name: app-{i}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n        envFrom: [{{secretRef: {{name: secret-{i}}}}}]\n"
                ));
                deployments.create(&PostParams::default(), &d).await.expect("create Deployment");
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<()>()
        .await;
    let created_deployments = t.elapsed();
    futures::stream::iter(0..n)
        .map(|i| {
            let drs = drs.clone();
            async move {
                let items = match mode {
                    Mode::Secret => "[{name: secrets, secrets: {}}, {name: probes, probes: {readiness: false, liveness: false}}]".to_string(),
                    Mode::Resource { .. } => format!(
                        "[{{name: certificate, resource: {{apiVersion: cert-manager.io/v1, kind: Certificate, name: cert-{i}, condition: {{type: Ready}}}}}}, {{name: team-certificates, resource: {{apiVersion: cert-manager.io/v1, kind: Certificate, selector: {{matchLabels: {{team: t{}}}}}}}}}]",
                        i % TEAMS
                    ),
                };
                let r: DeploymentReadiness = yaml(&format!(
                    "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: app-{i}}}\nspec:\n  targetRef: {{name: app-{i}}}\n  items: {items}\n"
                ));
                drs.create(&PostParams::default(), &r).await.expect("create DeploymentReadiness");
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<()>()
        .await;
    let created = t.elapsed();

    // The controller manager has work of its own with new Deployments (a ReplicaSet each):
    // start the clock on a quiet control plane.
    wait_for_async(
        "the controller manager to observe every Deployment",
        Duration::from_secs(600),
        || async {
            let list = deployments
                .list(&Default::default())
                .await
                .expect("list Deployments");
            list.items
                .iter()
                .filter(|d| {
                    d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
                })
                .count()
                == n
        },
    )
    .await;
    let quiet = t.elapsed();
    let seen = watch_all(drs.clone(), deployments.clone(), n);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let pids = control_plane_pids(&cluster_dir);
    let cpu = |pids: &BTreeMap<String, u32>| {
        pids.iter()
            .map(|(k, p)| (k.clone(), cpu_seconds(*p)))
            .collect::<BTreeMap<_, _>>()
    };
    let (dispatched_0, rejected_0) = apiserver_counters(&client).await;
    let cpu_0 = cpu(&pids);
    let wall_0 = Timestamp::now();
    let start = Instant::now();
    let concurrency_arg = concurrency.to_string();
    let mut args = vec!["--namespace", &ns.name, "--concurrency", &concurrency_arg];
    let webhook_port = operator::free_port().to_string();
    if hold == HoldMode::Webhook {
        // Registered before the operator starts, which puts its CA into the caBundle: until
        // then the API server cannot call it, and `Fail` makes the held writes wait for it.
        cluster
            .kubectl_stdin(
                &["apply", "--server-side", "-f", "-"],
                &operator::webhook_objects(webhook_port.parse().unwrap(), "Fail"),
            )
            .await;
        args.extend([
            "--admission-webhook-port",
            &webhook_port,
            "--admission-webhook-host",
            "127.0.0.1",
        ]);
    }
    // Optionally, the API server's CPU profile during convergence (`go tool pprof -top FILE`).
    let profile = std::env::var_os("GONOGO_BENCH_APISERVER_PROFILE").map(|path| {
        let mut kubectl = cluster.command("kubectl");
        kubectl.args(["get", "--raw", "/debug/pprof/profile?seconds=15"]);
        std::thread::spawn(move || {
            let out = kubectl
                .output()
                .expect("kubectl get --raw /debug/pprof/profile");
            std::fs::write(&path, out.stdout).expect("write the API server profile");
        })
    });
    let operator = operator::Operator::start(cluster, "bench", &args).await;
    let pid = operator.pid().expect("operator pid");
    let synced = start.elapsed();
    wait_for(
        &format!("{n} DeploymentReadiness objects evaluated and Deployments held"),
        Duration::from_secs(900),
        || seen.lock().unwrap().converged_at.is_some(),
    )
    .await;
    let converged = seen.lock().unwrap().converged_at.expect("converged") - start;
    let cpu_1 = cpu(&pids);
    let operator_cpu_converge = cpu_seconds(pid);
    let (dispatched_1, rejected_1) = apiserver_counters(&client).await;
    let rss_converged = proc_status_kib(pid, "VmRSS:");
    let status_writes = operator.metric("gonogo_status_writes_total");
    let deployment_writes = operator.metric("gonogo_deployment_writes_total");
    let reconciles = operator.metric("gonogo_reconcile_duration_seconds_count");
    let load_converged = load();
    if let Some(profile) = profile {
        let _ = profile.join();
    }
    // Events go out after the writes that decide anything: wait until they are all sent too.
    wait_for_async(
        "the operator's queued events to be sent",
        Duration::from_secs(900),
        || async { operator.metric("gonogo_events_pending") == 0.0 },
    )
    .await;
    let idle = start.elapsed();
    // Let trailing reconciles (the operator's own writes coming back as watch events) finish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let wall_settled = Timestamp::now();

    // Latency: a relevant change (the missing Secret appears, or the Certificate becomes
    // Ready) → Ready=True and unpaused.
    let wall_changes = Timestamp::now();
    let mut created_at = Vec::new();
    for i in 0..samples {
        created_at.push((format!("app-{i}"), Instant::now()));
        match mode {
            Mode::Secret => {
                let s: Secret = yaml(&format!(
                    "metadata: {{name: secret-{i}}}\nstringData: {{KEY: v}}\n"
                ));
                secrets
                    .create(&PostParams::default(), &s)
                    .await
                    .expect("create Secret");
            }
            Mode::Resource { .. } => certificate_ready(&certificates, i).await,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = Vec::new();
    for (name, at) in &created_at {
        wait_for(
            &format!("{name} Ready and unpaused"),
            Duration::from_secs(120),
            || {
                let s = seen.lock().unwrap();
                match (s.ready_at.get(name), s.unpaused_at.get(name)) {
                    (Some(r), Some(u)) => {
                        latencies.push((*r).max(*u).duration_since(*at));
                        true
                    }
                    _ => false,
                }
            },
        )
        .await;
    }
    latencies.sort();
    wait_for_async(
        "the operator's queued events to be sent",
        Duration::from_secs(300),
        || async { operator.metric("gonogo_events_pending") == 0.0 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wall_changed = Timestamp::now();

    // Steady state: nothing changes; count what the operator does anyway.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = || {
        operator.metric("gonogo_status_writes_total")
            + operator.metric("gonogo_deployment_writes_total")
    };
    let writes_before = writes();
    let (dispatched_s0, _) = apiserver_counters(&client).await;
    let steady_0 = Timestamp::now();
    tokio::time::sleep(steady).await;
    let steady_1 = Timestamp::now();
    let (dispatched_s1, rejected_2) = apiserver_counters(&client).await;
    let steady_writes = writes() - writes_before;
    let rss = proc_status_kib(pid, "VmRSS:");
    let hwm = proc_status_kib(pid, "VmHWM:");
    let load_end = load();

    // A held write's admission: a new pod template of a targeted Deployment, as a server-side
    // dry run (nothing is written), timed from the client; it must come back held.
    let mut held_writes = Vec::new();
    if hold != HoldMode::None {
        let dry_run = PatchParams {
            dry_run: true,
            ..PatchParams::default()
        };
        for attempt in 0..HELD_WRITES {
            let patch = serde_json::json!({"spec": {"template": {"metadata": {
                "annotations": {"bench.gonogo.dev/attempt": attempt.to_string()}}}}});
            let t = Instant::now();
            let admitted = deployments
                .patch("app-0", &dry_run, &Patch::Merge(&patch))
                .await
                .expect("dry-run a new pod template");
            held_writes.push(t.elapsed());
            assert_eq!(
                admitted.spec.and_then(|s| s.paused),
                Some(true),
                "a new pod template of a targeted Deployment came back unheld"
            );
        }
        held_writes.sort();
    }

    let converge_requests = audit_requests(audit_log, wall_0, wall_settled);
    let steady_requests = audit_requests(audit_log, steady_0, steady_1);
    let change_requests = audit_requests(audit_log, wall_changes, wall_changed);
    let minutes = steady.as_secs_f64() / 60.0;
    let per_object = |x: f64| x / n as f64;

    let (what, change) = match mode {
        Mode::Secret => ("Secret missing".to_string(), "Secret created"),
        Mode::Resource { objects } => (
            format!(
                "2 resource gates over {objects} Certificates: its own not Ready, and one of its team's (1 in {TEAMS})"
            ),
            "Certificate Ready",
        ),
    };
    println!(
        "== {n} Deployments, each with a DeploymentReadiness ({what}); operator in namespace mode, --concurrency {concurrency}{}",
        hold.describe()
    );
    println!(
        "load average (1/5/15 min): at start {load_start}; at convergence {load_converged}; at the end {load_end}"
    );
    if let Mode::Resource { objects } = mode {
        println!(
            "bench creation: the Certificate CRD and {objects} Certificates in {:.1} s",
            created_certificates.as_secs_f64()
        );
    }
    println!(
        "bench creation: {n} Deployments in {:.1} s, then {n} DeploymentReadiness objects in {:.1} s ({CREATE_CONCURRENCY} at once); controller manager done after {:.1} s",
        (created_deployments - created_certificates).as_secs_f64(),
        (created - created_deployments).as_secs_f64(),
        quiet.as_secs_f64()
    );
    println!(
        "convergence from cold start: {:.2} s (caches synced and /readyz after {:.2} s; target < 30 s at 5k)",
        converged.as_secs_f64(),
        synced.as_secs_f64()
    );
    println!(
        "  operator: {reconciles} reconciles, {status_writes} status writes, {deployment_writes} Deployment writes, {operator_cpu_converge:.1} CPU-s; its events all sent after {:.2} s",
        idle.as_secs_f64()
    );
    println!(
        "  control plane CPU-s meanwhile: {}",
        cpu_1
            .iter()
            .map(|(k, v)| format!("{k} {:.1}", v - cpu_0.get(k).copied().unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  operator requests (audit log, user agent gonogo/*): {} ({:.2}/object) + {} watches; {}",
        converge_requests.total(),
        per_object(converge_requests.total() as f64),
        converge_requests.watches,
        converge_requests.breakdown()
    );
    println!(
        "  API server metrics: {} requests dispatched for the operator's FlowSchema (incl. watches), {} rejected by priority and fairness; {} answered 429 (audit log)",
        dispatched_1 - dispatched_0,
        rejected_1 - rejected_0,
        converge_requests.throttled
    );
    println!(
        "latency, {change} -> Ready=True and unpaused, {} samples 50 ms apart: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 1000 ms)",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("samples"))
    );
    println!(
        "  operator requests per change: {:.2} ({})",
        change_requests.total() as f64 / samples as f64,
        change_requests.breakdown()
    );
    println!(
        "RSS: {:.1} MiB at convergence, {:.1} MiB at the end, peak {:.1} MiB (target < {} MiB)",
        rss_converged as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        if mode == Mode::Secret { 200 } else { 250 }
    );
    println!(
        "steady state, {} s: {steady_writes} writes (target 0)",
        steady.as_secs()
    );
    println!(
        "  operator requests (audit log): {} = {:.4}/object/minute ({}), + {} watch requests; FlowSchema dispatched {} (incl. watches) = {:.4}/object/minute",
        steady_requests.total(),
        per_object(steady_requests.total() as f64) / minutes,
        if steady_requests.total() == 0 {
            "none".to_string()
        } else {
            steady_requests.breakdown()
        },
        steady_requests.watches,
        dispatched_s1 - dispatched_s0,
        per_object(dispatched_s1 - dispatched_s0) / minutes
    );
    assert!(
        converge_requests.writes > 0,
        "the audit log shows no writes by the operator: is its user agent set?"
    );
    assert_eq!(steady_writes, 0.0, "the controller writes at steady state");
    assert_eq!(
        rejected_2 - rejected_0,
        0.0,
        "priority and fairness rejected requests"
    );
    assert_eq!(
        converge_requests.throttled + change_requests.throttled + steady_requests.throttled,
        0,
        "the API server answered the operator 429"
    );
    if !held_writes.is_empty() {
        println!(
            "held write (new pod template, server-side dry run, {HELD_WRITES} in a row): p50 {:.1} ms, max {:.1} ms, all held",
            held_writes[held_writes.len() / 2].as_secs_f64() * 1e3,
            held_writes[held_writes.len() - 1].as_secs_f64() * 1e3,
        );
    }
    operator.assert_no_forbidden();
}

/// What holds rollouts at admission during the bench (GONOGO_BENCH_HOLD).
#[derive(Clone, Copy, PartialEq, Eq)]
enum HoldMode {
    Policy,
    None,
    Webhook,
}

impl HoldMode {
    fn from_env() -> HoldMode {
        match std::env::var("GONOGO_BENCH_HOLD").as_deref() {
            Ok("policy") | Err(_) => HoldMode::Policy,
            Ok("none") => HoldMode::None,
            Ok("webhook") => HoldMode::Webhook,
            Ok(other) => panic!("GONOGO_BENCH_HOLD: {other:?} is none of policy, none, webhook"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            HoldMode::Policy => "; rollouts held at admission by the MutatingAdmissionPolicy",
            HoldMode::None => "; the rollout-hold admission policy unbound",
            HoldMode::Webhook => {
                "; rollouts held at admission by gonogo's webhook (failurePolicy Fail)"
            }
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("GONOGO_BENCH_N")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| if full { vec![1000, 5000] } else { vec![20] });
    // One fresh control plane per size: run each in a child process of this same binary.
    if sizes.len() > 1 {
        for n in sizes {
            let status = Command::new(std::env::current_exe().expect("own path"))
                .args(std::env::args().skip(1))
                .env("GONOGO_BENCH_N", n.to_string())
                .status()
                .expect("run the bench for one size");
            assert!(status.success(), "the bench failed at N={n}");
        }
        return;
    }
    let n = sizes.first().copied().expect("GONOGO_BENCH_N: no size");
    let instrumented = instrument();
    // Before any thread exists: support reads the bin directory from the environment.
    unsafe { std::env::set_var("GONOGO_CLUSTER_BIN", &instrumented.dir) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mode = match std::env::var("GONOGO_BENCH_MODE").as_deref() {
        Ok("resource") => Mode::Resource {
            objects: env_or("GONOGO_BENCH_OBJECTS", if full { 5000 } else { 100 }),
        },
        Ok("secret") | Err(_) => Mode::Secret,
        Ok(other) => panic!("GONOGO_BENCH_MODE: {other:?} is neither secret nor resource"),
    };
    runtime.block_on(run(n, full, mode, &instrumented.audit_log));
    drop(runtime);
    let _ = std::fs::remove_dir_all(&instrumented.dir);
}
