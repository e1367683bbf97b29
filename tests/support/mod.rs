//! Shared support for gonogo's integration tests: a real Kubernetes control
//! plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
//! kwok fake nodes), built from Go modules by `tests/cluster/build.sh` and
//! started once per test process by `tests/cluster/cmd/launcher`.
//!
//! Use it from an integration test file with `mod support;`:
//!
//! ```ignore
//! mod support;
//! use support::{cluster, TestNamespace, TIMEOUT};
//!
//! #[tokio::test]
//! async fn something() {
//!     let cluster = cluster();                       // started on first use
//!     let client = cluster.client().await;           // a kube::Client for this test's runtime
//!     let ns = TestNamespace::new(&client, "something").await; // deleted on drop
//!     cluster.kubectl(&["get", "pods", "-n", &ns.name]).await;
//! }
//! ```
//!
//! Environment:
//! - `GONOGO_TEST_KUBECONFIG`: use this existing cluster instead of starting one.
//! - `GONOGO_CLUSTER_BIN`: directory with the binaries (set by `tests/run.sh`);
//!   without it the first test runs `tests/cluster/build.sh` (needs Go).
//! - `GONOGO_CLUSTER_KEEP=1`: keep the launcher's working directory (logs).
//!
//! Missing tools make tests fail with a message naming what to install; they
//! never skip.
#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// Default timeout for waits in tests: generous for a loaded 2-core CI box.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How long starting the control plane may take (not counting the build).
const START_TIMEOUT: Duration = Duration::from_secs(180);

const INSTALL_GO: &str = "install Go >= 1.26 (https://go.dev/dl/) and put `go` on PATH, \
     or run the tests through tests/run.sh";

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ cluster

/// The control plane shared by every test in this process.
pub struct Cluster {
    kubeconfig: PathBuf,
    /// True when we started it (false for `GONOGO_TEST_KUBECONFIG`).
    launched: bool,
    /// Private HOME-like directory for helm's cache/config/data.
    scratch: PathBuf,
}

/// The shared control plane, started (and, if needed, built) on first call.
/// Blocks; panics with the reason if the cluster cannot be had.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start_cluster) {
        Ok(c) => c,
        Err(msg) => panic!("test control plane unavailable: {msg}"),
    }
}

fn start_cluster() -> Result<Cluster, String> {
    remove_stale_scratch_dirs();
    let scratch = std::env::temp_dir().join(format!("gonogo-test-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    if let Some(path) = std::env::var_os("GONOGO_TEST_KUBECONFIG").filter(|p| !p.is_empty()) {
        let kubeconfig = PathBuf::from(path);
        if !kubeconfig.is_file() {
            return Err(format!(
                "GONOGO_TEST_KUBECONFIG={} is not a file",
                kubeconfig.display()
            ));
        }
        return Ok(Cluster {
            kubeconfig,
            launched: false,
            scratch,
        });
    }

    let launcher = bin_dir()?.join("launcher");
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<Result<PathBuf, String>>();
    // The launcher shuts down when its stdin closes (this process exits) and
    // also when the thread that spawned it dies (PR_SET_PDEATHSIG is per
    // thread), so spawn it from a thread that lives as long as the process:
    // this one waits on the child forever.
    std::thread::Builder::new()
        .name("gonogo-cluster".into())
        .spawn(move || {
            let mut child = match Command::new(&launcher)
                // Its own process group: a SIGKILL aimed at the test's group
                // (a CI timeout) then reaches the launcher as stdin EOF and it
                // still cleans up instead of dying with its temp dir in place.
                .process_group(0)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
            {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot run {}: {e}", launcher.display())));
                    return;
                }
            };
            let _stdin = child.stdin.take(); // held open until the process exits
            let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
            let mut sent = false;
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("READY ") {
                    let kubeconfig = rest
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix("kubeconfig="))
                        .map(PathBuf::from);
                    let _ = tx.send(kubeconfig.ok_or_else(|| format!("bad READY line: {line}")));
                    sent = true;
                    break;
                }
            }
            for _ in lines {} // drain until the launcher exits
            let status = child.wait();
            if !sent {
                let _ = tx.send(Err(format!(
                    "the launcher exited before the cluster was ready ({status:?}); its stderr above says why"
                )));
            }
        })
        .map_err(|e| format!("spawning the launcher thread: {e}"))?;

    let kubeconfig = match rx.recv_timeout(START_TIMEOUT) {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "the control plane was not ready within {START_TIMEOUT:?}"
            ));
        }
    };
    eprintln!(
        "support: control plane ready in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        kubeconfig.display()
    );
    Ok(Cluster {
        kubeconfig,
        launched: true,
        scratch,
    })
}

/// Removes `gonogo-test-<pid>` scratch directories of test processes that
/// are gone (nothing runs at process exit to remove them).
fn remove_stale_scratch_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("gonogo-test-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The directory with etcd, kube-apiserver, kubectl, helm, kstatus, launcher…:
/// `$GONOGO_CLUSTER_BIN`, or the output of `tests/cluster/build.sh`.
pub fn bin_dir() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GONOGO_CLUSTER_BIN").filter(|p| !p.is_empty()) {
            let dir = PathBuf::from(dir);
            if !dir.join("kubectl").is_file() {
                return Err(format!(
                    "GONOGO_CLUSTER_BIN={} holds no kubectl; rerun tests/cluster/build.sh",
                    dir.display()
                ));
            }
            return Ok(dir);
        }
        let script = repo_root().join("tests/cluster/build.sh");
        eprintln!(
            "support: GONOGO_CLUSTER_BIN is not set; running {} (a cold build takes a while)",
            script.display()
        );
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}); {INSTALL_GO}",
                script.display(),
                out.status
            ));
        }
        let dir = String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
        if dir.is_empty() {
            return Err(format!("{} printed no bin directory", script.display()));
        }
        Ok(PathBuf::from(dir))
    })
    .clone()
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// A kstatus verdict: `status` is InProgress, Current, Failed, Terminating or Unknown.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Kstatus {
    pub status: String,
    pub message: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl Cluster {
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// True when this process started the control plane (false when it came
    /// from `GONOGO_TEST_KUBECONFIG`).
    pub fn launched(&self) -> bool {
        self.launched
    }

    /// A new client for the calling test's tokio runtime (clients must not
    /// outlive the runtime they were made on, so do not share one across tests).
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("loading {}: {e}", self.kubeconfig.display()));
        Client::try_from(config).unwrap_or_else(|e| panic!("building a client: {e}"))
    }

    /// Path of one of the built tools (kubectl, helm, kstatus, ...); panics
    /// with what to install if it is missing.
    pub fn tool(&self, name: &str) -> PathBuf {
        let dir = bin_dir().unwrap_or_else(|e| panic!("{name} unavailable: {e}"));
        let path = dir.join(name);
        assert!(
            path.is_file(),
            "{} is missing; rerun tests/cluster/build.sh ({INSTALL_GO})",
            path.display()
        );
        path
    }

    /// A `Command` for a built tool with this cluster's kubeconfig and a
    /// private helm home.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.tool(tool));
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.scratch.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.scratch.join("helm/config"))
            .env("HELM_DATA_HOME", self.scratch.join("helm/data"));
        cmd
    }

    /// Runs a tool without blocking the test's runtime; never panics on a
    /// non-zero exit (see `run`).
    pub async fn try_run(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        let mut cmd = self.command(tool);
        cmd.args(args);
        let stdin = stdin.map(str::to_owned);
        let what = format!("{tool} {}", args.join(" "));
        tokio::task::spawn_blocking(move || run_command(cmd, stdin.as_deref(), &what))
            .await
            .expect("command thread panicked")
    }

    /// Runs a tool and returns its stdout; panics with its stderr on failure.
    pub async fn run(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.try_run(tool, args, stdin).await;
        assert!(
            out.success(),
            "`{tool} {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            out.stderr,
            out.stdout
        );
        out.stdout
    }

    pub async fn kubectl(&self, args: &[&str]) -> String {
        self.run("kubectl", args, None).await
    }

    /// `kubectl apply -f -` (or any args) with `yaml` on stdin.
    pub async fn kubectl_stdin(&self, args: &[&str], yaml: &str) -> String {
        self.run("kubectl", args, Some(yaml)).await
    }

    pub async fn try_kubectl(&self, args: &[&str]) -> CmdOutput {
        self.try_run("kubectl", args, None).await
    }

    pub async fn helm(&self, args: &[&str]) -> String {
        self.run("helm", args, None).await
    }

    /// kstatus verdict of a live object, e.g. `kstatus(ns, "deployment", "web")`.
    pub async fn kstatus(&self, namespace: &str, resource: &str, name: &str) -> Kstatus {
        let out = self
            .run(
                "kstatus",
                &["-o", "json", "-n", namespace, resource, name],
                None,
            )
            .await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("parsing kstatus output {out:?}: {e}"))
    }

    /// kstatus verdict of one object given as YAML (offline, no cluster).
    pub async fn kstatus_yaml(&self, yaml: &str) -> Kstatus {
        let out = self
            .run("kstatus", &["-o", "json", "-f", "-"], Some(yaml))
            .await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("parsing kstatus output {out:?}: {e}"))
    }

    /// Applies `crds/*.yaml` (server-side) and waits until they are Established.
    pub async fn apply_crds(&self) {
        let dir = repo_root().join("crds");
        assert!(
            dir.is_dir(),
            "{} does not exist: generate the CRDs first",
            dir.display()
        );
        let dir = dir.to_string_lossy().into_owned();
        self.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", &dir])
            .await;
        self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            &dir,
        ])
        .await;
    }
}

fn run_command(mut cmd: Command, stdin: Option<&str>, what: &str) -> CmdOutput {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        })
    });
    let mut stderr = String::new();
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let _ = err_pipe.read_to_string(&mut stderr);
        stderr
    });
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout);
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("waiting for `{what}`: {e}"));
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stderr = err_reader.join().unwrap_or_default();
    CmdOutput {
        status,
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------- namespace

/// A random lowercase suffix (std only: the hasher is randomly keyed per
/// process; time and a counter keep values distinct within one).
pub fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    let mut n = h.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8)
        .map(|_| {
            let c = alphabet[(n % alphabet.len() as u64) as usize] as char;
            n /= alphabet.len() as u64;
            c
        })
        .collect()
}

/// A fresh namespace for one test, `<prefix>-<random>`, labelled
/// `gonogo.dev/test=true`. Deleted (without waiting) on drop unless the test
/// panicked, so a failed test's objects stay for inspection on a long-lived
/// cluster.
pub struct TestNamespace {
    pub name: String,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    /// Creates the namespace and waits for its default ServiceAccount (pods
    /// are rejected until the controller manager has created it).
    pub async fn new(client: &Client, prefix: &str) -> TestNamespace {
        let name = format!("{prefix}-{}", random_suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "gonogo.dev/test": "true" } }
        }))
        .expect("namespace object");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        wait_until(
            &sa,
            "default",
            "to be created by the controller manager",
            TIMEOUT,
            |_| true,
        )
        .await;
        TestNamespace {
            name,
            kubeconfig: cluster().kubeconfig.clone(),
        }
    }

    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "support: keeping namespace {} of the failed test",
                self.name
            );
            return;
        }
        if let Ok(kubectl) = bin_dir().map(|d| d.join("kubectl")) {
            let _ = Command::new(kubectl)
                .env("KUBECONFIG", &self.kubeconfig)
                .args([
                    "delete",
                    "namespace",
                    &self.name,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

// -------------------------------------------------------------------- waits

/// Polls `name` through `api` until `cond` holds, and returns the object.
/// Panics after `timeout` naming the object, what was awaited and the last
/// state seen (or the last error).
pub async fn wait_until<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&K) -> bool,
) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug + serde::Serialize,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let ns = api.namespace().map(|n| format!("{n}/")).unwrap_or_default();
    let deadline = Instant::now() + timeout;
    let mut last: String;
    loop {
        match api.get_opt(name).await {
            Ok(Some(obj)) if cond(&obj) => return obj,
            Ok(Some(obj)) => {
                last = serde_yaml_ng::to_string(&obj).unwrap_or_else(|_| format!("{obj:?}"))
            }
            Ok(None) => last = "not found".into(),
            Err(e) => last = format!("error: {e}"),
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {kind} {ns}{name} {what}; last seen:\n{last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Retries `f` until it returns `Ok`, and returns that value. Panics after
/// `timeout` with `what` and the last `Err`.
pub async fn eventually<T, E, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

// ------------------------------------------------------- common conditions

/// Deployment Available=True for its current generation, all replicas ready.
pub fn deployment_available(d: &Deployment) -> bool {
    let (Some(spec), Some(status)) = (&d.spec, &d.status) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    status.observed_generation == d.metadata.generation
        && status.ready_replicas.unwrap_or(0) == want
        && status.updated_replicas.unwrap_or(0) == want
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True")
}

pub fn pod_ready(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

pub fn pvc_bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

/// Deletes an object, ignoring "not found".
pub async fn delete_ignore_missing<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => panic!("deleting {name}: {e}"),
    }
}

/// A typed object from test YAML, panicking with the YAML on error.
pub fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("test YAML: {e}\n{yaml}"))
}

/// One replica of one container `api` running `image`, labelled and selected by `app: name`.
pub fn single_container_deployment(name: &str, image: &str) -> Deployment {
    from_yaml(&format!(
        r#"
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: api, image: "{image}"}}
"#
    ))
}

// ------------------------------------------------------------------ gonogo objects

/// The condition `type_` of a DeploymentReadiness: (status, reason, message).
pub fn condition(dr: &DeploymentReadiness, type_: &str) -> Option<(String, String, String)> {
    dr.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Whether the Ready condition has `status` for the object's current generation.
pub fn ready_is(dr: &DeploymentReadiness, status: &str) -> bool {
    dr.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == dr.metadata.generation)
        && condition(dr, "Ready").is_some_and(|(s, _, _)| s == status)
}

/// The Secret `api-keys` (key `OPENAI_API_KEY`) the e2e Deployments read.
pub fn api_keys() -> Secret {
    from_yaml("metadata: {name: api-keys}\nstringData: {OPENAI_API_KEY: sk-test}\n")
}

/// The message of the gate `name` in a DeploymentReadiness's status ("" when absent).
pub fn gate_message(dr: &DeploymentReadiness, name: &str) -> String {
    dr.status
        .iter()
        .flat_map(|s| s.gates.iter())
        .find(|g| g.name == name)
        .map(|g| g.message.clone())
        .unwrap_or_default()
}

/// Whether a Deployment's rollout is paused.
pub fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// Waits until every `(gate, result, message substring)` holds at once; on timeout, names
/// each one that does not, with what the gate says instead.
pub async fn wait_gates(
    drs: &Api<DeploymentReadiness>,
    name: &str,
    timeout: Duration,
    expected: &[(&str, gonogo::api::GateOutcome, &str)],
) -> DeploymentReadiness {
    let deadline = Instant::now() + timeout;
    loop {
        let dr = drs
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("reading DeploymentReadiness {name}: {e}"));
        let unmet: Vec<String> = expected
            .iter()
            .filter_map(|(g, result, text)| {
                match dr
                    .status
                    .iter()
                    .flat_map(|s| s.gates.iter())
                    .find(|s| s.name == *g)
                {
                    Some(s) if s.result == *result && s.message.contains(text) => None,
                    Some(s) => Some(format!(
                        "  {g}: want {result} with {text:?}, got {}: {}",
                        s.result, s.message
                    )),
                    None => Some(format!("  {g}: not reported yet")),
                }
            })
            .collect();
        if unmet.is_empty() {
            return dr;
        }
        assert!(
            Instant::now() < deadline,
            "after {timeout:?}, gates of DeploymentReadiness {name} not as expected:\n{}",
            unmet.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
