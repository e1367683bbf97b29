//! The `prometheus` gate end to end: a real Prometheus (built from Go modules by
//! `tests/prometheus/build.sh`) scrapes gauges this test serves and controls, and the real
//! `gonogo run --prometheus-url` judges DeploymentReadiness gates by querying it.

mod operator;
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use GateOutcome::{Fail, Pass, Unknown};
use gonogo::api::{DeploymentReadiness, GateOutcome, GateStatus};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use operator::{Operator, http_get, install};
use support::{TIMEOUT, TestNamespace, cluster, from_yaml, repo_root, wait_until};

// ------------------------------------------------------------------ gauges

/// An HTTP scrape target on loopback serving `gonogo_test_value{case="..."}` gauges whose
/// values the test sets (and removes) while Prometheus scrapes them.
#[derive(Clone)]
struct Gauges {
    port: u16,
    values: Arc<Mutex<BTreeMap<String, f64>>>,
}

impl Gauges {
    fn serve() -> Gauges {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the scrape target");
        let port = listener.local_addr().unwrap().port();
        let values: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        let shared = values.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let values = shared.clone();
                std::thread::spawn(move || answer_scrape(stream, &values));
            }
        });
        Gauges { port, values }
    }

    fn set(&self, case: &str, value: f64) {
        self.values.lock().unwrap().insert(case.to_string(), value);
    }
}

/// One scrape: read the request head, answer the exposition text, close.
fn answer_scrape(mut stream: TcpStream, values: &Mutex<BTreeMap<String, f64>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let mut body = String::from(
        "# HELP gonogo_test_value A value the test controls.\n# TYPE gonogo_test_value gauge\n",
    );
    for (case, value) in values.lock().unwrap().iter() {
        body.push_str(&format!("gonogo_test_value{{case=\"{case}\"}} {value}\n"));
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// -------------------------------------------------------------- prometheus

/// The directory holding the `prometheus` binary: `$GONOGO_PROMETHEUS_BIN` (set by
/// tests/run.sh), or the output of `tests/prometheus/build.sh` (needs Go).
fn prometheus_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GONOGO_PROMETHEUS_BIN").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return if dir.join("prometheus").is_file() {
                Ok(dir)
            } else {
                Err(format!(
                    "GONOGO_PROMETHEUS_BIN={} holds no prometheus; rerun tests/prometheus/build.sh",
                    dir.display()
                ))
            };
        }
        let script = repo_root().join("tests/prometheus/build.sh");
        eprintln!(
            "GONOGO_PROMETHEUS_BIN is not set; running {} (a cold build takes minutes)",
            script.display()
        );
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}); install Go >= 1.26 (https://go.dev/dl/) or run tests/run.sh",
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
            Err(format!("{} printed no directory", script.display()))
        } else {
            Ok(PathBuf::from(dir))
        }
    });
    match dir {
        Ok(dir) => dir.join("prometheus"),
        Err(e) => panic!("Prometheus unavailable: {e}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Prometheus server on loopback with its own data directory, scraping `targets` every
/// second. Stopped on drop. It runs under a small `sh` that holds a pipe from this process
/// and, when the pipe closes, kills Prometheus and removes its directory, so even a killed
/// test process (whose drops never run) leaves neither behind.
struct Prometheus {
    port: u16,
    child: Option<Child>,
    keeper: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(targets: &[u16]) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("gonogo-prometheus-")
            .tempdir()
            .expect("temp dir");
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n- job_name: gauges\n  static_configs:\n  - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let log = dir.path().join("prometheus.log");
        let port = free_port();
        let out = std::fs::File::create(&log).expect("prometheus log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" </dev/null & p=$!; read _; kill $p 2>/dev/null; wait $p; rm -rf "$GONOGO_PROMETHEUS_DIR""#)
            .env("GONOGO_PROMETHEUS_DIR", dir.path())
            .arg(prometheus_bin())
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            // OTLP is how this test gets a native histogram in (text scrapes carry floats only).
            .arg("--web.enable-otlp-receiver")
            .arg("--log.level=warn")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start prometheus");
        let keeper = child.stdin.take();
        let prometheus = Prometheus {
            port,
            child: Some(child),
            keeper,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http_get(port, "/-/ready"), Some((200, _))) {
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready after 60s; log:\n{}",
                prometheus.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until an instant query answers a non-empty vector (the first scrapes landed).
    async fn wait_for_series(&self, query: &str) {
        let path = format!(
            "/api/v1/query?query={}",
            query
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
        );
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match http_get(self.port, &path) {
                Some((200, body)) if !body.contains(r#""result":[]"#) => return,
                answer => assert!(
                    Instant::now() < deadline,
                    "no series for {query} in Prometheus after {TIMEOUT:?}: {answer:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Pushes one OTLP exponential histogram sample (now) named `name` with unit seconds:
    /// Prometheus stores it as the native histogram `<name>_seconds` with `count` observations.
    fn push_histogram(&self, name: &str, count: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let body = serde_json::json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gonogo-test"}}]},
            "scopeMetrics": [{"metrics": [{"name": name, "unit": "s", "exponentialHistogram": {
                "aggregationTemporality": 2,
                "dataPoints": [{"timeUnixNano": now.to_string(), "count": count.to_string(), "sum": 1.5, "scale": 0,
                                "zeroCount": "0", "positive": {"offset": 0, "bucketCounts": ["1", (count - 1).to_string()]}}]
            }}]}]
        }]})
        .to_string();
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to Prometheus");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /api/v1/otlp/v1/metrics HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "OTLP push refused: {answer}"
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Closes the keeper pipe (the shell then stops Prometheus) and waits for both.
    fn stop(&mut self) {
        drop(self.keeper.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Read the log first: stopping removes the directory it is in.
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("prometheus log:\n{}", self.log_text());
        }
        self.stop();
    }
}

// ------------------------------------------------------------------- kube

fn deployment(name: &str) -> Deployment {
    support::single_container_deployment(name, "registry.k8s.io/pause:3.10")
}

/// A DeploymentReadiness (Annotate mode) with `items` given as a YAML list.
fn readiness(name: &str, items: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {name}}}\n  enforcement: Annotate\n  items:\n{items}"
    ))
}

/// A `prometheus` item querying every 5 s (the least the CRD allows).
fn item(name: &str, query: &str, operator: &str, threshold: f64, hold_for: Option<&str>) -> String {
    let hold = hold_for.map(|d| format!(", for: {d}")).unwrap_or_default();
    let query = serde_json::to_string(query).unwrap();
    format!(
        "  - {{name: {name}, prometheus: {{query: {query}, operator: \"{operator}\", threshold: {threshold}, intervalSeconds: 5{hold}}}}}\n"
    )
}

fn gate<'a>(dr: &'a DeploymentReadiness, name: &str) -> Option<&'a GateStatus> {
    dr.status.as_ref()?.gates.iter().find(|g| g.name == name)
}

fn gate_is(dr: &DeploymentReadiness, name: &str, result: GateOutcome, text: &[&str]) -> bool {
    gate(dr, name).is_some_and(|g| g.result == result && text.iter().all(|t| g.message.contains(t)))
}

/// Waits until gate `name` of `dr` has `result` and a message containing every `text`.
async fn wait_gate(
    drs: &Api<DeploymentReadiness>,
    dr: &str,
    name: &str,
    result: GateOutcome,
    text: &[&str],
) -> String {
    let what = format!("gate {name} to be {result} saying {text:?}");
    let found = wait_until(drs, dr, &what, TIMEOUT, |d| gate_is(d, name, result, text)).await;
    let message = gate(&found, name).unwrap().message.clone();
    eprintln!("{dr}/{name}: {result}: {message}");
    message
}

fn ready(dr: &DeploymentReadiness) -> Option<String> {
    let status = dr.status.as_ref()?;
    if status.observed_generation != dr.metadata.generation {
        return None;
    }
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

async fn setup(prefix: &str, prometheus_url: Option<&str>) -> (Client, TestNamespace, Operator) {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    let mut args = vec!["--namespace", ns.name.as_str()];
    if let Some(url) = prometheus_url {
        args.extend(["--prometheus-url", url]);
    }
    let operator = Operator::start(cluster, prefix, &args).await;
    (client, ns, operator)
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn gates_follow_a_real_prometheus() {
    let gauges = Gauges::serve();
    gauges.set("errors", 0.25);
    gauges.set("latency", 2.5);
    gauges.set("steady", 0.25);
    let mut prometheus = Prometheus::start(&[gauges.port]).await;
    prometheus
        .wait_for_series(r#"gonogo_test_value{case="latency"}"#)
        .await;
    prometheus.push_histogram("gonogo_test_duration", 3);
    prometheus
        .wait_for_series("gonogo_test_duration_seconds")
        .await;
    let (client, ns, operator) = setup("prom", Some(&prometheus.url())).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();

    let errors = r#"gonogo_test_value{case="errors"}"#;
    let items = [
        item("errors", errors, "<", 0.5, None),
        item(
            "latency",
            r#"gonogo_test_value{case="latency"}"#,
            "<",
            1.0,
            None,
        ),
        item(
            "scalar",
            r#"scalar(gonogo_test_value{case="errors"}) * 4"#,
            "==",
            1.0,
            None,
        ),
        item(
            "absent",
            r#"gonogo_test_value{case="never-exported"}"#,
            ">",
            0.0,
            None,
        ),
        item(
            "unparsable",
            "sum(rate(gonogo_test_value[1m])",
            "<",
            1.0,
            None,
        ),
        item(
            "many-to-many",
            "gonogo_test_value + on() gonogo_test_value",
            "<",
            1.0,
            None,
        ),
        item("several", "gonogo_test_value", "<", 1.0, None),
        item("held", errors, "<", 0.5, Some("12s")),
        item("histogram", "gonogo_test_duration_seconds", "<", 1.0, None),
        item(
            "histogram-count",
            "histogram_count(gonogo_test_duration_seconds)",
            "==",
            3.0,
            None,
        ),
        // A gate that needs no Prometheus: judged alongside, whatever Prometheus says.
        "  - {name: replicas, replicas: {min: 1}}\n".to_string(),
    ];
    deployments.create(&pp, &deployment("api")).await.unwrap();
    drs.create(&pp, &readiness("api", &items.concat()))
        .await
        .unwrap();
    // Only gates that can all pass: this one becomes Ready.
    deployments.create(&pp, &deployment("web")).await.unwrap();
    drs.create(
        &pp,
        &readiness(
            "web",
            &item(
                "steady",
                r#"gonogo_test_value{case="steady"}"#,
                "<=",
                0.25,
                None,
            ),
        ),
    )
    .await
    .unwrap();

    let q = |query: &str| format!("query `{query}`");
    // `for`: the condition holds from the first sample on; the gate says so until it has held
    // 12 s (checked first, before it can have passed).
    let first = wait_until(
        &drs,
        "api",
        "to report the hold in progress",
        TIMEOUT,
        |d| {
            gate_is(
                d,
                "held",
                Unknown,
                &["returned 0.25 (< 0.5), held for", "of 12s"],
            )
        },
    )
    .await;
    let shown = Instant::now();
    wait_gate(
        &drs,
        "api",
        "errors",
        Pass,
        &[&q(errors), "returned 0.25 (< 0.5)"],
    )
    .await;
    wait_gate(
        &drs,
        "api",
        "latency",
        Fail,
        &["returned 2.5, expected < 1"],
    )
    .await;
    wait_gate(&drs, "api", "scalar", Pass, &["returned 1 (== 1)"]).await;
    wait_gate(
        &drs,
        "api",
        "absent",
        Unknown,
        &[r#"gonogo_test_value{case="never-exported"}` returned no data"#],
    )
    .await;
    // Prometheus' error type, in fixed words: a parse error (400) and an execution error
    // (422). Its own text, which can quote series and their labels, is not passed on.
    let message = wait_gate(
        &drs,
        "api",
        "unparsable",
        Unknown,
        &["failed: Prometheus answered 400: bad_data: the query or its parameters are not valid"],
    )
    .await;
    assert!(!message.contains("parse error"), "{message}");
    let message = wait_gate(
        &drs,
        "api",
        "many-to-many",
        Unknown,
        &["failed: Prometheus answered 422: execution: the query failed while being evaluated"],
    )
    .await;
    assert!(
        !message.contains("many-to-many matching not allowed")
            && !message.contains("duplicate series for")
            && !message.contains("{"),
        "{message}"
    );
    wait_gate(
        &drs,
        "api",
        "several",
        Unknown,
        &["query returned 3 series; expected 1"],
    )
    .await;
    wait_gate(
        &drs,
        "api",
        "histogram",
        Unknown,
        &["failed: query returned a native histogram; expected a number"],
    )
    .await;
    wait_gate(&drs, "api", "histogram-count", Pass, &["returned 3 (== 3)"]).await;
    wait_gate(&drs, "api", "replicas", Pass, &[]).await;

    wait_gate(
        &drs,
        "api",
        "held",
        Pass,
        &["returned 0.25 (< 0.5), held for at least 12s"],
    )
    .await;
    let waited = shown.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "held gate passed only {waited:?} after it said: {:?}",
        gate(&first, "held")
    );
    assert_eq!(
        ready(&drs.get("api").await.unwrap()).as_deref(),
        Some("False"),
        "api has failing and unknown gates"
    );
    wait_until(
        &drs,
        "web",
        "to become Ready on its passing prometheus gate",
        TIMEOUT,
        |d| ready(d).as_deref() == Some("True"),
    )
    .await;

    // The metric moves: verdicts follow within a probe interval or two.
    gauges.set("latency", 0.5);
    gauges.set("errors", 0.75);
    gauges.set("steady", 0.5);
    wait_gate(&drs, "api", "latency", Pass, &["returned 0.5 (< 1)"]).await;
    wait_gate(
        &drs,
        "api",
        "errors",
        Fail,
        &["returned 0.75, expected < 0.5"],
    )
    .await;
    wait_gate(
        &drs,
        "api",
        "held",
        Fail,
        &["returned 0.75, expected < 0.5"],
    )
    .await;
    wait_gate(
        &drs,
        "web",
        "steady",
        Fail,
        &["returned 0.5, expected <= 0.25"],
    )
    .await;
    wait_until(&drs, "web", "to lose Ready", TIMEOUT, |d| {
        ready(d).as_deref() == Some("False")
    })
    .await;

    // Prometheus goes away: every query gate becomes Unknown saying so; the rest still judged.
    prometheus.stop();
    let message = wait_gate(
        &drs,
        "api",
        "latency",
        Unknown,
        &["failed: cannot connect to Prometheus"],
    )
    .await;
    assert!(!message.contains("returned"), "{message}");
    wait_gate(
        &drs,
        "api",
        "scalar",
        Unknown,
        &["cannot connect to Prometheus"],
    )
    .await;
    wait_gate(
        &drs,
        "web",
        "steady",
        Unknown,
        &["cannot connect to Prometheus"],
    )
    .await;
    // Reconciles are not stuck behind the failing queries: a Deployment change is judged.
    let scale = serde_json::json!({"spec": {"replicas": 0}});
    deployments
        .patch("api", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    wait_gate(&drs, "api", "replicas", Fail, &["spec.replicas is 0"]).await;
    wait_gate(
        &drs,
        "api",
        "errors",
        Unknown,
        &["cannot connect to Prometheus"],
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn an_unreachable_prometheus_is_unknown_and_other_gates_still_count() {
    // A port nobody listens on.
    let url = format!("http://127.0.0.1:{}", free_port());
    let (client, ns, operator) = setup("promdown", Some(&url)).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api"))
        .await
        .unwrap();
    let items = [
        item("errors", "up", "==", 1.0, None),
        "  - {name: replicas, replicas: {min: 5}}\n".to_string(),
    ];
    drs.create(&pp, &readiness("api", &items.concat()))
        .await
        .unwrap();
    let message = wait_gate(
        &drs,
        "api",
        "errors",
        Unknown,
        &["query `up` failed: cannot connect to Prometheus"],
    )
    .await;
    assert!(
        message.to_lowercase().contains("refused"),
        "the reason should name the refused connection: {message}"
    );
    // The static gate is judged all the same (and fails: 1 replica, 5 wanted).
    wait_gate(&drs, "api", "replicas", Fail, &[]).await;
    let dr = drs.get("api").await.unwrap();
    assert_eq!(ready(&dr).as_deref(), Some("False"));
    let summary = dr
        .status
        .as_ref()
        .and_then(|s| s.summary.as_ref())
        .expect("summary");
    assert_eq!((summary.failed, summary.unknown), (1, 1), "{summary:?}");
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn without_a_configured_prometheus_the_gate_fails() {
    let (client, ns, operator) = setup("promnone", None).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api"))
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness("api", &item("errors", "up", "==", 1.0, None)),
    )
    .await
    .unwrap();
    wait_gate(
        &drs,
        "api",
        "errors",
        Fail,
        &["refused: no Prometheus address is configured (gonogo run --prometheus-url)"],
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_prometheus_that_never_answers_times_out_without_holding_up_reconciles() {
    // Connections complete (the kernel's backlog) but nothing ever answers.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", black_hole.local_addr().unwrap());
    let (client, ns, operator) = setup("promhang", Some(&url)).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    deployments.create(&pp, &deployment("api")).await.unwrap();
    let items = [
        item("errors", "up", "==", 1.0, None),
        "  - {name: replicas, replicas: {min: 1}}\n".to_string(),
    ];
    drs.create(&pp, &readiness("api", &items.concat()))
        .await
        .unwrap();
    // While the query hangs, the rest is judged and a Deployment change is seen at once.
    wait_gate(
        &drs,
        "api",
        "errors",
        Unknown,
        &["query `up`: no result yet"],
    )
    .await;
    wait_gate(&drs, "api", "replicas", Pass, &[]).await;
    let scale = serde_json::json!({"spec": {"replicas": 0}});
    deployments
        .patch("api", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    wait_gate(&drs, "api", "replicas", Fail, &["spec.replicas is 0"]).await;
    wait_gate(
        &drs,
        "api",
        "errors",
        Unknown,
        &["query `up` failed: Prometheus did not answer within 10s"],
    )
    .await;
    drop(black_hole);
    operator.assert_no_forbidden();
}
