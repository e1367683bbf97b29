//! The Helm chart on the real control plane: `helm install` of charts/gonogo, the operator run
//! as the chart's ServiceAccount with the chart's own flags, and an application released with its
//! DeploymentReadiness, proving what `helm install --wait` does in each state of the gates.
//!
//! kwok fakes the pods, so the chart's controller Deployment becomes Available without running;
//! the controller itself runs as a local process impersonating the chart's ServiceAccount.

mod operator;
mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use operator::{Operator, http_get};
use support::{
    Cluster, TIMEOUT, TestNamespace, api_keys, cluster, condition, deployment_available, repo_root,
    wait_until,
};

const RELEASE_NAMESPACE: &str = "gonogo-system";

/// The tests below each run an operator; one watches every namespace, so they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn chart() -> String {
    repo_root()
        .join("charts/gonogo")
        .to_string_lossy()
        .into_owned()
}

fn app_chart() -> String {
    repo_root()
        .join("tests/fixtures/charts/app")
        .to_string_lossy()
        .into_owned()
}

/// `helm upgrade --install` of the chart as release `gonogo` in gonogo-system, once per process.
/// Its ServiceAccount is `system:serviceaccount:gonogo-system:gonogo`, the identity
/// `operator::Operator` impersonates. `--take-ownership` adopts what tests/operator may have
/// applied from deploy/ on a shared cluster (GONOGO_TEST_KUBECONFIG).
async fn install_chart(cluster: &Cluster) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let started = Instant::now();
        let chart = chart();
        cluster
            .helm(&[
                "upgrade",
                "--install",
                "gonogo",
                &chart,
                "--namespace",
                RELEASE_NAMESPACE,
                "--create-namespace",
                "--take-ownership",
                "--set",
                "image.tag=0.1.0-e2e",
                "--set",
                "replicas=2",
                "--wait",
                "--timeout",
                "120s",
            ])
            .await;
        eprintln!(
            "chart: helm install --wait of charts/gonogo took {:.1}s",
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

/// The flags the chart gives `gonogo run`, without the subcommand and the metrics address
/// (the test harness picks a free port).
fn chart_args(deployment: &Deployment) -> Vec<String> {
    let container = &deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    args.into_iter()
        .skip(1)
        .filter(|a| !a.starts_with("--metrics-address"))
        .collect()
}

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("test YAML: {e}\n{yaml}"))
}

fn current(dr: &DeploymentReadiness) -> bool {
    dr.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == dr.metadata.generation)
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// `helm <verb> app tests/fixtures/charts/app --wait --timeout T` in `ns`, timed.
async fn helm_app(
    cluster: &Cluster,
    verb: &str,
    ns: &str,
    timeout: &str,
    extra: &[&str],
) -> (support::CmdOutput, Duration) {
    let chart = app_chart();
    let mut args = vec![
        verb,
        "app",
        chart.as_str(),
        "--namespace",
        ns,
        "--wait",
        "--timeout",
        timeout,
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = cluster.try_run("helm", &args, None).await;
    (out, started.elapsed())
}

// ------------------------------------------------------------------- tests

#[tokio::test]
async fn the_chart_runs_the_operator_and_helm_wait_follows_the_gates() {
    let _turn = SERIAL.lock().await;
    let cluster = cluster();
    install_chart(cluster).await;
    let client = cluster.client().await;

    // What the chart installed.
    for (kind, name, namespaced) in [
        ("serviceaccount", "gonogo", true),
        ("clusterrole", "gonogo-controller", false),
        ("clusterrolebinding", "gonogo-controller", false),
        ("role", "gonogo-leader-election", true),
        ("rolebinding", "gonogo-leader-election", true),
        ("service", "gonogo-metrics", true),
        ("poddisruptionbudget", "gonogo", true),
        ("mutatingadmissionpolicy", "gonogo-hold-rollouts", false),
        (
            "mutatingadmissionpolicybinding",
            "gonogo-hold-rollouts",
            false,
        ),
        ("validatingadmissionpolicy", "gonogo-approvals", false),
        (
            "validatingadmissionpolicybinding",
            "gonogo-approvals",
            false,
        ),
        ("crd", "deploymentreadinesses.gonogo.dev", false),
    ] {
        let mut args = vec!["get", kind, name, "-o", "name"];
        if namespaced {
            args.extend(["-n", RELEASE_NAMESPACE]);
        }
        cluster.kubectl(&args).await;
    }
    let sa = "system:serviceaccount:gonogo-system:gonogo";
    let can = |verb: &'static str, resource: &'static str, ns: Option<&'static str>| async move {
        let mut args = vec!["auth", "can-i", verb, resource, "--as", sa];
        match ns {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("--all-namespaces"),
        }
        cluster.try_kubectl(&args).await.stdout.trim() == "yes"
    };
    assert!(can("patch", "deployments.apps", None).await);
    assert!(can("watch", "secrets", None).await);
    assert!(
        !can("get", "secrets", None).await,
        "the controller only lists and watches Secrets"
    );
    assert!(!can("delete", "deployments.apps", None).await);
    assert!(
        !can("update", "deployments.apps", None).await,
        "the controller writes by server-side apply (patch) only"
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let controller = wait_until(
        &deployments,
        "gonogo",
        "to be Available through kwok",
        TIMEOUT,
        deployment_available,
    )
    .await;
    let args = chart_args(&controller);
    assert!(
        args.contains(&"--leader-election".to_string()),
        "2 replicas elect a leader: {args:?}"
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Exactly the chart's flags: every namespace, leader election on the chart's Lease.
    let operator = Operator::start(cluster, "chart", &args).await;
    support::eventually("the operator to lead", TIMEOUT, || async {
        if operator.log_text().contains("became leader") {
            Ok(())
        } else {
            Err("not yet leader")
        }
    })
    .await;

    docs_examples_are_valid(cluster, &client).await;

    // Each scenario hands back its namespace: deleting one while the operator still watches
    // would make its event writes fail (namespace terminating), which is not what is tested.
    let _namespaces = tokio::join!(
        failing_gate_holds_helm_wait(cluster, &client),
        passing_gates_let_helm_wait_succeed(cluster, &client),
        stalled_readiness_fails_helm_wait_fast(cluster, &client),
        approvals_are_signed_by_their_approver(cluster, &client),
    );
    operator.assert_no_forbidden();
    drop(operator);
}

/// Every gonogo.dev object in docs/*.md is accepted by the API server (dry run), so the docs
/// cannot drift from the CRDs.
async fn docs_examples_are_valid(cluster: &Cluster, client: &Client) {
    let ns = TestNamespace::new(client, "docs").await;
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for block in text
            .split("```yaml")
            .skip(1)
            .filter_map(|b| b.split("```").next())
        {
            let first_api = block
                .lines()
                .find(|l| l.starts_with("apiVersion:"))
                .unwrap_or_default();
            if !first_api.contains("gonogo.dev/") || block.contains("{{") {
                continue;
            }
            let out = cluster
                .try_run(
                    "kubectl",
                    &["create", "--dry-run=server", "-n", &ns.name, "-f", "-"],
                    Some(block),
                )
                .await;
            assert!(
                out.success(),
                "{} has an example the API server rejects:\n{block}\n{}",
                path.display(),
                out.stderr
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "docs examples found: {checked}");
}

/// A missing Secret: the hook created the DeploymentReadiness before the Deployment, so the
/// admission policy held the first ReplicaSet, and `helm install --wait` waits on the gates
/// until its timeout. Once the Secret exists, `helm upgrade --wait` succeeds.
async fn failing_gate_holds_helm_wait(cluster: &Cluster, client: &Client) -> TestNamespace {
    let ns = TestNamespace::new(client, "helm-fail").await;
    let (out, took) = helm_app(cluster, "install", &ns.name, "30s", &[]).await;
    eprintln!(
        "failing gate: helm install --wait --timeout 30s returned after {:.1}s",
        took.as_secs_f64()
    );
    assert!(
        !out.success(),
        "helm install --wait succeeded with a failing required gate:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("DeploymentReadiness")
            && out.stderr.contains("InProgress")
            && out.stderr.contains("Secret api-keys"),
        "helm's error should name the waiting DeploymentReadiness and the failing gate:\n{}",
        out.stderr
    );

    let drs: Api<DeploymentReadiness> = ns.api(client);
    let deployments: Api<Deployment> = ns.api(client);
    let dr = wait_until(
        &drs,
        "app",
        "to block on the missing Secret",
        TIMEOUT,
        |d| current(d) && d.status.as_ref().is_some_and(|s| s.blocking),
    )
    .await;
    assert_eq!(
        condition(&dr, "Ready").map(|c| c.0).as_deref(),
        Some("False")
    );
    let d = deployments.get("app").await.unwrap();
    assert!(paused(&d));
    assert_eq!(
        d.annotations()
            .get("gonogo.dev/paused-by-gonogo")
            .map(String::as_str),
        Some("true")
    );
    let replica_sets = ns
        .api::<ReplicaSet>(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        replica_sets.items.is_empty(),
        "the first ReplicaSet must be held: {:?}",
        replica_sets
            .items
            .iter()
            .map(|r| r.name_any())
            .collect::<Vec<_>>()
    );
    let kstatus = cluster
        .kstatus(&ns.name, "deploymentreadiness", "app")
        .await;
    assert_eq!(kstatus.status, "InProgress", "{kstatus:?}");

    // Sample output for docs/troubleshooting.md.
    let get = cluster
        .kubectl(&["get", "deploymentreadiness", "-n", &ns.name])
        .await;
    let describe = cluster
        .kubectl(&["describe", "deploymentreadiness", "app", "-n", &ns.name])
        .await;
    assert!(describe.contains("Secret api-keys"), "{describe}");
    let describe_deployment = cluster
        .kubectl(&["describe", "deployment", "app", "-n", &ns.name])
        .await;
    assert!(
        describe_deployment.contains("RolloutBlocked"),
        "{describe_deployment}"
    );
    eprintln!(
        "---- kubectl get deploymentreadiness\n{get}---- kubectl describe deploymentreadiness app\n{describe}\
         ---- kubectl describe deployment app\n{describe_deployment}----"
    );

    ns.api::<Secret>(client)
        .create(&PostParams::default(), &api_keys())
        .await
        .unwrap();
    let (out, took) = helm_app(cluster, "upgrade", &ns.name, "60s", &[]).await;
    assert!(
        out.success(),
        "helm upgrade --wait after the Secret appeared failed:\n{}",
        out.stderr
    );
    eprintln!(
        "failing gate fixed: helm upgrade --wait succeeded after {:.1}s",
        took.as_secs_f64()
    );
    let d = deployments.get("app").await.unwrap();
    assert!(!paused(&d) && deployment_available(&d), "{:?}", d.status);
    assert_eq!(
        cluster
            .kstatus(&ns.name, "deploymentreadiness", "app")
            .await
            .status,
        "Current"
    );
    ns
}

/// Every gate passes: `helm install --wait` returns once the DeploymentReadiness is Ready, which
/// includes the PostRollout `readyReplicas` gate, so the release is really up.
async fn passing_gates_let_helm_wait_succeed(cluster: &Cluster, client: &Client) -> TestNamespace {
    let ns = TestNamespace::new(client, "helm-pass").await;
    ns.api::<Secret>(client)
        .create(&PostParams::default(), &api_keys())
        .await
        .unwrap();
    let (out, took) = helm_app(cluster, "install", &ns.name, "60s", &[]).await;
    assert!(
        out.success(),
        "helm install --wait failed though every gate passes:\n{}",
        out.stderr
    );
    eprintln!(
        "passing gates: helm install --wait succeeded after {:.1}s",
        took.as_secs_f64()
    );
    let dr = ns
        .api::<DeploymentReadiness>(client)
        .get("app")
        .await
        .unwrap();
    assert!(
        current(&dr),
        "helm returned before gonogo judged the current generation: {:?}",
        dr.status
    );
    assert_eq!(
        condition(&dr, "Ready").map(|c| c.0).as_deref(),
        Some("True"),
        "{:?}",
        dr.status
    );
    // The release is up: unpaused and available. The Deployment controller may still be
    // catching up with the last generation for a moment (seen once in a fresh-clone run: status
    // of generation 2 read just after helm returned); a few seconds at most.
    let d = ns.api::<Deployment>(client).get("app").await.unwrap();
    if paused(&d) || !deployment_available(&d) {
        eprintln!(
            "passing gates: Deployment not yet current when helm returned: generation {:?}, observed {:?}, paused {}",
            d.metadata.generation,
            d.status.as_ref().and_then(|s| s.observed_generation),
            paused(&d)
        );
    }
    support::wait_until(
        &ns.api::<Deployment>(client),
        "app",
        "to be unpaused and available",
        Duration::from_secs(10),
        |d| !paused(d) && deployment_available(d),
    )
    .await;
    let kstatus = cluster
        .kstatus(&ns.name, "deploymentreadiness", "app")
        .await;
    assert_eq!(kstatus.status, "Current", "{kstatus:?}");
    ns
}

/// `progressDeadlineSeconds: 5` and a missing Secret: the DeploymentReadiness becomes Stalled
/// (kstatus Failed) and Helm 4 stops waiting at once instead of at its timeout.
async fn stalled_readiness_fails_helm_wait_fast(
    cluster: &Cluster,
    client: &Client,
) -> TestNamespace {
    let ns = TestNamespace::new(client, "helm-stall").await;
    let timeout = Duration::from_secs(60);
    let (out, took) = helm_app(
        cluster,
        "install",
        &ns.name,
        "60s",
        &["--set", "readiness.progressDeadlineSeconds=5"],
    )
    .await;
    eprintln!(
        "stalled: helm install --wait --timeout 60s failed after {:.1}s",
        took.as_secs_f64()
    );
    assert!(
        !out.success(),
        "helm install --wait succeeded with a stalled readiness:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("status: Failed")
            && out.stderr.contains("required gates still failing 5s"),
        "{}",
        out.stderr
    );
    assert!(
        took < timeout / 2,
        "helm took {took:?} to give up on a Stalled readiness (timeout {timeout:?})"
    );
    let dr = ns
        .api::<DeploymentReadiness>(client)
        .get("app")
        .await
        .unwrap();
    let (status, reason, _) = condition(&dr, "Stalled").expect("Stalled condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ProgressDeadlineExceeded")
    );
    let kstatus = cluster
        .kstatus(&ns.name, "deploymentreadiness", "app")
        .await;
    assert_eq!(kstatus.status, "Failed", "{kstatus:?}");
    ns
}

/// The chart's ValidatingAdmissionPolicy: an approval is recorded by its approver only.
async fn approvals_are_signed_by_their_approver(
    cluster: &Cluster,
    client: &Client,
) -> TestNamespace {
    let ns = TestNamespace::new(client, "approve").await;
    let approval = |name: &str, approver: &str| {
        format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessApproval\nmetadata: {{name: {name}, namespace: {}}}\n\
             spec: {{readinessRef: {{name: app}}, item: sign-off, approver: {approver}, revision: {{images: [\"app=registry.k8s.io/pause:3.10\"]}}}}\n",
            ns.name
        )
    };
    let as_alice = [
        "create",
        "-f",
        "-",
        "--as",
        "alice",
        "--as-group",
        "system:masters",
    ];
    let forged = cluster
        .try_run("kubectl", &as_alice, Some(&approval("forged", "bob")))
        .await;
    assert!(
        !forged.success(),
        "alice recorded an approval in bob's name"
    );
    assert!(
        forged.stderr.contains("gonogo-approvals")
            && forged
                .stderr
                .contains("spec.approver must be the requesting user alice, not bob"),
        "{}",
        forged.stderr
    );
    cluster
        .run("kubectl", &as_alice, Some(&approval("signed", "alice")))
        .await;
    let changed = cluster
        .try_kubectl(&[
            "patch",
            "readinessapproval",
            "signed",
            "-n",
            &ns.name,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"approver":"bob"}}"#,
            "--as",
            "alice",
            "--as-group",
            "system:masters",
        ])
        .await;
    assert!(!changed.success(), "a recorded approval changed");
    ns
}

// ------------------------------------------------------ one watched namespace

/// `gonogo run` as any ServiceAccount (tests/operator impersonates gonogo-system:gonogo only).
struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    async fn start(
        cluster: &Cluster,
        namespace: &str,
        service_account: &str,
        args: &[String],
    ) -> Controller {
        let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
        let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&admin).unwrap();
        for user in config["users"].as_sequence_mut().unwrap() {
            user["user"]["as"] =
                format!("system:serviceaccount:{namespace}:{service_account}").into();
            user["user"]["as-groups"] = serde_yaml_ng::to_value([
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_string(),
            ])
            .unwrap();
        }
        let dir = std::env::temp_dir();
        let kubeconfig = dir.join(format!("gonogo-chart-{namespace}.kubeconfig"));
        std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
        let log = dir.join(format!("gonogo-chart-{namespace}.log"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gonogo"))
            .arg("run")
            .args(args)
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("GONOGO_LOG", "info,gonogo=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start gonogo run");
        let mut controller = Controller { child, log };
        let deadline = Instant::now() + TIMEOUT;
        while !matches!(http_get(port, "/readyz"), Some((200, _))) {
            if let Ok(Some(status)) = controller.child.try_wait() {
                panic!(
                    "gonogo run exited with {status}:\n{}",
                    controller.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "gonogo run not ready (caches not synced: RBAC?):\n{}",
                controller.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        controller
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "controller log {}:\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// `watchNamespace`: a Role in that namespace and a small ClusterRole (StorageClasses,
/// ClusterReadinessChecklists) are enough for the controller to gate a Deployment there.
#[tokio::test]
async fn watching_one_namespace_needs_only_a_role_there() {
    let _turn = SERIAL.lock().await;
    let cluster = cluster();
    install_chart(cluster).await; // the CRDs
    let client = cluster.client().await;
    let home = TestNamespace::new(&client, "gonogo-scoped").await;
    let watched = TestNamespace::new(&client, "watched").await;
    let chart = chart();
    let watch = format!("watchNamespace={}", watched.name);
    cluster
        .helm(&[
            "install",
            "scoped",
            &chart,
            "--namespace",
            &home.name,
            "--skip-crds",
            "--set",
            &watch,
            "--set",
            "replicas=1",
            "--set",
            "holdRollouts=false",
            "--set",
            "approvalPolicy=false",
            "--wait",
            "--timeout",
            "60s",
        ])
        .await;

    let sa = format!("system:serviceaccount:{}:scoped-gonogo", home.name);
    let can = |verb: &'static str, resource: &'static str, ns: String| {
        let sa = sa.clone();
        async move {
            cluster
                .try_kubectl(&["auth", "can-i", verb, resource, "--as", &sa, "-n", &ns])
                .await
                .stdout
                .trim()
                == "yes"
        }
    };
    assert!(can("patch", "deployments.apps", watched.name.clone()).await);
    assert!(
        !can("list", "deployments.apps", "default".into()).await,
        "the scoped controller reads only its namespace"
    );
    assert!(can("list", "storageclasses.storage.k8s.io", "default".into()).await);

    let deployment = Api::<Deployment>::namespaced(client.clone(), &home.name)
        .get("scoped-gonogo")
        .await
        .unwrap();
    let args = chart_args(&deployment);
    assert!(
        args.contains(&format!("--namespace={}", watched.name)),
        "{args:?}"
    );
    let controller = Controller::start(cluster, &home.name, "scoped-gonogo", &args).await;

    let drs: Api<DeploymentReadiness> = watched.api(&client);
    let deployments: Api<Deployment> = watched.api(&client);
    let pp = PostParams::default();
    let target: Deployment = from_yaml(
        "metadata: {name: api}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - name: api\n        image: registry.k8s.io/pause:3.10\n        env:\n        - name: OPENAI_API_KEY\n          valueFrom: {secretKeyRef: {name: api-keys, key: OPENAI_API_KEY}}\n",
    );
    deployments.create(&pp, &target).await.unwrap();
    let dr: DeploymentReadiness = from_yaml(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: api}\nspec:\n  targetRef: {name: api}\n  items: [{name: secrets, secrets: {}}]\n",
    );
    drs.create(&pp, &dr).await.unwrap();
    wait_until(
        &deployments,
        "api",
        "to be paused by the scoped controller",
        TIMEOUT,
        paused,
    )
    .await;
    watched
        .api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    wait_until(&drs, "api", "to become Ready", TIMEOUT, |d| {
        current(d) && condition(d, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;

    // Let the finalizer go while the controller still runs, so the namespaces can be deleted.
    drs.delete("api", &DeleteParams::default()).await.unwrap();
    support::eventually("the readiness object to be gone", TIMEOUT, || async {
        match drs.get_opt("api").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let log = controller.log_text();
    let forbidden: Vec<&str> = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("forbidden"))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the scoped controller hit RBAC errors:\n{}",
        forbidden.join("\n")
    );
    drop(controller);
    cluster
        .helm(&["uninstall", "scoped", "--namespace", &home.name, "--wait"])
        .await;
}
