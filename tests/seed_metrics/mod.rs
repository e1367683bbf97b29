//! Metrics of the seed systems, healthy and unhealthy, and a Prometheus to hold them: shared by
//! `seed_prometheus_e2e.rs` (every query against both) and `seed_systems_e2e.rs` (the gates on
//! the control plane). The metrics are pushed through Prometheus' OTLP receiver with their past
//! timestamps (a 3h out-of-order window accepts them), so `[1h]` ranges and `offset 2h` see
//! history.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gonogo::engine::ProbeOutcome;
use gonogo::probe::prometheus;
use serde_json::{Value, json};

pub const CHECKLISTS: [&str; 5] = ["kato", "ai-etl", "knowledgebeast", "kailash", "st-risk"];
/// Step between pushed samples, and how far back the history goes.
const STEP_SECONDS: i64 = 15;
const HISTORY_SECONDS: i64 = 2 * 3600 + 30 * 60;
/// How far into the future the history runs.
const AHEAD_SECONDS: i64 = 600;
/// The deployment happened this long ago: baselines (`offset 2h`) predate it.
const DEPLOYED_SECONDS_AGO: i64 = 3600;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$GONOGO_PROMETHEUS_BIN/prometheus`, or what `tests/prometheus/build.sh` builds.
pub fn prometheus_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("GONOGO_PROMETHEUS_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("prometheus");
    }
    let script = repo_root().join("tests/prometheus/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed; install Go >= 1.26 or run tests/run.sh",
        script.display()
    );
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    PathBuf::from(dir.lines().last().unwrap_or_default()).join("prometheus")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Prometheus on loopback with its own data directory, an OTLP receiver, a 3h out-of-order
/// window, and itself as its only scrape target (for `prometheus_tsdb_*`). Its `sh` keeper
/// stops it and removes its directory when this process's pipe closes, even on a kill.
pub struct Server {
    pub port: u16,
    child: Option<Child>,
    keeper: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(retention: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("gonogo-seed-prometheus-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let config = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             storage: {{tsdb: {{out_of_order_time_window: 3h}}}}\n\
             otlp: {{translation_strategy: NoTranslation}}\n\
             scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).expect("prometheus log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" </dev/null & p=$!; read _; kill $p 2>/dev/null; wait $p; rm -rf "$GONOGO_PROMETHEUS_DIR""#)
            .env("GONOGO_PROMETHEUS_DIR", dir.path())
            .arg(prometheus_bin())
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.retention.time={retention}"))
            .arg("--web.enable-otlp-receiver")
            .arg("--log.level=warn")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start prometheus");
        let keeper = child.stdin.take();
        let server = Server {
            port,
            child: Some(child),
            keeper,
            log,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client
                .get(format!("{}-/ready", server.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready after 60s:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Push every series, one OTLP request each (gauges: PromQL's rate() needs no type).
    pub async fn push(&self, series: &[Series]) {
        let client = reqwest::Client::new();
        for s in series {
            let points: Vec<Value> = s
                .samples
                .iter()
                .map(|(t, v)| {
                    json!({
                        "timeUnixNano": (i128::from(*t) * 1_000_000_000).to_string(),
                        "asDouble": v,
                        "attributes": s.labels.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let body = json!({"resourceMetrics": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s.job}}]},
                "scopeMetrics": [{"metrics": [{"name": s.name, "gauge": {"dataPoints": points}}]}]
            }]});
            let response = client
                .post(format!("{}api/v1/otlp/v1/metrics", self.url()))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("OTLP push");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "OTLP push of {} refused ({status}): {text}\n{}",
                s.name,
                self.log_text()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("prometheus log:\n{}", self.log_text());
        }
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

// ------------------------------------------------------------------ the systems' metrics

/// One series: its name, the job (OTLP `service.name`), its labels, and (time, value) samples.
pub struct Series {
    name: String,
    job: String,
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

/// Builds series over the history, at every step.
pub struct History {
    pub now: i64,
    pub series: Vec<Series>,
}

impl History {
    pub fn new() -> History {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        History {
            // The history runs into the next minutes too, so windows ending "now" stay full
            // while a test waits on a controller (queries see no sample after their time).
            now: i64::try_from(now).unwrap() + AHEAD_SECONDS,
            series: Vec::new(),
        }
    }

    /// A series whose value at each step is `value(seconds_ago)`.
    pub fn add(
        &mut self,
        job: &str,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Fn(i64) -> f64,
    ) {
        let samples = (0..=HISTORY_SECONDS / STEP_SECONDS)
            .rev()
            .map(|i| {
                let ago = i * STEP_SECONDS;
                (self.now - ago, value(ago))
            })
            .collect();
        self.series.push(Series {
            name: name.to_string(),
            job: job.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            samples,
        });
    }

    /// A counter growing by `before` per step until the deployment, by `after` since.
    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], before: f64, after: f64) {
        self.add("gonogo-test", name, labels, move |ago| {
            let steps_before =
                ((HISTORY_SECONDS - ago.max(DEPLOYED_SECONDS_AGO)) / STEP_SECONDS) as f64;
            let steps_after = ((DEPLOYED_SECONDS_AGO - ago).max(0) / STEP_SECONDS) as f64;
            steps_before * before + steps_after * after
        });
    }

    pub fn gauge(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.add("gonogo-test", name, labels, move |_| value);
    }

    pub fn up(&mut self, job: &str, pod: &str, value: f64) {
        self.add(job, "up", &[("pod", pod)], move |_| value);
    }

    /// A classic histogram: per step `before`/`after` observations, all of them at `seconds`
    /// (before the deployment at `seconds_before`).
    #[allow(clippy::too_many_arguments)]
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        per_step: f64,
        seconds_before: f64,
        seconds_after: f64,
    ) {
        const BOUNDS: [&str; 11] = [
            "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2", "5", "10", "+Inf",
        ];
        for le in BOUNDS {
            let bound: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", le));
            let before = if seconds_before <= bound {
                per_step
            } else {
                0.0
            };
            let after = if seconds_after <= bound {
                per_step
            } else {
                0.0
            };
            self.counter(&format!("{name}_bucket"), &with_le, before, after);
        }
    }
}

/// Requests per step of each service's traffic and the label its status code goes in.
const SERVICES: [(&str, &str); 4] = [
    ("kato", "status"),
    ("ai-etl-backend", "status"),
    ("knowledgebeast", "status"),
    ("st-risk-api", "code"),
];

pub fn healthy() -> Vec<Series> {
    let mut h = History::new();
    for (job, pods) in [
        ("kato", 3),
        ("knowledgebeast", 3),
        ("st-risk-api", 3),
        ("ai-etl-backend", 3),
        ("kato-clickhouse", 1),
        ("qdrant-kb", 1),
        ("redis-kb", 1),
    ] {
        for i in 0..pods {
            h.up(job, &format!("{job}-{i}"), 1.0);
        }
    }
    for (service, code) in SERVICES {
        // No 5xx series at all: a healthy service has none. Traffic grew a little since.
        h.counter(
            "http_requests_total",
            &[("service", service), (code, "200")],
            100.0,
            110.0,
        );
        h.histogram(
            "http_request_duration_seconds",
            &[("service", service)],
            110.0,
            0.008,
            0.008,
        );
    }
    h.histogram("kb_query_duration_seconds", &[], 50.0, 0.02, 0.02);
    h.counter("kb_cache_hits_total", &[], 80.0, 80.0);
    h.counter("kb_cache_misses_total", &[], 20.0, 20.0);
    h.gauge(
        "kube_pod_container_status_restarts_total",
        &[
            ("pod", "knowledgebeast-green-7d9f-abcde"),
            ("container", "knowledgebeast"),
        ],
        0.0,
    );
    volumes(&mut h, [50e9, 100e9, 150e9]);
    statefulsets(&mut h, [1.0, 1.0, 1.0, 3.0]);
    claims(&mut h, ["Bound", "Bound", "Bound"]);
    cpu(&mut h, 0.5);
    h.gauge(
        "container_memory_working_set_bytes",
        &[("container", "kato"), ("pod", "kato-0")],
        2e9,
    );
    h.series
}

pub fn unhealthy() -> Vec<Series> {
    let mut h = History::new();
    // kato: an instance down; knowledgebeast, st-risk-api: no target at all; ai-etl: down.
    h.up("kato", "kato-0", 1.0);
    h.up("kato", "kato-1", 0.0);
    h.up("ai-etl-backend", "ai-etl-backend-0", 0.0);
    // Of the three databases one is up, one down, one not scraped.
    h.up("kato-clickhouse", "kato-clickhouse-0", 1.0);
    h.up("qdrant-kb", "qdrant-kb-0", 0.0);
    for (service, code) in SERVICES {
        // Since the deployment: 1 request in 11 answers 500, traffic halved, everything slow.
        h.counter(
            "http_requests_total",
            &[("service", service), (code, "200")],
            100.0,
            50.0,
        );
        h.counter(
            "http_requests_total",
            &[("service", service), (code, "500")],
            0.0,
            5.0,
        );
        h.histogram(
            "http_request_duration_seconds",
            &[("service", service)],
            100.0,
            0.008,
            4.0,
        );
    }
    h.histogram("kb_query_duration_seconds", &[], 50.0, 0.02, 0.4);
    h.counter("kb_cache_hits_total", &[], 80.0, 50.0);
    h.counter("kb_cache_misses_total", &[], 20.0, 50.0);
    h.counter(
        "kube_pod_container_status_restarts_total",
        &[
            ("pod", "knowledgebeast-green-7d9f-abcde"),
            ("container", "knowledgebeast"),
        ],
        0.0,
        0.05,
    );
    volumes(&mut h, [10e9, 20e9, 50e9]);
    statefulsets(&mut h, [1.0, 1.0, 0.0, 1.0]);
    claims(&mut h, ["Bound", "Bound", "Pending"]);
    cpu(&mut h, 1.8);
    // No cAdvisor series for kato, and a critical alert firing.
    h.gauge(
        "ALERTS",
        &[
            ("alertname", "KatoDown"),
            ("alertstate", "firing"),
            ("severity", "critical"),
        ],
        1.0,
    );
    h.series
}

/// Available bytes of knowledgebeast-data (of 100 GB), ai-etl-uploads (of 200 GB) and the
/// second ClickHouse claim of st-risk (of 200 GB; the others keep 150 GB).
fn volumes(h: &mut History, available: [f64; 3]) {
    for (pvc, capacity, free) in [
        ("knowledgebeast-data", 100e9, available[0]),
        ("ai-etl-uploads", 200e9, available[1]),
        ("data-st-risk-clickhouse-0", 200e9, 150e9),
        ("data-st-risk-clickhouse-1", 200e9, available[2]),
        ("data-st-risk-clickhouse-2", 200e9, 150e9),
    ] {
        h.gauge(
            "kubelet_volume_stats_capacity_bytes",
            &[("persistentvolumeclaim", pvc)],
            capacity,
        );
        h.gauge(
            "kubelet_volume_stats_available_bytes",
            &[("persistentvolumeclaim", pvc)],
            free,
        );
    }
}

/// Ready replicas of kato-clickhouse, qdrant-kb, redis-kb (of 1) and st-risk-clickhouse (of 3).
fn statefulsets(h: &mut History, ready: [f64; 4]) {
    for ((name, desired), ready) in [
        ("kato-clickhouse", 1.0),
        ("qdrant-kb", 1.0),
        ("redis-kb", 1.0),
        ("st-risk-clickhouse", 3.0),
    ]
    .into_iter()
    .zip(ready)
    {
        h.gauge(
            "kube_statefulset_replicas",
            &[("statefulset", name)],
            desired,
        );
        h.gauge(
            "kube_statefulset_status_replicas_ready",
            &[("statefulset", name)],
            ready,
        );
    }
}

/// kube-state-metrics' phase series of the three ClickHouse claims of st-risk.
fn claims(h: &mut History, phases: [&str; 3]) {
    for (i, phase) in phases.into_iter().enumerate() {
        let pvc = format!("data-st-risk-clickhouse-{i}");
        h.gauge(
            "kube_persistentvolumeclaim_info",
            &[("persistentvolumeclaim", &pvc)],
            1.0,
        );
        for p in ["Pending", "Bound", "Lost"] {
            let value = if p == phase { 1.0 } else { 0.0 };
            h.gauge(
                "kube_persistentvolumeclaim_status_phase",
                &[("persistentvolumeclaim", &pvc), ("phase", p)],
                value,
            );
        }
    }
}

/// CPU seconds per second of the st-risk-api containers (limit 2) and of kato's.
fn cpu(h: &mut History, st_risk_cores: f64) {
    for i in 0..3 {
        let pod = format!("st-risk-api-{i}");
        let labels = [("container", "st-risk-api"), ("pod", pod.as_str())];
        h.counter(
            "container_cpu_usage_seconds_total",
            &labels,
            st_risk_cores * STEP_SECONDS as f64,
            st_risk_cores * STEP_SECONDS as f64,
        );
        let mut limits = labels.to_vec();
        limits.push(("resource", "cpu"));
        h.gauge("kube_pod_container_resource_limits", &limits, 2.0);
    }
    if st_risk_cores < 1.0 {
        h.counter(
            "container_cpu_usage_seconds_total",
            &[("container", "kato"), ("pod", "kato-0")],
            30.0,
            30.0,
        );
    }
}

/// One instant query through gonogo's prober: the value, or why there is none.
pub async fn value(server: &Server, query: &str) -> Result<f64, String> {
    let client = prometheus::client().unwrap();
    let url = prometheus::parse_url(&server.url()).unwrap();
    match prometheus::query_once(&client, &url, query, Duration::from_secs(10)).await {
        ProbeOutcome::Value(Some(v)) if !v.is_nan() => Ok(v),
        other => Err(format!("{other:?}")),
    }
}
