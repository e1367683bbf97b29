//! Engine throughput: a 25-item checklist against 10,000 Deployment snapshots, on one core.
//! Target: ≥ 100,000 gate evaluations per second per core.
//!
//!     cargo bench --bench engine            (GONOGO_BENCH_N=2000 for a quicker run)

use std::sync::Arc;
use std::time::Instant;

use gonogo::api::DeploymentReadiness;
use gonogo::engine::{Checklists, Snapshot, Source, evaluate};
use k8s_openapi::api::apps::v1::Deployment;

const READINESS: &str = r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: app, namespace: bench}
spec:
  targetRef: {name: app}
  items:
  - {name: probes, probes: {}}
  - {name: startup-probes, probes: {startup: true, distinct: true}, severity: Advisory}
  - {name: resources, resources: {}}
  - {name: resource-ranges, resources: {ranges: [{resource: memory, field: limits, min: 128Mi, max: 4Gi}, {resource: cpu, field: requests, min: 50m}]}}
  - {name: image, image: {}}
  - {name: image-registry, image: {allowedRegistries: [ghcr.io/acme/], requireDigest: false}}
  - {name: security, securityContext: {}}
  - {name: replicas, replicas: {min: 3}}
  - {name: spread, spread: {}}
  - {name: service-account, serviceAccount: {}}
  - {name: hpa, hpa: {minReplicas: 3, maxReplicas: 10, resourceMetrics: [cpu]}}
  - {name: pdb, podDisruptionBudget: {}}
  - {name: network-policy, networkPolicy: {}}
  - {name: service, service: {}}
  - {name: pvcs, pvcsBound: {}}
  - {name: secrets, secrets: {}}
  - {name: config-maps, configMaps: {}}
  - {name: tls, tlsCertificate: {secretName: app-tls}}
  - {name: rollout, rollout: {}}
  - {name: ready-replicas, readyReplicas: {}}
  - {name: http, http: {service: app, port: 80, path: /health}}
  - {name: prometheus, prometheus: {query: 'sum(rate(errors[5m]))', operator: '<', threshold: 0.001}}
  - {name: approval, approval: {}}
  - {name: cel-labels, cel: {expression: "has(deployment.metadata.labels) && 'team' in deployment.metadata.labels"}}
  - {name: cel-replicas, cel: {expression: "deployment.spec.replicas >= 2"}}
"#;

fn objects(i: usize) -> Snapshot {
    let name = "app";
    let yaml = format!(
        r#"
metadata: {{name: {name}, namespace: bench, generation: 2, labels: {{team: t{i}}}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {name}, shard: "s{i}"}}}}
  template:
    metadata: {{labels: {{app: {name}, shard: "s{i}"}}}}
    spec:
      serviceAccountName: {name}
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {{matchLabels: {{app: {name}}}}}}}
      volumes:
      - {{name: data, persistentVolumeClaim: {{claimName: {name}-data}}}}
      - {{name: cfg, configMap: {{name: {name}-config}}}}
      containers:
      - name: app
        image: ghcr.io/acme/app:1.{i}
        ports: [{{name: http, containerPort: 8080}}]
        envFrom: [{{secretRef: {{name: {name}-secrets}}}}]
        env:
        - {{name: API_KEY, valueFrom: {{secretKeyRef: {{name: {name}-secrets, key: API_KEY}}}}}}
        readinessProbe: {{httpGet: {{path: /ready, port: http}}}}
        livenessProbe: {{httpGet: {{path: /live, port: http}}}}
        resources: {{requests: {{cpu: 100m, memory: 256Mi}}, limits: {{memory: 512Mi}}}}
        securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
status: {{observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3}}
"#
    );
    let deployment: Deployment = serde_yaml_ng::from_str(&yaml).expect("bench Deployment parses");
    let related = format!(
        r#"
- {{apiVersion: v1, kind: Service, metadata: {{name: {name}, namespace: bench}}, spec: {{selector: {{app: {name}}}, ports: [{{port: 80, targetPort: http}}]}}}}
- {{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {{name: {name}, namespace: bench}}, spec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: {name}}}}}}}}}
- {{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {{name: {name}, namespace: bench}}, spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}, minReplicas: 3, maxReplicas: 10, metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}}}]}}}}
- {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: {name}, namespace: bench}}, spec: {{podSelector: {{matchLabels: {{app: {name}}}}}, policyTypes: [Ingress]}}}}
- {{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {{name: {name}-data, namespace: bench}}, spec: {{storageClassName: standard}}, status: {{phase: Bound}}}}
- {{apiVersion: v1, kind: Secret, metadata: {{name: {name}-secrets, namespace: bench}}, data: {{API_KEY: ""}}}}
- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}-config, namespace: bench}}, data: {{settings: ""}}}}
"#
    );
    let docs: Vec<serde_json::Value> =
        serde_yaml_ng::from_str(&related).expect("bench objects parse");
    let mut s = Snapshot::new(
        "bench",
        "2026-06-01T00:00:00Z".parse().expect("time"),
        Source::Cluster,
    );
    s.workload = Some(deployment.into());
    for d in docs {
        match d["kind"].as_str() {
            Some("Service") => s
                .services
                .push(Arc::new(serde_json::from_value(d).expect("svc"))),
            Some("PodDisruptionBudget") => s
                .pdbs
                .push(Arc::new(serde_json::from_value(d).expect("pdb"))),
            Some("HorizontalPodAutoscaler") => s
                .hpas
                .push(Arc::new(serde_json::from_value(d).expect("hpa"))),
            Some("NetworkPolicy") => s
                .network_policies
                .push(Arc::new(serde_json::from_value(d).expect("np"))),
            Some("PersistentVolumeClaim") => s
                .pvcs
                .push(Arc::new(serde_json::from_value(d).expect("pvc"))),
            Some("Secret") => s
                .secrets
                .push(Arc::new(serde_json::from_value(d).expect("secret"))),
            Some("ConfigMap") => s
                .config_maps
                .push(Arc::new(serde_json::from_value(d).expect("cm"))),
            _ => {}
        }
    }
    s
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("GONOGO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 200 });
    let readiness: DeploymentReadiness =
        serde_yaml_ng::from_str(READINESS).expect("bench readiness parses");
    let items = readiness.spec.items.len();
    assert_eq!(items, 25);
    let snapshots: Vec<Snapshot> = (0..n).map(objects).collect();

    // Warm-up (CEL caches, allocator).
    for s in snapshots.iter().take(100) {
        std::hint::black_box(evaluate(&readiness, Checklists::default(), s));
    }
    let start = Instant::now();
    let mut gates = 0usize;
    let mut failing = 0usize;
    for s in &snapshots {
        let report = evaluate(&readiness, Checklists::default(), s);
        gates += report.gates.len();
        failing += report.failing().count();
        std::hint::black_box(&report);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_sec = gates as f64 / elapsed;
    println!(
        "engine: {items}-item checklist x {n} snapshots = {gates} gate evaluations in {elapsed:.3} s on one core"
    );
    println!(
        "engine: {per_sec:.0} gate evaluations/s per core (target >= 100000); {:.2} us per gate; {failing} required gates not passing",
        elapsed * 1e6 / gates as f64
    );
}
