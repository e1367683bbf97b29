#!/usr/bin/env bash
# Benchmark `gonogo check` on generated manifest sets: N Deployments in one namespace, each
# with a Service, PodDisruptionBudget, HorizontalPodAutoscaler, Secret, ConfigMap, PVC,
# NetworkPolicy and a DeploymentReadiness (referencing one shared checklist), rendered like
# `helm template` output (with `# Source:` comments), read from standard input.
#
# Usage: scripts/bench-check.sh [N ...]          (default: 1000 5000 10000)
#   GONOGO=path/to/gonogo   use this binary instead of building the release one
#   MODE=baseline           no DeploymentReadiness objects: every Deployment gets the baseline
#   MODE=realistic          the corpus of the peer benchmark (scripts/bench_corpus.py: sidecars,
#                           native sidecars, init containers, a seeded mix of defects) judged by
#                           tests/peers/gonogo-checklist.yaml; scripts/bench-peers.sh compares
#                           the same corpus with other tools
#   KEEP=dir                keep the generated corpora in dir
# Prints, per N: documents, input size, wall time and peak RSS. Targets: < 2 s and < 300 MB at 10k.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 10000)
mode=${MODE:-readiness}

if [ -z "${GONOGO:-}" ]; then
  cargo build --release --quiet --bin gonogo
  GONOGO="${CARGO_TARGET_DIR:-target}/release/gonogo"
fi

# Peak RSS needs GNU time; install it if it is missing (Debian package `time`).
if ! command -v /usr/bin/time >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq time >/dev/null 2>&1 || true
  fi
fi

dir=${KEEP:-$(mktemp -d)}
mkdir -p "$dir"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT

generate() {
  if [ "$mode" = realistic ]; then
    python3 scripts/bench_corpus.py "$1"
    return
  fi
  awk -v n="$1" -v mode="$mode" 'BEGIN {
    if (mode != "baseline") {
      print "---\n# Source: bench/templates/checklist.yaml"
      print "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata:\n  name: bench\nspec:\n  items:"
      print "    - {name: probes, probes: {distinct: true}}"
      print "    - {name: resources, resources: {}}"
      print "    - {name: image, image: {}}"
      print "    - {name: replicas, replicas: {min: 2}}"
      print "    - {name: hpa, hpa: {minReplicas: 2}}"
      print "    - {name: pdb, podDisruptionBudget: {}}"
      print "    - {name: netpol, networkPolicy: {}}"
      print "    - {name: service, service: {}}"
      print "    - {name: secrets, secrets: {}}"
      print "    - {name: config-maps, configMaps: {}}"
      print "    - {name: pvcs, pvcsBound: {}}"
      print "    - {name: security, severity: Advisory, securityContext: {}}"
    }
    for (i = 0; i < n; i++) {
      a = "app-" i
      print "---\n# Source: bench/templates/deployment.yaml"
      print "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " a "\n  labels:\n    app: " a "\n    app.kubernetes.io/part-of: bench"
      print "spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: " a
      print "  template:\n    metadata:\n      labels:\n        app: " a "\n        app.kubernetes.io/part-of: bench"
      print "    spec:\n      serviceAccountName: " a
      print "      securityContext:\n        runAsNonRoot: true\n        seccompProfile: {type: RuntimeDefault}"
      print "      containers:\n        - name: app\n          image: ghcr.io/acme/app:1.0." i
      print "          ports:\n            - {name: http, containerPort: 8080}"
      print "          envFrom:\n            - secretRef: {name: " a "-env}"
      print "          env:\n            - name: MODE\n              valueFrom:\n                configMapKeyRef: {name: " a "-config, key: mode}"
      print "          readinessProbe: {httpGet: {path: /ready, port: http}}"
      print "          livenessProbe: {httpGet: {path: /live, port: http}}"
      print "          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n            limits: {memory: 256Mi}"
      print "          securityContext:\n            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities: {drop: [ALL]}"
      print "          volumeMounts:\n            - {name: data, mountPath: /data}"
      print "      volumes:\n        - name: data\n          persistentVolumeClaim: {claimName: " a "-data}"
      print "---\n# Source: bench/templates/service.yaml"
      print "apiVersion: v1\nkind: Service\nmetadata:\n  name: " a "\nspec:\n  selector:\n    app: " a "\n  ports:\n    - {name: http, port: 80, targetPort: http}"
      print "---\n# Source: bench/templates/pdb.yaml"
      print "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: " a "\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: " a
      print "---\n# Source: bench/templates/hpa.yaml"
      print "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: " a "\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: " a "}\n  minReplicas: 2\n  maxReplicas: 10"
      print "  metrics:\n    - type: Resource\n      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}"
      print "---\n# Source: bench/templates/secret.yaml"
      print "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " a "-env\ntype: Opaque\nstringData:\n  API_KEY: not-a-real-key"
      print "---\n# Source: bench/templates/configmap.yaml"
      print "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " a "-config\ndata:\n  mode: production"
      print "---\n# Source: bench/templates/pvc.yaml"
      print "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " a "-data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}"
      print "---\n# Source: bench/templates/networkpolicy.yaml"
      print "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " a "\nspec:\n  podSelector:\n    matchLabels:\n      app: " a "\n  policyTypes: [Ingress]"
      print "  ingress:\n    - from:\n        - podSelector: {matchLabels: {app.kubernetes.io/part-of: bench}}"
      if (mode != "baseline") {
        print "---\n# Source: bench/templates/readiness.yaml"
        print "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata:\n  name: " a "\nspec:\n  targetRef: {name: " a "}\n  checklists: [{name: bench}]"
      }
    }
  }'
}

# Wall time (s) and peak RSS (KiB) of one run reading $1 on standard input.
measure() {
  local input=$1 out=$dir/out.json
  if command -v /usr/bin/time >/dev/null 2>&1; then
    /usr/bin/time -f '%e %M' -o "$dir/time" "$GONOGO" check -f - "${extra[@]}" -o json --now 2026-06-01T00:00:00Z <"$input" >"$out" || [ $? -eq 1 ]
    tail -n 1 "$dir/time" # GNU time first notes a non-zero exit status
  else
    # No GNU time: getrusage(RUSAGE_CHILDREN) through Python's resource module.
    python3 - "$GONOGO" "$input" "$out" "${extra[@]}" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2]) as i, open(sys.argv[3], "w") as o:
    rc = subprocess.call([sys.argv[1], "check", "-f", "-", *sys.argv[4:], "-o", "json", "--now", "2026-06-01T00:00:00Z"], stdin=i, stdout=o)
if rc not in (0, 1):
    sys.exit(rc)
print(f"{time.monotonic() - start:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
  fi
}

extra=()
[ "$mode" != realistic ] || extra=(--checklist tests/peers/gonogo-checklist.yaml --no-baseline)

printf '%-8s %-10s %-9s %-8s %-10s %s\n' N documents input wall_s peak_MB judged
for n in "${sizes[@]}"; do
  input=$dir/corpus-$n.yaml
  generate "$n" >"$input"
  docs=$(grep -c '^---$' "$input")
  size=$(du -h "$input" | cut -f1)
  read -r wall rss < <(measure "$input")
  judged=$(grep -c '"readiness":' "$dir/out.json" || true)
  printf '%-8s %-10s %-9s %-8s %-10s %s\n' "$n" "$docs" "$size" "$wall" "$((rss / 1024))" "$judged"
done
