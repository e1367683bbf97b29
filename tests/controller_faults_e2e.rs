//! The controller under faults, on the real control plane: `gonogo run` as the chart's
//! ServiceAccount reaches the API server through a TCP proxy in this process, which the test
//! closes (connections reset, new ones refused, as when the API server is down or a node is
//! partitioned away) and reopens.
//!
//! Figures (time to verdict after the API server is back, when the old leader stopped) are
//! printed; `cargo test --test controller_faults_e2e -- --nocapture` shows them.

mod operator;
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use operator::{Operator, api_server_url, install};
use support::{TIMEOUT, TestNamespace, api_keys, cluster, condition, from_yaml, wait_until};

/// A TCP proxy to the API server that can be cut (every connection reset, new ones refused)
/// and restored on the same port. TLS passes through untouched.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    /// When the client last sent a byte towards the API server.
    last_sent: Arc<Mutex<Option<Instant>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let mut proxy = Proxy {
            port,
            upstream,
            open: Arc::new(AtomicBool::new(true)),
            connections: Arc::default(),
            last_sent: Arc::default(),
            acceptor: None,
        };
        proxy.accept(listener);
        proxy
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn accept(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let (open, connections, last_sent, upstream) = (
            self.open.clone(),
            self.connections.clone(),
            self.last_sent.clone(),
            self.upstream,
        );
        self.acceptor = Some(std::thread::spawn(move || {
            // The listener is dropped when cut, so connecting is refused.
            while open.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => continue,
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut held = connections.lock().unwrap();
                for s in [&client, &server] {
                    if let Ok(clone) = s.try_clone() {
                        held.push(clone);
                    }
                }
                drop(held);
                let pipe = |mut from: TcpStream,
                            mut to: TcpStream,
                            sent: Option<Arc<Mutex<Option<Instant>>>>| {
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if let Some(sent) = &sent {
                                *sent.lock().unwrap() = Some(Instant::now());
                            }
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pipe(client, server, Some(last_sent.clone()));
                pipe(server2, client2, None);
            }
        }));
    }

    /// Reset every connection and refuse new ones.
    fn cut(&mut self) {
        self.open.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for s in self.connections.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "the cut proxy still accepts connections"
        );
    }

    /// Accept again, on the same port.
    fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind the proxy port");
        self.open.store(true, Ordering::SeqCst);
        self.accept(listener);
    }

    fn last_sent(&self) -> Option<Instant> {
        *self.last_sent.lock().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.connections.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn upstream(cluster: &support::Cluster) -> SocketAddr {
    let url = api_server_url(cluster);
    let host_port = url
        .strip_prefix("https://")
        .unwrap_or(&url)
        .trim_end_matches('/');
    host_port
        .parse()
        .unwrap_or_else(|e| panic!("API server address {host_port}: {e}"))
}

fn deployment(name: &str) -> Deployment {
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
      - name: api
        image: registry.k8s.io/pause:3.10
        env:
        - name: OPENAI_API_KEY
          valueFrom: {{secretKeyRef: {{name: api-keys, key: OPENAI_API_KEY}}}}
"#
    ))
}

/// Blocks `target` until the Secret `api-keys` exists.
fn readiness(name: &str, target: &str, extra: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  enforcement: Block\n{extra}  items: [{{name: secrets, secrets: {{}}}}]\n"
    ))
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn ready(dr: &DeploymentReadiness, status: &str) -> bool {
    dr.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == dr.metadata.generation)
        && condition(dr, "Ready").is_some_and(|(s, _, _)| s == status)
}

/// The newest `time` of gonogo's managedFields entries on an object: its last write there.
fn last_gonogo_write<K: kube::Resource>(object: &K) -> Option<jiff::Timestamp> {
    object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(gonogo::controller::FIELD_MANAGER))
        .filter_map(|m| m.time.as_ref().map(|t| t.0))
        .max()
}

async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    (client, ns)
}

#[tokio::test]
async fn an_overflowing_progress_deadline_is_judged_and_the_operator_keeps_running() {
    let (client, ns) = setup("overflow").await;
    let mut operator = Operator::start(cluster(), "overflow", &["--namespace", &ns.name]).await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    deployments.create(&pp, &deployment("api")).await.unwrap();
    // 999999999999 s after now is past the last representable time: adding it panicked in
    // every reconcile and the process exited 101 at each restart.
    let huge = readiness("api", "api", "  progressDeadlineSeconds: 999999999999\n");
    if let Err(e) = drs.create(&pp, &huge).await {
        // A schema maximum (issue 19) refusing the value is as good: it never reaches us.
        let message = e.to_string();
        assert!(
            message.contains("progressDeadlineSeconds"),
            "refused for another reason: {message}"
        );
        eprintln!("overflow: the API server refuses the value itself: {message}");
        return;
    }
    let dr = wait_until(&drs, "api", "to be judged (Ready=False)", TIMEOUT, |dr| {
        ready(dr, "False")
    })
    .await;
    let (_, reason, message) = condition(&dr, "Ready").unwrap();
    assert_eq!(reason, "GatesFailing", "{message}");
    assert!(condition(&dr, "Stalled").is_none(), "{:?}", dr.status);
    wait_until(&deployments, "api", "to be held", TIMEOUT, paused).await;
    // A change re-evaluates it (the panic was in every reconcile's requeue computation).
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    wait_until(&drs, "api", "to pass", TIMEOUT, |dr| ready(dr, "True")).await;
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;
    assert!(operator.exited().is_none(), "the operator exited");
    assert_eq!(operator.metric("gonogo_reconcile_panics_total"), 0.0);
    assert!(!operator.log_text().contains("panicked"));
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_verdict_follows_a_change_within_seconds_of_the_api_server_coming_back() {
    let (client, ns) = setup("outage").await;
    let mut proxy = Proxy::start(upstream(cluster()));
    let mut operator = Operator::start_via(
        cluster(),
        "outage",
        &["--namespace", &ns.name],
        Some(&proxy.url()),
    )
    .await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    deployments.create(&pp, &deployment("api")).await.unwrap();
    drs.create(&pp, &readiness("api", "api", "")).await.unwrap();
    wait_until(&deployments, "api", "to be held", TIMEOUT, paused).await;
    wait_until(&drs, "api", "to be judged", TIMEOUT, |dr| {
        ready(dr, "False")
    })
    .await;

    // 30 s with every connection reset and new ones refused.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.restore();
    let back = Instant::now();
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    wait_until(
        &deployments,
        "api",
        "to be released after the outage",
        Duration::from_secs(30),
        |d| !paused(d),
    )
    .await;
    let released = back.elapsed();
    wait_until(&drs, "api", "to pass", Duration::from_secs(30), |dr| {
        ready(dr, "True")
    })
    .await;
    let judged = back.elapsed();
    eprintln!(
        "outage: 30 s of refused connections; after the API server came back, a change was followed by the release in {:.2} s and the status in {:.2} s (watch restarts: {})",
        released.as_secs_f64(),
        judged.as_secs_f64(),
        operator.metric("gonogo_watch_restarts_total")
    );
    assert!(
        judged < Duration::from_secs(10),
        "the verdict took {judged:?} after the API server came back"
    );
    assert!(operator.exited().is_none(), "the operator exited");
    assert!(operator.metric("gonogo_watch_restarts_total") >= 1.0);
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_healed_partition_gets_no_write_from_the_old_leader() {
    let (client, ns) = setup("partition").await;
    let lease = format!("gonogo-{}", ns.name);
    operator::grant_lease(cluster(), &lease).await;
    let args = [
        "--namespace",
        ns.name.as_str(),
        "--leader-election",
        "--lease-name",
        lease.as_str(),
    ];
    let mut proxies = [
        Proxy::start(upstream(cluster())),
        Proxy::start(upstream(cluster())),
    ];
    let mut replicas = [
        Operator::start_via(cluster(), "partition-a", &args, Some(&proxies[0].url())).await,
        Operator::start_via(cluster(), "partition-b", &args, Some(&proxies[1].url())).await,
    ];
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    deployments.create(&pp, &deployment("api")).await.unwrap();
    drs.create(&pp, &readiness("api", "api", "")).await.unwrap();
    wait_until(
        &deployments,
        "api",
        "to be held by the leader",
        TIMEOUT,
        paused,
    )
    .await;
    let old = replicas
        .iter()
        .position(|o| o.log_text().contains("became leader"))
        .expect("a leader");
    let new = 1 - old;

    // Cut the leader off. Its last renewal was at most one retry period (2 s) ago, so its renew
    // deadline is at most 10 s from now.
    proxies[old].cut();
    let cut = Instant::now();
    // What the old leader can no longer see: the gate passes, the rollout must be released.
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    let mut old_stopped = None;
    let mut released = None;
    while cut.elapsed() < Duration::from_secs(60) && (released.is_none() || old_stopped.is_none()) {
        if old_stopped.is_none() && replicas[old].log_text().contains("lost the leader lease") {
            old_stopped = Some(cut.elapsed());
        }
        if released.is_none() && !paused(&deployments.get("api").await.unwrap()) {
            released = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old_stopped = old_stopped.unwrap_or_else(|| {
        panic!(
            "the old leader never noticed it lost the lease:\n{}",
            replicas[old].log_text()
        )
    });
    let released = released.expect("the new leader never released the rollout");
    assert!(
        replicas[new].log_text().contains("became leader"),
        "the standby never took over"
    );
    assert!(
        old_stopped <= Duration::from_millis(10_500),
        "the old leader acted for {old_stopped:?} after it was cut off (renew deadline 10 s)"
    );
    assert!(
        released > old_stopped,
        "the new leader acted ({released:?}) before the old one stopped ({old_stopped:?})"
    );

    // Heal: the old leader, were it still running on its stale cache, would pause again now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxies[old].restore();
    let healed = jiff::Timestamp::now();
    let healed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let deployment = deployments.get("api").await.unwrap();
    assert!(
        !paused(&deployment),
        "the rollout was held again after the partition healed"
    );
    let dr = drs.get("api").await.unwrap();
    for (what, last) in [
        ("Deployment", last_gonogo_write(&deployment)),
        ("DeploymentReadiness", last_gonogo_write(&dr)),
    ] {
        let last = last.expect("a gonogo write");
        // managedFields times have whole seconds: a write after the heal shows as >= its second.
        assert!(
            last.as_second() < healed.as_second(),
            "{what} written by gonogo at {last}, after the partition healed at {healed}"
        );
    }
    let sent_after_heal = proxies[old].last_sent().is_some_and(|t| t > healed_at);
    assert!(
        !sent_after_heal,
        "the old leader still talked to the API server after the heal"
    );
    let exit = replicas[old].exited();
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the old leader should have exited (non-zero) after losing its term: {exit:?}"
    );
    eprintln!(
        "partition: the old leader stopped writing {:.2} s after it was cut off (its renew deadline: 10 s after its last renewal, at most 2 s before the cut) and exited ({exit:?}); the new leader released the rollout {:.2} s after the cut; no gonogo write after the heal",
        old_stopped.as_secs_f64(),
        released.as_secs_f64()
    );
    replicas[new].assert_no_forbidden();
}
