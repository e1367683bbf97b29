#!/usr/bin/env python3
"""Generate a benchmark corpus: N Deployments with their Services, HPAs, PDBs, PVCs, Secrets and
ConfigMaps, rendered like `helm template` output (`# Source:` comments, `---` separators).

Deterministic: Deployment i depends only on (seed, i), so the corpus for N=1000 is the first
1000 Deployments of the corpus for N=10000, and two runs with the same seed are byte-identical.

Pod templates look like production ones: an app container with probes, resources and a
securityContext; sometimes a plain init container (migrations), a native sidecar (an
initContainer with restartPolicy: Always, e.g. a mesh proxy) and a classic sidecar container
(a metrics exporter). About half the Deployments are clean; the rest carry one or two defects
from the catalog DEFECTS below, each tied to one of the shared checks (probes, resources,
image, security, pdb, hpa). Some defects are chosen because tools disagree on them (a native
sidecar without probes, a limit without a request, an untagged image from a registry with a
port, ...); the benchmark's agreement report explains those.

Usage: bench_corpus.py N [--seed S] [-o FILE] [--truth FILE]
  --truth FILE writes the injected defects as JSON: {"namespace/name": [defect, ...]}.
Standard library only.
"""

import argparse
import json
import random
import sys

# defect id -> (shared check, what it does)
DEFECTS = {
    "app-no-readiness": ("probes", "app container has no readinessProbe"),
    "app-no-liveness": ("probes", "app container has no livenessProbe"),
    "sidecar-no-probes": ("probes", "classic sidecar container has no probes"),
    "native-sidecar-no-probes": ("probes", "native sidecar (initContainer, restartPolicy Always) has no probes"),
    "no-memory-limit": ("resources", "app container has no memory limit"),
    "no-cpu-limit": ("resources", "app container has no cpu limit"),
    "limit-without-request": ("resources", "app container has limits but no requests (Kubernetes defaults requests to limits)"),
    "init-no-resources": ("resources", "plain init container has no resources"),
    "sidecar-no-resources": ("resources", "classic sidecar container has no resources"),
    "image-latest": ("image", "app image tagged :latest"),
    "image-untagged": ("image", "app image without tag"),
    "image-untagged-registry-port": ("image", "app image without tag from a registry with a port (host:5000/repo)"),
    "init-image-latest": ("image", "plain init container image tagged :latest"),
    "no-run-as-non-root": ("security", "no runAsNonRoot and no runAsUser anywhere"),
    "container-run-as-root": ("security", "app container runAsUser: 0 under a pod runAsNonRoot: true"),
    "low-uid-no-run-as-non-root": ("security", "pod runAsUser: 1000 without runAsNonRoot (non-root by uid)"),
    "writable-root-fs": ("security", "app container readOnlyRootFilesystem: false"),
    "sidecar-no-security-context": ("security", "classic sidecar container has no securityContext"),
    "init-writable-root-fs": ("security", "plain init container without readOnlyRootFilesystem"),
    "no-pdb": ("pdb", "no PodDisruptionBudget"),
    "pdb-selector-mismatch": ("pdb", "the PodDisruptionBudget selects other pods"),
    "no-hpa": ("hpa", "no HorizontalPodAutoscaler"),
    "hpa-wrong-target": ("hpa", "the HorizontalPodAutoscaler targets a StatefulSet of the same name"),
}

# Per shared check: the probability that a Deployment gets a defect there, and the defects
# (weights) to pick from. The features a defect needs (a sidecar, an init container) are forced.
CATEGORIES = [
    ("probes", 0.10, {"app-no-readiness": 3, "app-no-liveness": 2, "sidecar-no-probes": 2, "native-sidecar-no-probes": 2}),
    ("resources", 0.10, {"no-memory-limit": 3, "no-cpu-limit": 2, "limit-without-request": 2, "init-no-resources": 2, "sidecar-no-resources": 1}),
    ("image", 0.07, {"image-latest": 3, "image-untagged": 2, "image-untagged-registry-port": 2, "init-image-latest": 1}),
    ("security", 0.10, {"no-run-as-non-root": 3, "container-run-as-root": 2, "low-uid-no-run-as-non-root": 1, "writable-root-fs": 2, "sidecar-no-security-context": 1, "init-writable-root-fs": 1}),
    ("pdb", 0.07, {"no-pdb": 3, "pdb-selector-mismatch": 1}),
    ("hpa", 0.07, {"no-hpa": 3, "hpa-wrong-target": 1}),
]

TEAMS = ["payments", "search", "checkout", "identity", "catalog", "ledger", "notify", "media",
         "growth", "risk", "billing", "inventory", "pricing", "shipping", "reviews", "ads",
         "maps", "chat", "feeds", "profile"]
ROLES = ["api", "worker", "gateway", "web", "consumer", "scheduler", "indexer", "sync"]


def pick(rng, weights):
    total = sum(weights.values())
    r = rng.uniform(0, total)
    for key, w in weights.items():
        r -= w
        if r <= 0:
            return key
    return key


def plan(seed, i):
    """The Deployment's features and defects, from (seed, i) only."""
    rng = random.Random(f"{seed}:{i}")
    defects = []
    for _, p, weights in CATEGORIES:
        if rng.random() < p:
            defects.append(pick(rng, weights))
    team = TEAMS[i % len(TEAMS)]
    role = ROLES[rng.randrange(len(ROLES))]
    f = {
        "i": i,
        "namespace": f"team-{team}",
        "name": f"{team}-{role}-{i}",
        "release": f"{team}-{i // 50}",
        "replicas": rng.choice([2, 2, 3, 3, 4, 6]),
        "init": rng.random() < 0.45,
        "native_sidecar": rng.random() < 0.35,
        "sidecar": rng.random() < 0.30,
        "pvc": rng.random() < 0.35,
        "service": rng.random() < 0.92,
        "probe_kind": rng.choice(["http", "http", "http", "tcp", "exec"]),
        "cpu": rng.choice(["50m", "100m", "250m", "500m", "1"]),
        "mem": rng.choice(["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"]),
        "image_version": f"{rng.randrange(1, 4)}.{rng.randrange(0, 20)}.{rng.randrange(0, 30)}",
        "digest": rng.random() < 0.08,
        "pdb_percent": rng.random() < 0.3,
        "hpa_cpu": rng.randrange(50, 90),
        "defects": defects,
    }
    d = set(defects)
    if d & {"sidecar-no-probes", "sidecar-no-resources", "sidecar-no-security-context"}:
        f["sidecar"] = True
    if "native-sidecar-no-probes" in d:
        f["native_sidecar"] = True
    if d & {"init-no-resources", "init-image-latest", "init-writable-root-fs"}:
        f["init"] = True
    if "app-no-readiness" in d:
        # A readinessProbe elsewhere in the pod would hide the defect from pod-level checks.
        f["sidecar"] = f["native_sidecar"] = False
    return f


def probe_yaml(kind, what, port, indent):
    pad = " " * indent
    key = {"ready": "readinessProbe", "live": "livenessProbe", "startup": "startupProbe"}[what]
    if kind == "http":
        action = f"{pad}  httpGet: {{path: /{what}, port: {port}}}\n"
    elif kind == "tcp":
        action = f"{pad}  tcpSocket: {{port: {port}}}\n"
    else:
        action = f"{pad}  exec:\n{pad}    command: [/bin/check, --{what}]\n"
    period, threshold = (10, 3) if what == "ready" else (20, 5)
    return f"{pad}{key}:\n{action}{pad}  periodSeconds: {period}\n{pad}  failureThreshold: {threshold}\n"


def sc_yaml(indent, read_only=True, run_as_user=None, drop_all=True):
    pad = " " * indent
    out = f"{pad}securityContext:\n{pad}  allowPrivilegeEscalation: false\n"
    if read_only is not None:
        out += f"{pad}  readOnlyRootFilesystem: {'true' if read_only else 'false'}\n"
    if run_as_user is not None:
        out += f"{pad}  runAsUser: {run_as_user}\n"
    if drop_all:
        out += f"{pad}  capabilities:\n{pad}    drop: [ALL]\n"
    return out


def resources_yaml(indent, cpu, mem, requests=True, cpu_limit=True, mem_limit=True):
    pad = " " * indent
    out = f"{pad}resources:\n"
    if requests:
        out += f"{pad}  requests:\n{pad}    cpu: {cpu}\n{pad}    memory: {mem}\n"
    if cpu_limit or mem_limit:
        out += f"{pad}  limits:\n"
        if cpu_limit:
            out += f"{pad}    cpu: {cpu_limit_of(cpu)}\n"
        if mem_limit:
            out += f"{pad}    memory: {mem}\n"
    return out


def cpu_limit_of(cpu):
    return {"50m": "200m", "100m": "500m", "250m": "1", "500m": "2", "1": "2"}[cpu]


def deployment(f, chart):
    d = set(f["defects"])
    name, ns, rel = f["name"], f["namespace"], f["release"]
    labels = f"app.kubernetes.io/name: {name}\n        app.kubernetes.io/instance: {rel}"
    out = [f"""---
# Source: {chart}/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: {rel}
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: {chart}-0.4.2
spec:
  replicas: {f['replicas']}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
      app.kubernetes.io/instance: {rel}
  template:
    metadata:
      labels:
        {labels}
      annotations:
        checksum/config: "{f['i'] * 2654435761 % 2**32:08x}"
    spec:
      serviceAccountName: {name}
      terminationGracePeriodSeconds: 30
"""]
    # Pod-level security context.
    if "no-run-as-non-root" in d:
        out.append("      securityContext:\n        fsGroup: 10001\n")
    elif "low-uid-no-run-as-non-root" in d:
        out.append("      securityContext:\n        runAsUser: 1000\n        runAsGroup: 1000\n        fsGroup: 1000\n"
                   "        seccompProfile: {type: RuntimeDefault}\n")
    else:
        out.append("      securityContext:\n        runAsNonRoot: true\n        runAsUser: 10001\n        runAsGroup: 10001\n"
                   "        fsGroup: 10001\n        seccompProfile: {type: RuntimeDefault}\n")

    # Init containers: a plain one (migrations) and/or a native sidecar (mesh proxy).
    inits = []
    if f["init"]:
        img = "busybox:latest" if "init-image-latest" in d else "ghcr.io/acme/migrate:2.4.1"
        c = f"""        - name: migrate
          image: {img}
          command: [/migrate, up, --timeout=120s]
          envFrom:
            - secretRef: {{name: {name}-db}}
"""
        if "init-no-resources" not in d:
            c += resources_yaml(10, "100m", "64Mi")
        c += sc_yaml(10, read_only=None if "init-writable-root-fs" in d else True)
        inits.append(c)
    if f["native_sidecar"]:
        c = """        - name: mesh-proxy
          image: ghcr.io/acme/mesh-proxy:1.22.3
          restartPolicy: Always
          args: [proxy, sidecar, --log-level=warn]
          ports:
            - {name: mesh-admin, containerPort: 15000}
"""
        if "native-sidecar-no-probes" not in d:
            c += probe_yaml("http", "ready", "mesh-admin", 10).replace("/ready", "/healthz/ready")
            c += probe_yaml("tcp", "live", "mesh-admin", 10)
            c += probe_yaml("http", "startup", "mesh-admin", 10).replace("/startup", "/healthz/ready")
        c += resources_yaml(10, "100m", "128Mi")
        c += sc_yaml(10)
        inits.append(c)
    if inits:
        out.append("      initContainers:\n" + "".join(inits))

    # The app container.
    repo = "ghcr.io/acme/" + name.rsplit("-", 1)[0]
    if "image-latest" in d:
        image = f"{repo}:latest"
    elif "image-untagged" in d:
        image = repo
    elif "image-untagged-registry-port" in d:
        image = f"registry.acme.internal:5000/{name.rsplit('-', 1)[0]}"
    elif f["digest"]:
        image = f"{repo}@sha256:{(f['i'] * 0x9E3779B97F4A7C15) % 2**256:064x}"
    else:
        image = f"{repo}:{f['image_version']}"
    app = f"""      containers:
        - name: app
          image: {image}
          imagePullPolicy: IfNotPresent
          args: [serve, --port=8080]
          ports:
            - {{name: http, containerPort: 8080, protocol: TCP}}
            - {{name: metrics, containerPort: 9090, protocol: TCP}}
          env:
            - name: LOG_LEVEL
              valueFrom:
                configMapKeyRef: {{name: {name}-config, key: log-level}}
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {{name: {name}-db, key: password}}
"""
    port = "http" if f["probe_kind"] == "http" else 8080
    if "app-no-readiness" not in d:
        app += probe_yaml(f["probe_kind"], "ready", port, 10)
    if "app-no-liveness" not in d:
        app += probe_yaml(f["probe_kind"], "live", port, 10).replace("/live", "/livez")
    app += resources_yaml(10, f["cpu"], f["mem"],
                          requests="limit-without-request" not in d,
                          cpu_limit="no-cpu-limit" not in d,
                          mem_limit="no-memory-limit" not in d)
    app += sc_yaml(10,
                   read_only=False if "writable-root-fs" in d else True,
                   run_as_user=0 if "container-run-as-root" in d else None)
    mounts = ["            - {name: tmp, mountPath: /tmp}\n",
              "            - {name: secrets, mountPath: /etc/secrets, readOnly: true}\n"]
    if f["pvc"]:
        mounts.append("            - {name: data, mountPath: /var/lib/data}\n")
    app += "          volumeMounts:\n" + "".join(mounts)
    out.append(app)

    if f["sidecar"]:
        c = """        - name: metrics-exporter
          image: ghcr.io/acme/exporter:0.9.4
          args: [--listen=:9100, --scrape=http://localhost:9090/metrics]
          ports:
            - {name: exporter, containerPort: 9100}
"""
        if "sidecar-no-probes" not in d:
            c += probe_yaml("http", "ready", "exporter", 10).replace("/ready", "/metrics")
            c += probe_yaml("tcp", "live", "exporter", 10)
        if "sidecar-no-resources" not in d:
            c += resources_yaml(10, "50m", "64Mi")
        if "sidecar-no-security-context" not in d:
            c += sc_yaml(10)
        out.append(c)

    vols = ["        - name: tmp\n          emptyDir: {sizeLimit: 256Mi}\n",
            f"        - name: secrets\n          secret: {{secretName: {name}-tls}}\n"]
    if f["pvc"]:
        vols.append(f"        - name: data\n          persistentVolumeClaim: {{claimName: {name}-data}}\n")
    out.append("      volumes:\n" + "".join(vols))
    return "".join(out)


def related(f, chart):
    d = set(f["defects"])
    name, ns, rel = f["name"], f["namespace"], f["release"]
    meta = f"""  namespace: {ns}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/instance: {rel}
    app.kubernetes.io/managed-by: Helm
"""
    sel = f"""      app.kubernetes.io/name: {name}
      app.kubernetes.io/instance: {rel}
"""
    out = [f"""---
# Source: {chart}/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
{meta}automountServiceAccountToken: false
---
# Source: {chart}/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: {name}-db
{meta}type: Opaque
data:
  password: {'cGFzc3dvcmQ='}
  username: {'YXBw'}
---
# Source: {chart}/templates/tls-secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: {name}-tls
{meta}type: Opaque
data:
  ca.crt: {'Y2E='}
---
# Source: {chart}/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
{meta}data:
  log-level: info
  features: "search,checkout"
"""]
    if f["service"]:
        out.append(f"""---
# Source: {chart}/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: {name}
{meta}spec:
  type: ClusterIP
  selector:
{sel.replace('      ', '    ')}  ports:
    - {{name: http, port: 80, targetPort: http}}
    - {{name: metrics, port: 9090, targetPort: metrics}}
""")
    if "no-pdb" not in d:
        pdb_sel = sel
        if "pdb-selector-mismatch" in d:
            pdb_sel = f"      app.kubernetes.io/name: {name}-canary\n      app.kubernetes.io/instance: {rel}\n"
        budget = "maxUnavailable: 25%" if f["pdb_percent"] else "maxUnavailable: 1"
        out.append(f"""---
# Source: {chart}/templates/pdb.yaml
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name}
{meta}spec:
  {budget}
  selector:
    matchLabels:
{pdb_sel}""")
    if "no-hpa" not in d:
        kind = "StatefulSet" if "hpa-wrong-target" in d else "Deployment"
        out.append(f"""---
# Source: {chart}/templates/hpa.yaml
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
{meta}spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {kind}
    name: {name}
  minReplicas: {f['replicas']}
  maxReplicas: {f['replicas'] * 4}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {{type: Utilization, averageUtilization: {f['hpa_cpu']}}}
""")
    if f["pvc"]:
        out.append(f"""---
# Source: {chart}/templates/pvc.yaml
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}-data
{meta}spec:
  accessModes: [ReadWriteOnce]
  storageClassName: standard
  resources:
    requests:
      storage: 10Gi
""")
    return "".join(out)


def generate(n, seed, out, truth=None):
    for i in range(n):
        f = plan(seed, i)
        chart = f["name"].rsplit("-", 1)[0]
        out.write(deployment(f, chart))
        out.write(related(f, chart))
        if truth is not None:
            truth[f"{f['namespace']}/{f['name']}"] = f["defects"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", default="gonogo")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--truth")
    args = ap.parse_args()
    truth = {} if args.truth else None
    out = sys.stdout if args.output == "-" else open(args.output, "w", buffering=1 << 20)
    generate(args.n, args.seed, out, truth)
    if out is not sys.stdout:
        out.close()
    if args.truth:
        with open(args.truth, "w") as t:
            json.dump({"seed": args.seed, "defects": DEFECTS, "deployments": truth}, t, indent=1)


if __name__ == "__main__":
    main()
