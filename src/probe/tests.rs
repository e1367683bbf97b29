use super::*;
use crate::api::ReadinessChecklist;
use crate::engine::{Snapshot, Source, evaluate};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn http_gate(extra: serde_json::Value) -> Http {
    let mut params = json!({"service": "api", "port": "http", "path": "/health"});
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(params).unwrap()
}

fn prometheus_gate(hold_for: Option<&str>) -> Prometheus {
    serde_json::from_value(
        json!({"query": "errors", "operator": "<", "threshold": 0.001, "for": hold_for}),
    )
    .unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn successes_count_up_and_reset() {
    let kind = ProbeKind::Http(http_gate(
        json!({"successThreshold": 3, "expectedStatus": [200, 204]}),
    ));
    let ok = || ProbeOutcome::Http {
        status: 204,
        body_matched: None,
    };
    let first = observe(None, ok(), &kind, at("2026-06-01T00:00:00Z"));
    assert_eq!(
        (first.consecutive_successes, first.holding_since),
        (1, Some(at("2026-06-01T00:00:00Z")))
    );
    let second = observe(Some(&first), ok(), &kind, at("2026-06-01T00:00:30Z"));
    assert_eq!(
        (second.consecutive_successes, second.holding_since),
        (2, Some(at("2026-06-01T00:00:00Z")))
    );
    let failed = observe(
        Some(&second),
        ProbeOutcome::Http {
            status: 503,
            body_matched: None,
        },
        &kind,
        at("2026-06-01T00:01:00Z"),
    );
    assert_eq!(
        (failed.consecutive_successes, failed.holding_since),
        (0, None)
    );
    let error = observe(
        Some(&second),
        ProbeOutcome::Error("timed out after 5s".into()),
        &kind,
        at("2026-06-01T00:01:00Z"),
    );
    assert_eq!(error.consecutive_successes, 0);

    // With bodyContains, a status alone is not a success.
    let body = ProbeKind::Http(http_gate(json!({"bodyContains": "ok"})));
    let unmatched = observe(
        None,
        ProbeOutcome::Http {
            status: 200,
            body_matched: Some(false),
        },
        &body,
        at("2026-06-01T00:00:00Z"),
    );
    assert_eq!(unmatched.consecutive_successes, 0);
    let matched = observe(
        None,
        ProbeOutcome::Http {
            status: 200,
            body_matched: Some(true),
        },
        &body,
        at("2026-06-01T00:00:00Z"),
    );
    assert_eq!(matched.consecutive_successes, 1);
}

#[test]
fn prometheus_holding_since_follows_the_threshold() {
    let kind = ProbeKind::Prometheus(prometheus_gate(Some("5m")));
    let below = observe(
        None,
        ProbeOutcome::Value(Some(0.0004)),
        &kind,
        at("2026-06-01T00:00:00Z"),
    );
    assert_eq!(below.holding_since, Some(at("2026-06-01T00:00:00Z")));
    let still = observe(
        Some(&below),
        ProbeOutcome::Value(Some(0.0009)),
        &kind,
        at("2026-06-01T00:01:00Z"),
    );
    assert_eq!(still.holding_since, Some(at("2026-06-01T00:00:00Z")));
    for broken in [
        ProbeOutcome::Value(Some(0.02)),
        ProbeOutcome::Value(None),
        ProbeOutcome::Value(Some(f64::NAN)),
        ProbeOutcome::Error("x".into()),
    ] {
        assert_eq!(
            observe(
                Some(&still),
                broken.clone(),
                &kind,
                at("2026-06-01T00:02:00Z")
            )
            .holding_since,
            None,
            "{broken:?}"
        );
    }
}

#[test]
fn only_verdict_changes_trigger_a_reconcile() {
    let prom = ProbeKind::Prometheus(prometheus_gate(Some("5m")));
    let first = observe(
        None,
        ProbeOutcome::Value(Some(0.0004)),
        &prom,
        at("2026-06-01T00:00:00Z"),
    );
    assert!(
        changes_verdict(None, &first, &prom),
        "a first result always counts"
    );
    let same_side = observe(
        Some(&first),
        ProbeOutcome::Value(Some(0.0005)),
        &prom,
        at("2026-06-01T00:01:00Z"),
    );
    assert!(
        !changes_verdict(Some(&first), &same_side, &prom),
        "a new value on the same side of the threshold"
    );
    let held = observe(
        Some(&same_side),
        ProbeOutcome::Value(Some(0.0005)),
        &prom,
        at("2026-06-01T00:05:00Z"),
    );
    assert!(
        changes_verdict(Some(&same_side), &held, &prom),
        "`for` reached"
    );
    let later = observe(
        Some(&held),
        ProbeOutcome::Value(Some(0.0005)),
        &prom,
        at("2026-06-01T00:06:00Z"),
    );
    assert!(!changes_verdict(Some(&held), &later, &prom));
    let crossed = observe(
        Some(&later),
        ProbeOutcome::Value(Some(0.5)),
        &prom,
        at("2026-06-01T00:07:00Z"),
    );
    assert!(changes_verdict(Some(&later), &crossed, &prom));

    let http = ProbeKind::Http(http_gate(json!({"successThreshold": 2})));
    let ok = || ProbeOutcome::Http {
        status: 200,
        body_matched: None,
    };
    let one = observe(None, ok(), &http, at("2026-06-01T00:00:00Z"));
    let two = observe(Some(&one), ok(), &http, at("2026-06-01T00:00:30Z"));
    let three = observe(Some(&two), ok(), &http, at("2026-06-01T00:01:00Z"));
    assert!(
        changes_verdict(Some(&one), &two, &http),
        "the threshold was reached"
    );
    assert!(
        !changes_verdict(Some(&two), &three, &http),
        "past the threshold nothing changes"
    );
    let down = observe(
        Some(&three),
        ProbeOutcome::Http {
            status: 500,
            body_matched: None,
        },
        &http,
        at("2026-06-01T00:01:30Z"),
    );
    assert!(changes_verdict(Some(&three), &down, &http));
}

#[test]
fn specs_use_the_engines_gate_keys() {
    let readiness: DeploymentReadiness = serde_yaml_ng::from_str(
        r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api, namespace: shop}
spec:
  targetRef: {name: api}
  checklists: [{name: sre}, {name: missing}]
  items:
  - {name: health, http: {service: api, port: http}}
  - {name: errors, prometheus: {query: "errors", operator: "<", threshold: 0.01}}
  - {name: health, http: {service: api, port: 81}}
  - {name: probes, probes: {}}
"#,
    )
    .unwrap();
    let sre: ReadinessChecklist = serde_yaml_ng::from_str(
        r#"
apiVersion: gonogo.dev/v1alpha1
kind: ReadinessChecklist
metadata: {name: sre, namespace: shop}
spec:
  items:
  - {name: health, http: {service: api, port: 80, path: /ready}}
"#,
    )
    .unwrap();
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_yaml_ng::from_str(
        "metadata: {name: api, namespace: shop}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, image: 'api:1'}]\n",
    )
    .unwrap();
    let mut snapshot = Snapshot::new("shop", at("2026-06-01T00:00:00Z"), Source::Cluster);
    snapshot.workload = Some(deployment.into());
    let namespaced = [Arc::new(sre)];
    let checklists = Checklists {
        namespaced: &namespaced,
        cluster: &[],
    };
    let specs = probe_specs(&readiness, checklists);
    let report = evaluate(&readiness, checklists, &snapshot);
    let keys: Vec<(&str, &str)> = specs
        .iter()
        .map(|s| (s.key.checklist.as_str(), s.key.item.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("sre", "health"),
            ("inline", "health"),
            ("inline", "errors")
        ]
    );
    assert!(specs.iter().all(|s| s.key.readiness == "api"));
    // The duplicate inline `health` is ignored by the engine, so its first definition is probed.
    assert!(
        matches!(&specs[1].kind, ProbeKind::Http(h) if h.port == k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()))
    );
    // Every key is one the engine judged, as an http or prometheus gate.
    for spec in &specs {
        assert!(
            report
                .gates
                .iter()
                .any(|g| g.checklist == spec.key.checklist
                    && g.name == spec.key.item
                    && g.kind == spec.kind.name())
        );
    }
}

/// A cluster with one Service `api` in `shop` whose hand-written slice points at `address`.
struct FakeCluster {
    address: SocketAddr,
    readiness_exists: std::sync::atomic::AtomicBool,
}

fn fake(address: SocketAddr) -> Arc<FakeCluster> {
    Arc::new(FakeCluster {
        address,
        readiness_exists: true.into(),
    })
}

impl ClusterView for FakeCluster {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        (namespace == "shop" && name == "api").then(|| {
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "api", "namespace": "shop"}, "spec": {"ports": [{"name": "http", "port": 80}]}})).unwrap())
        })
    }
    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        if namespace != "shop" || service != "api" {
            return Vec::new();
        }
        vec![Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "api-manual", "namespace": "shop", "labels": {"kubernetes.io/service-name": "api"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": self.address.port()}],
                "endpoints": [{"addresses": [self.address.ip().to_string()]}]
            }))
            .unwrap(),
        )]
    }
    fn pods(&self, _namespace: &str) -> Vec<Arc<k8s_openapi::api::core::v1::Pod>> {
        Vec::new()
    }
    fn readiness_exists(&self, readiness: &ObjectRef<DeploymentReadiness>) -> bool {
        *readiness == readiness_ref()
            && self
                .readiness_exists
                .load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn health_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    address
}

fn readiness_ref() -> ObjectRef<DeploymentReadiness> {
    ObjectRef::new("api").within("shop")
}

fn key(item: &str) -> GateKey {
    GateKey {
        readiness: "api".into(),
        checklist: "inline".into(),
        item: item.into(),
    }
}

#[tokio::test]
async fn the_prober_probes_registered_gates_and_asks_for_a_reconcile() {
    let address = health_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let guard = Guard::new(vec![ssrf::parse_cidr("127.0.0.1/32").unwrap()], []);
    let config = ProbeConfig::default();
    let metrics = config.metrics.clone();
    let prober = Prober::new(config, guard, fake(address), tx).unwrap();
    prober.register(
        &readiness_ref(),
        vec![
            ProbeSpec {
                key: key("health"),
                kind: ProbeKind::Http(http_gate(json!({}))),
            },
            ProbeSpec {
                key: key("errors"),
                kind: ProbeKind::Prometheus(prometheus_gate(None)),
            },
        ],
    );
    assert_eq!(prober.probing(), 2);
    for _ in 0..2 {
        let asked = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(asked, readiness_ref());
    }
    let seen = prober.observations("shop", "api");
    assert_eq!(
        seen[&key("health")].outcome,
        ProbeOutcome::Http {
            status: 200,
            body_matched: None
        }
    );
    assert_eq!(seen[&key("health")].consecutive_successes, 1);
    assert_eq!(
        seen[&key("errors")].outcome,
        ProbeOutcome::Refused(
            "no Prometheus address is configured (gonogo run --prometheus-url)".into()
        )
    );
    assert!(prober.observations("other", "api").is_empty());
    assert!(prober.observations("shop", "web").is_empty());
    let count = |kind, result| {
        metrics
            .probes
            .get_or_create(&ProbeLabels { kind, result })
            .get()
    };
    assert_eq!(
        (
            count("http", "success"),
            count("prometheus", "refused"),
            count("http", "error")
        ),
        (1, 1, 0)
    );

    // Re-registering the same gates keeps them; dropping one stops it and forgets its result.
    prober.register(
        &readiness_ref(),
        vec![ProbeSpec {
            key: key("health"),
            kind: ProbeKind::Http(http_gate(json!({}))),
        }],
    );
    assert_eq!(prober.probing(), 1);
    assert_eq!(
        prober
            .observations("shop", "api")
            .keys()
            .collect::<Vec<_>>(),
        [&key("health")]
    );
    prober.forget(&readiness_ref());
    assert_eq!(prober.probing(), 0);
    assert!(prober.observations("shop", "api").is_empty());
}

#[tokio::test]
async fn without_the_flag_a_hand_written_loopback_endpoint_is_refused() {
    let address = health_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let prober = Prober::new(ProbeConfig::default(), Guard::default(), fake(address), tx).unwrap();
    prober.register(
        &readiness_ref(),
        vec![ProbeSpec {
            key: key("health"),
            kind: ProbeKind::Http(http_gate(json!({}))),
        }],
    );
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    match &prober.observations("shop", "api")[&key("health")].outcome {
        ProbeOutcome::Refused(reason) => assert!(
            reason.contains("127.0.0.1") && reason.contains("--http-allow-cidr"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn probes_of_a_vanished_readiness_stop_by_themselves() {
    let address = health_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let cluster = fake(address);
    let guard = Guard::new(vec![ssrf::parse_cidr("127.0.0.1/32").unwrap()], []);
    let prober = Prober::new(ProbeConfig::default(), guard, cluster.clone(), tx).unwrap();
    let fast = ProbeKind::Http(http_gate(json!({"intervalSeconds": 5})));
    prober.register(
        &readiness_ref(),
        vec![ProbeSpec {
            key: key("health"),
            kind: fast,
        }],
    );
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    cluster
        .readiness_exists
        .store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(10), async {
        while prober.probing() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert!(prober.observations("shop", "api").is_empty());
}

/// Every namespace has a Service `api` whose hand-written slice points at the address given
/// for that namespace; every readiness object exists.
struct Tenants(HashMap<String, SocketAddr>);

impl ClusterView for Tenants {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        (self.0.contains_key(namespace) && name == "api").then(|| {
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "api", "namespace": namespace}, "spec": {"ports": [{"name": "http", "port": 80}]}})).unwrap())
        })
    }
    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        let Some(address) = self.0.get(namespace).filter(|_| service == "api") else {
            return Vec::new();
        };
        vec![Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "api-manual", "namespace": namespace, "labels": {"kubernetes.io/service-name": "api"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": address.port()}],
                "endpoints": [{"addresses": [address.ip().to_string()]}]
            }))
            .unwrap(),
        )]
    }
    fn pods(&self, _namespace: &str) -> Vec<Arc<k8s_openapi::api::core::v1::Pod>> {
        Vec::new()
    }
    fn readiness_exists(&self, _readiness: &ObjectRef<DeploymentReadiness>) -> bool {
        true
    }
}

/// A server that accepts connections and never answers (the sockets are kept open).
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    address
}

/// One tenant with two readiness objects of 16 http gates each against a server that never
/// answers (asking for 60 s time-outs) cannot starve another namespace's gate: the victim
/// gets its result at once, and the time-outs are counted for the tenant's namespace.
#[tokio::test]
async fn a_tenant_with_unanswering_targets_does_not_starve_another_namespace() {
    let silent = silent_server().await;
    let healthy = health_server().await;
    let cluster = Arc::new(Tenants(HashMap::from([
        ("greedy".to_string(), silent),
        ("victim".to_string(), healthy),
    ])));
    let (tx, mut rx) = mpsc::channel(256);
    let guard = Guard::new(vec![ssrf::parse_cidr("127.0.0.1/32").unwrap()], []);
    let config = ProbeConfig {
        max_timeout: Duration::from_secs(3),
        ..ProbeConfig::default()
    };
    let metrics = config.metrics.clone();
    let prober = Prober::new(config, guard, cluster, tx).unwrap();
    let stalled = ProbeKind::Http(http_gate(json!({"timeoutSeconds": 60})));
    for object in ["hog-1", "hog-2"] {
        let readiness = ObjectRef::new(object).within("greedy");
        let specs = (0..16)
            .map(|i| ProbeSpec {
                key: GateKey {
                    readiness: object.into(),
                    checklist: "inline".into(),
                    item: format!("stalled-{i}"),
                },
                kind: stalled.clone(),
            })
            .collect();
        prober.register(&readiness, specs);
    }
    // Let the tenant's probes take every permit they can.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = ObjectRef::new("api").within("victim");
    let started = std::time::Instant::now();
    prober.register(
        &victim,
        vec![ProbeSpec {
            key: key("health"),
            kind: ProbeKind::Http(http_gate(json!({}))),
        }],
    );
    let asked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let asked = rx.recv().await.unwrap();
            if asked == victim {
                return asked;
            }
        }
    })
    .await
    .expect("the victim's gate got no result");
    let latency = started.elapsed();
    eprintln!(
        "victim's first result {:.1} ms after registering, while 32 gates of another namespace hang",
        latency.as_secs_f64() * 1000.0
    );
    assert_eq!(asked, victim);
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(
        prober.observations("victim", "api")[&key("health")].outcome,
        ProbeOutcome::Http {
            status: 200,
            body_matched: None
        }
    );
    // The tenant's probes end at the maximum time-out (3 s), not their own 60 s, and count.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let timeouts = |namespace: &str| {
        metrics
            .timeouts
            .get_or_create(&ProbeTimeoutLabels {
                namespace: namespace.into(),
                kind: "http",
            })
            .get()
    };
    assert!(timeouts("greedy") >= 4, "{}", timeouts("greedy"));
    assert_eq!(timeouts("victim"), 0);
    let shown = prober.observations("greedy", "hog-1");
    assert!(
        shown
            .values()
            .any(|o| o.outcome == ProbeOutcome::Error("timed out after 3s".into())),
        "{shown:?}"
    );
}
