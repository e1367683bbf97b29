//! Runs the real `gonogo run` binary against the test control plane, as the chart's
//! ServiceAccount (impersonated through the kubeconfig), with its own metrics port and log.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Cluster, repo_root};

pub const SERVICE_ACCOUNT: &str = "system:serviceaccount:gonogo-system:gonogo";

/// Installs what the operator needs once per test process: CRDs, the chart's RBAC, the
/// admission policy that holds rollouts.
pub async fn install(cluster: &Cluster) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        cluster.apply_crds().await;
        cluster
            .kubectl_stdin(
                &["apply", "-f", "-"],
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: gonogo-system}\n",
            )
            .await;
        let rbac = repo_root().join("deploy/rbac.yaml");
        cluster
            .kubectl(&["apply", "--server-side", "-f", &rbac.to_string_lossy()])
            .await;
        let admission = repo_root().join("deploy/admission/hold-rollouts.yaml");
        cluster
            .kubectl(&["apply", "--server-side", "-f", &admission.to_string_lossy()])
            .await;
        policy_in_force(cluster).await;
    })
    .await;
}

/// The API server takes a moment to load a new admission policy (and its params): wait until a
/// server-side dry run of a targeted Deployment comes back held.
async fn policy_in_force(cluster: &Cluster) {
    cluster
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: gonogo-policy-probe}\n---\n\
             apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\n\
             metadata: {name: probe, namespace: gonogo-policy-probe}\n\
             spec: {targetRef: {name: probe}, items: [{name: image, image: {}}]}\n",
        )
        .await;
    let probe = "apiVersion: apps/v1\nkind: Deployment\n\
        metadata: {name: probe, namespace: gonogo-policy-probe}\n\
        spec: {selector: {matchLabels: {app: probe}}, template: {metadata: {labels: {app: probe}}, \
        spec: {containers: [{name: app, image: registry.k8s.io/pause:3.10}]}}}\n";
    let start = Instant::now();
    loop {
        let admitted = cluster
            .kubectl_stdin(
                &[
                    "create",
                    "--dry-run=server",
                    "-o",
                    "jsonpath={.spec.paused}",
                    "-f",
                    "-",
                ],
                probe,
            )
            .await;
        if admitted.trim() == "true" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the hold-rollouts admission policy is not in force after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The shipped webhook objects (`deploy/admission/hold-rollouts-webhook.yaml`: its RBAC and
/// MutatingWebhookConfiguration), registered with a `url` to this host's operator on `port`
/// and the given `failurePolicy`.
pub fn webhook_objects(port: u16, failure_policy: &str) -> String {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(repo_root().join("deploy/admission/hold-rollouts-webhook.yaml"))
            .expect("deploy/admission/hold-rollouts-webhook.yaml");
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut value = serde_yaml_ng::Value::deserialize(doc).expect("yaml document");
        if value.is_null() {
            continue;
        }
        if value["kind"] == "MutatingWebhookConfiguration" {
            // Deployments, and StatefulSets with DaemonSets.
            for webhook in value["webhooks"].as_sequence_mut().expect("webhooks") {
                webhook["clientConfig"] = serde_yaml_ng::from_str(&format!(
                    "{{url: 'https://127.0.0.1:{port}/hold-rollouts'}}"
                ))
                .unwrap();
                webhook["failurePolicy"] = failure_policy.into();
            }
        }
        out.push(serde_yaml_ng::to_string(&value).unwrap());
    }
    out.join("---\n")
}

/// The chart's leader-election Role and RoleBinding (from `deploy/rbac.yaml`) for the Lease
/// `lease` instead of the chart's: they grant `get` and `update` of that one Lease by name, so
/// a test electing on a Lease of its own needs its own copy.
pub async fn grant_lease(cluster: &Cluster, lease: &str) {
    let rbac = std::fs::read_to_string(repo_root().join("deploy/rbac.yaml")).expect("rbac");
    let docs: String = rbac
        .split("\n---\n")
        .filter(|d| d.contains("# Source: gonogo/templates/leader-election-rbac.yaml"))
        .map(|d| {
            format!(
                "---\n{}\n",
                d.replace("\"gonogo-controller\"", &format!("\"{lease}\""))
                    .replace("name: gonogo-leader-election", &format!("name: {lease}"))
            )
        })
        .collect();
    assert!(
        docs.contains(&format!("resourceNames: [\"{lease}\"]")),
        "{docs}"
    );
    cluster
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &docs)
        .await;
}

/// The API server's URL in the admin kubeconfig (`https://127.0.0.1:PORT`).
pub fn api_server_url(cluster: &Cluster) -> String {
    let admin = std::fs::read_to_string(cluster.kubeconfig()).expect("admin kubeconfig");
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&admin).expect("kubeconfig yaml");
    config["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("clusters[0].cluster.server")
        .to_string()
}

/// A kubeconfig that impersonates the chart's ServiceAccount, reaching the API server at
/// `server` when given (a fault-injecting proxy) instead of the cluster's own address.
fn impersonating_kubeconfig(cluster: &Cluster, name: &str, server: Option<&str>) -> PathBuf {
    let admin = std::fs::read_to_string(cluster.kubeconfig()).expect("admin kubeconfig");
    let mut config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&admin).expect("kubeconfig yaml");
    if let Some(server) = server {
        for c in config["clusters"].as_sequence_mut().expect("clusters") {
            c["cluster"]["server"] = server.into();
        }
    }
    for user in config["users"].as_sequence_mut().expect("users") {
        user["user"]["as"] = SERVICE_ACCOUNT.into();
        user["user"]["as-groups"] = serde_yaml_ng::to_value([
            "system:serviceaccounts",
            "system:serviceaccounts:gonogo-system",
            "system:authenticated",
        ])
        .unwrap();
    }
    let path = std::env::temp_dir().join(format!(
        "gonogo-operator-{name}-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).expect("write kubeconfig");
    path
}

pub struct Operator {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
    args: Vec<String>,
    kubeconfig: PathBuf,
}

/// A port free on 127.0.0.1 now (for the operator's metrics or webhook server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Operator {
    /// Starts `gonogo run` with `args` and waits until /readyz answers 200.
    pub async fn start(cluster: &Cluster, name: &str, args: &[&str]) -> Operator {
        Operator::start_via(cluster, name, args, None).await
    }

    /// [`Operator::start`], reaching the API server at `server` when given.
    pub async fn start_via(
        cluster: &Cluster,
        name: &str,
        args: &[&str],
        server: Option<&str>,
    ) -> Operator {
        let kubeconfig = impersonating_kubeconfig(cluster, name, server);
        let log =
            std::env::temp_dir().join(format!("gonogo-operator-{name}-{}.log", std::process::id()));
        let mut operator = Operator {
            child: None,
            port: 0,
            log,
            args: args.iter().map(|s| s.to_string()).collect(),
            kubeconfig,
        };
        operator.spawn().await;
        operator
    }

    async fn spawn(&mut self) {
        self.port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_gonogo"));
        command
            .arg("run")
            .args(&self.args)
            .args(["--metrics-address", &format!("127.0.0.1:{}", self.port)])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("GONOGO_LOG", "info,gonogo=debug")
            .env("POD_NAMESPACE", "gonogo-system")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // A killed test process must not leave an operator running against the next run's
        // cluster. The signal follows the spawning thread: the test's own thread, which
        // outlives the Operator anyway.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start gonogo run");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = http_get(self.port, "/readyz") {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("gonogo run exited with {status}; log:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "gonogo run not ready after 60s; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM and wait (graceful shutdown), or SIGKILL with `kill`.
    pub fn stop(&mut self, kill: bool) {
        if let Some(mut child) = self.child.take() {
            let signal = if kill { "-KILL" } else { "-TERM" };
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.stop(false);
        self.spawn().await;
    }

    /// How the process ended, once it has (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of a counter or gauge from /metrics (summing every label set).
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = http_get(self.port, "/metrics").expect("GET /metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }

    /// The operator must never have been refused by RBAC.
    pub fn assert_no_forbidden(&self) {
        let log = self.log_text();
        let forbidden: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("forbidden") || l.contains("Forbidden"))
            .collect();
        assert!(
            forbidden.is_empty(),
            "the operator hit RBAC errors:\n{}",
            forbidden.join("\n")
        );
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop(true);
        if std::thread::panicking() {
            eprintln!("operator log {}:\n{}", self.log.display(), self.log_text());
        }
    }
}

/// A minimal HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// What most gate tests start from: the operator installed and watching a namespace of its own,
/// which holds a one-container Deployment `api`.
pub struct WatchedNamespace {
    pub client: kube::Client,
    pub ns: crate::support::TestNamespace,
    pub operator: Operator,
    pub drs: kube::Api<gonogo::api::DeploymentReadiness>,
    pub deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment>,
}

/// The operator watching a new namespace named after `prefix`, with the Deployment `api`.
pub async fn watched_namespace_with_api(prefix: &str) -> WatchedNamespace {
    watched_namespace_with_api_and_args(prefix, &[]).await
}

/// [`watched_namespace_with_api`], the operator started with `args` besides `--namespace`.
pub async fn watched_namespace_with_api_and_args(prefix: &str, args: &[&str]) -> WatchedNamespace {
    let cluster = crate::support::cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = crate::support::TestNamespace::new(&client, prefix).await;
    let mut all = vec!["--namespace", ns.name.as_str()];
    all.extend_from_slice(args);
    let operator = Operator::start(cluster, prefix, &all).await;
    let drs = ns.api(&client);
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> = ns.api(&client);
    deployments
        .create(
            &Default::default(),
            &crate::support::single_container_deployment("api", "registry.k8s.io/pause:3.10"),
        )
        .await
        .expect("the Deployment api is created");
    WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments,
    }
}
