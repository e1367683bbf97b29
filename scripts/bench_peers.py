#!/usr/bin/env python3
"""Side-by-side benchmark of `gonogo check` and peer tools on one generated corpus.

Called by scripts/bench-peers.sh, which builds gonogo and the peers first. For each N it
generates a corpus (scripts/bench_corpus.py), runs every tool on it under GNU time
(`/usr/bin/time -v`: wall, user+sys CPU, peak RSS), interleaving the tools run by run so load
from other processes hits all of them alike, then compares their verdicts per Deployment and
per shared check. Writes results JSON + CSV, a PNG plot (matplotlib, from the peers venv) and
the generated part of BENCHMARKS.md (between the `<!-- peers:begin -->` and `<!-- peers:end -->`
markers).

Run through the wrapper: scripts/bench-peers.sh --help.
"""

import argparse
import csv
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import bench_corpus  # noqa: E402

CHECKS = ["probes", "resources", "image", "security", "pdb", "hpa"]

# Which checks of each tool stand for each shared check. None: the tool has no equivalent.
KUBE_SCORE = {
    "probes": ["pod-probes"],
    "resources": ["container-resources"],
    "image": ["container-image-tag"],
    "security": ["container-security-context-user-group-id", "container-security-context-readonlyrootfilesystem"],
    "pdb": ["deployment-has-poddisruptionbudget"],
    "hpa": None,
}
CHECKOV = {
    "probes": ["CKV_K8S_8", "CKV_K8S_9"],
    "resources": ["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"],
    "image": ["CKV_K8S_14"],
    "security": ["CKV_K8S_22", "CKV_K8S_23"],
    "pdb": None,
    "hpa": None,
}

# Why tools disagree on a defect of the corpus (scripts/bench_corpus.py DEFECTS). Keyed by
# defect; "clean" is a check without an injected defect.
EXPLAIN = {
    "native-sidecar-no-probes": "gonogo probes native sidecars (initContainers with restartPolicy Always: they run "
        "for the pod's lifetime and their readiness gates the pod's); checkov looks at `containers` only; kube-score "
        "is satisfied by one readinessProbe and one livenessProbe anywhere in the pod.",
    "sidecar-no-probes": "kube-score is satisfied by one probe of each kind anywhere in the pod, so a sidecar without "
        "probes next to an app container with probes passes; gonogo and checkov judge every container.",
    "app-no-liveness": "kube-score is satisfied by a livenessProbe on any container of the pod, init containers "
        "included (the mesh proxy native sidecar's counts), and skips pods no Service selects; gonogo and "
        "checkov require it on every app container.",
    "app-no-readiness": "kube-score skips its probe check for pods no Service selects.",
    "limit-without-request": "gonogo counts a request that Kubernetes defaults from the limit as set (the API "
        "server copies limits to missing requests); kube-score flags the missing requests field (a warning); "
        "checkov's CKV_K8S_10/12 return UNKNOWN when `resources.requests` is absent, which its report lists "
        "neither as passed nor as failed.",
    "image-untagged-registry-port": "kube-score takes everything after the last ':' as the tag, so "
        "it reads `registry.acme.internal:5000/app` as tag `5000/app` and passes; gonogo and checkov parse the "
        "registry port.",
    "container-run-as-root": "checkov (CKV_K8S_23) lets the pod's runAsNonRoot: true cover a container that sets "
        "runAsUser: 0 (the kubelet refuses to start it); gonogo fails an explicit uid 0 whatever runAsNonRoot says.",
    "low-uid-no-run-as-non-root": "kube-score requires uid and gid > 10000 (a different rule: collisions with host "
        "users); gonogo and checkov accept any non-zero uid as non-root.",
    "no-pdb": "gonogo reports a missing PodDisruptionBudget as Unknown offline (it may live outside the manifests); "
        "counted as flagged here.",
    "pdb-selector-mismatch": "as no-pdb: no budget selects the pods.",
    "no-hpa": "only gonogo checks that an HPA exists (Unknown offline, counted as flagged).",
    "hpa-wrong-target": "only gonogo checks that an HPA exists (Unknown offline, counted as flagged).",
}


# --------------------------------------------------------------------------------------------
# Tools


class Tool:
    name = ""
    lang = ""
    mapping = None  # shared check -> tool check ids (None: gonogo)

    def __init__(self, args):
        self.args = args

    def covers(self, check):
        return self.mapping is None or self.mapping.get(check) is not None

    def env(self):
        return None


class Gonogo(Tool):
    name, lang = "gonogo", "Rust"

    def version(self):
        return run_text([self.args.gonogo, "--version"]).split()[-1]

    def argv(self, corpus):
        return [self.args.gonogo, "check", "-f", str(corpus), "--checklist", str(self.args.checklist),
                "--no-baseline", "-o", "json", "--now", "2026-06-01T00:00:00Z"]

    def parse(self, out):
        doc = json.loads(Path(out).read_text())
        verdicts = {}
        for dep in doc["deployments"]:
            key = f"{dep['namespace']}/{dep['name']}"
            gates = {}
            for ev in dep["evaluations"]:
                for g in ev["gates"]:
                    status = {"Pass": "pass", "Fail": "fail", "Unknown": "unknown", "Skipped": "skip",
                              "Waived": "pass"}[g["result"]]
                    gates[g["name"]] = (status, g["message"] or "")
            verdicts[key] = gates
        return verdicts


class KubeScore(Tool):
    name, lang = "kube-score", "Go"
    mapping = KUBE_SCORE

    def version(self):
        # "kube-score version: v1.20.0, commit: N/A, built: N/A"
        return run_text([self.bin(), "version"]).split()[2].rstrip(",")

    def bin(self):
        return str(Path(self.args.peers_bin) / "kube-score")

    def ignored(self):
        if not hasattr(self, "_ignored"):
            keep = {c for ids in KUBE_SCORE.values() if ids for c in ids}
            listed = run_text([self.bin(), "list"]).splitlines()
            self._ignored = sorted({line.split(",")[0] for line in listed if line.strip()} - keep)
        return self._ignored

    def argv(self, corpus):
        argv = [self.bin(), "score", "-o", "json", "--color", "never"]
        for test in self.ignored():
            argv += ["--ignore-test", test]
        return argv + [str(corpus)]

    def parse(self, out):
        by_id = {}
        for obj in json.loads(Path(out).read_text()) or []:
            if obj["type_meta"].get("kind") != "Deployment":
                continue
            meta = obj["object_meta"]
            key = f"{meta.get('namespace', 'default')}/{meta['name']}"
            by_id[key] = {c["check"]["id"]: c for c in obj["checks"]}
        verdicts = {}
        for key, checks in by_id.items():
            gates = {}
            for shared, ids in KUBE_SCORE.items():
                if not ids:
                    continue
                results = [checks[i] for i in ids if i in checks]
                if not results:
                    continue
                failing = [c for c in results if not c["skipped"] and c["grade"] < 10]
                msgs = [f"{c['check']['id']}: " + "; ".join(
                    f"{cm['path'] + ': ' if cm['path'] else ''}{cm['summary']}" for cm in c["comments"] or [])
                    for c in failing]
                if failing:
                    gates[shared] = ("fail", " | ".join(msgs))
                elif all(c["skipped"] for c in results):
                    gates[shared] = ("skip", "; ".join(cm["summary"] for c in results for cm in c["comments"] or []))
                else:
                    gates[shared] = ("pass", "")
            verdicts[key] = gates
        return verdicts


class Checkov(Tool):
    name, lang = "checkov", "Python"
    mapping = CHECKOV

    def bin(self):
        return str(Path(self.args.peers_bin) / "checkov")

    def version(self):
        return run_text([self.bin(), "--version"]).strip()

    def env(self):
        # No telemetry or policy download: the run stays offline like the others.
        env = dict(os.environ)
        env.update({"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"})
        return env

    def argv(self, corpus):
        ids = ",".join(c for ids in CHECKOV.values() if ids for c in ids)
        return [self.bin(), "-f", str(corpus), "--framework", "kubernetes", "--check", ids,
                "-o", "json", "--compact", "--skip-download"]

    def parse(self, out):
        doc = json.loads(Path(out).read_text())
        docs = doc if isinstance(doc, list) else [doc]
        per = defaultdict(dict)
        for d in docs:
            if d.get("check_type") != "kubernetes":
                continue
            for state, items in (("pass", d["results"]["passed_checks"]), ("fail", d["results"]["failed_checks"])):
                for item in items:
                    kind, _, rest = item["resource"].partition(".")
                    if kind != "Deployment":
                        continue
                    per[rest.replace(".", "/", 1)][item["check_id"]] = (state, item["check_name"])
        verdicts = {}
        for key, checks in per.items():
            gates = {}
            for shared, ids in CHECKOV.items():
                if not ids:
                    continue
                results = {i: checks[i] for i in ids if i in checks}
                if not results:
                    continue
                failing = [f"{i} {name}" for i, (s, name) in results.items() if s == "fail"]
                gates[shared] = ("fail", "; ".join(failing)) if failing else ("pass", "")
            verdicts[key] = gates
        return verdicts


# --------------------------------------------------------------------------------------------
# Measuring


def run_text(argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def loadavg():
    return float(Path("/proc/loadavg").read_text().split()[0])


def measure(tool, corpus, workdir, timeout):
    """One run under GNU time; returns the measurement and the path of the tool's report."""
    out, err, tfile = workdir / f"{tool.name}.out", workdir / f"{tool.name}.err", workdir / f"{tool.name}.time"
    load = loadavg()
    start = time.monotonic()
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(tfile)] + tool.argv(corpus),
                              stdout=o, stderr=e, env=tool.env(), timeout=timeout)
    wall = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{tool.name} exited {proc.returncode} on {corpus}; stderr:\n{err.read_text()[-3000:]}")
    t = tfile.read_text()

    def field(label):
        m = re.search(rf"{re.escape(label)}: (\S+)", t)
        return m.group(1) if m else "0"

    return {
        "wall_s": round(wall, 3),
        "user_s": float(field("User time (seconds)")),
        "sys_s": float(field("System time (seconds)")),
        "peak_rss_mib": round(int(field("Maximum resident set size (kbytes)")) / 1024, 1),
        "load1_before": load,
        "exit": proc.returncode,
    }, out


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


# --------------------------------------------------------------------------------------------
# Verdicts


def flagged(status):
    """Whether a tool tells the user something is wrong. gonogo's Unknown (an object the
    manifests do not show) counts as flagged; kube-score's skipped checks do not."""
    return status in ("fail", "unknown")


def compare(tools, verdicts, truth):
    """Agreement per shared check and per Deployment, and the disagreements grouped."""
    keys = sorted(set.intersection(*(set(v) for v in verdicts.values())))
    names = [t.name for t in tools]
    per_check = {}
    groups = defaultdict(list)
    pairs = [(a, b) for i, a in enumerate(tools) for b in tools[i + 1:]]
    pair_dep = {f"{a.name} vs {b.name}": Counter() for a, b in pairs}
    flagged_by = {t.name: Counter() for t in tools}
    for check in CHECKS:
        covering = [t for t in tools if t.covers(check)]
        agree = disagree = 0
        for key in keys:
            states = {t.name: verdicts[t.name][key].get(check, ("n/a", ""))[0] for t in covering}
            flags = {n: flagged(s) for n, s in states.items()}
            for n, f in flags.items():
                flagged_by[n][check] += f
            if len(covering) < 2:
                continue
            if len(set(flags.values())) == 1:
                agree += 1
                continue
            disagree += 1
            defects = tuple(sorted(d for d in truth["deployments"].get(key, [])
                                   if truth["defects"][d][0] == check)) or ("clean",)
            pattern = tuple(sorted(n for n, f in flags.items() if f))
            groups[(check, defects, pattern)].append(key)
        per_check[check] = {"tools": [t.name for t in covering], "agree": agree, "disagree": disagree,
                            "flagged": {t.name: flagged_by[t.name][check] for t in covering}}
    for a, b in pairs:
        common = [c for c in CHECKS if a.covers(c) and b.covers(c)]
        for key in keys:
            fa = any(flagged(verdicts[a.name][key].get(c, ("n/a",))[0]) for c in common)
            fb = any(flagged(verdicts[b.name][key].get(c, ("n/a",))[0]) for c in common)
            pair_dep[f"{a.name} vs {b.name}"]["agree" if fa == fb else "disagree"] += 1
        pair_dep[f"{a.name} vs {b.name}"]["checks"] = ",".join(common)
    out_groups = []
    for (check, defects, pattern), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        ex = members[0]
        out_groups.append({
            "check": check, "defects": list(defects), "flagged_by": list(pattern),
            "not_flagged_by": [t.name for t in tools if t.covers(check) and t.name not in pattern],
            "count": len(members), "example": ex,
            "messages": {n: verdicts[n][ex].get(check, ("n/a", ""))[1][:300] for n in names},
            "explanation": " ".join(EXPLAIN.get(d, "") for d in defects).strip(),
        })
    return {"deployments": len(keys), "per_check": per_check,
            "per_deployment": {k: dict(v) for k, v in pair_dep.items()}, "disagreements": out_groups}


# --------------------------------------------------------------------------------------------
# Report


def slope(points):
    """log-log slope between the first and last point, and between the last two."""
    pts = sorted(points)
    if len(pts) < 2:
        return None, None
    (n0, t0), (n1, t1), (n2, t2) = pts[0], pts[-2], pts[-1]
    whole = math.log(t2 / t0) / math.log(n2 / n0)
    last = math.log(t2 / t1) / math.log(n2 / n1)
    return round(whole, 2), round(last, 2)


def summarize(results):
    """Best-of-runs per tool and N."""
    table = defaultdict(dict)
    for r in results["runs"]:
        table[r["tool"]].setdefault(r["n"], []).append(r)
    summary = {}
    for tool, by_n in table.items():
        summary[tool] = {}
        for n, runs in sorted(by_n.items()):
            best = min(runs, key=lambda r: r["wall_s"])
            summary[tool][n] = {
                "runs": len(runs),
                "wall_best_s": best["wall_s"],
                "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 3),
                "cpu_best_s": round(min(r["user_s"] + r["sys_s"] for r in runs), 2),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "load1": [r["load1_before"] for r in runs],
            }
    return summary


def targets(results, summary):
    nmax = max(results["sizes"])
    g = summary["gonogo"]
    out = []
    gw = g[nmax]["wall_best_s"]
    peers_at = {t: s[nmax]["wall_best_s"] for t, s in summary.items() if t != "gonogo" and nmax in s}
    bounds = {}
    for t, s in summary.items():
        if t != "gonogo" and nmax not in s:
            # Not run at nmax: a lower bound by linear extrapolation from its largest N (the
            # measured growth of these tools is at least linear, see the slopes).
            n, v = max(s.items())
            bounds[t] = v["wall_best_s"] * nmax / n
    fastest_peer = min(list(peers_at.values()) + list(bounds.values()))
    out.append(("fastest of all tools at N=%d" % nmax, gw < fastest_peer,
                f"gonogo {gw:.2f} s; fastest peer {fastest_peer:.2f} s"))
    go_peers = {t: w for t, w in peers_at.items() if results["tools"][t]["lang"] == "Go"}
    if go_peers:
        t, w = min(go_peers.items(), key=lambda kv: kv[1])
        missing = [p for p in ("kube-linter", "polaris") if p not in results["tools"]]
        note = f" (only Go peer run: {', '.join(missing)} not installable here)" if missing else ""
        out.append(("≥ 2× the fastest Go peer", w / gw >= 2, f"{t} {w:.2f} s = {w / gw:.1f}× gonogo{note}"))
    if "checkov" in summary:
        if nmax in summary["checkov"]:
            w = summary["checkov"][nmax]["wall_best_s"]
            out.append(("≥ 50× checkov", w / gw >= 50, f"checkov {w:.1f} s = {w / gw:.0f}× gonogo"))
        else:
            w = bounds["checkov"]
            pts = sorted((n, v["wall_best_s"]) for n, v in summary["checkov"].items())
            n = pts[-1][0]
            detail = (f"checkov not run at {nmax}; lower bound {w:.0f} s (its N={n} time "
                      f"× {nmax // n}, i.e. as if linear) = ≥ {w / gw:.0f}× gonogo")
            if len(pts) >= 2:
                k = math.log(pts[-1][1] / pts[-2][1]) / math.log(pts[-1][0] / pts[-2][0])
                # Its measured slope, held between linear and quadratic (the algorithm's class).
                kk = min(max(k, 1.0), 2.0)
                proj = pts[-1][1] * (nmax / n) ** kk
                detail += (f"; its last measured slope is {k:.2f}, and carried on with slope {kk:.1f} it takes "
                           f"{proj / 3600:.1f} h ≈ {proj / gw:.0f}× gonogo")
            out.append(("≥ 50× checkov", w / gw >= 50, detail))
    whole, last = slope([(n, v["wall_best_s"]) for n, v in g.items()])
    cw, cl = slope([(n, v["cpu_best_s"]) for n, v in g.items()])
    # CPU time, not wall: on a shared machine the wall time of one point can double with the load.
    out.append(("linear in N", cw is not None and cw <= 1.15 and cl <= 1.15,
                f"log-log slope of CPU time {cw} over {min(g)}–{nmax}, {cl} over the last step "
                f"(wall time: {whole}, {last}); 1.0 is linear, met when both CPU slopes ≤ 1.15"))
    return out


def fmt_s(s):
    return f"{s:.2f}" if s < 100 else f"{s:.0f}"


def markdown(results, summary, agreement, tgt):
    tools = list(results["tools"])
    sizes = results["sizes"]
    m = results["machine"]
    L = []
    L.append(f"Generated by `scripts/bench-peers.sh` on {results['date']} (seed `{results['seed']}`). "
             f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
             f"shared with other engineers' builds, so the 1-minute load average before each run is recorded "
             f"(range below). Headline: **best of {results['runs_per_point']} runs** (the minimum wall time: "
             f"load from other processes only ever adds time), except that a tool whose first run at some N "
             f"took over {results['repeat_limit_s']:.0f} s runs once there (the `runs` column); medians are "
             f"in the JSON. checkov ran {results['checkov_runs']} time(s) per N, at N ≤ "
             f"{max(results['checkov_sizes'])} only. CPU time (user+sys, all threads and child processes) "
             f"is the figure least disturbed by the load.\n")
    L.append("| tool | version | language |\n|---|---|---|")
    for t in tools:
        L.append(f"| {t} | {results['tools'][t]['version']} | {results['tools'][t]['lang']} |")
    L.append("")
    L.append("Corpus sizes: " + ", ".join(f"N={c['n']}: {c['documents']} documents, {c['mib']} MiB"
                                          for c in results["corpora"]) + ".\n")
    L.append("| tool | N | runs | wall (best) | wall (median) | wall ÷ gonogo | CPU user+sys | CPU ÷ gonogo | peak RSS | load1 before runs |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    all_n = sorted({n for t in tools for n in summary[t]})
    for n in all_n:
        g = summary["gonogo"].get(n)
        for t in tools:
            s = summary[t].get(n)
            if not s:
                continue
            ratio = f"{s['wall_best_s'] / g['wall_best_s']:.1f}×" if g else "—"
            cratio = f"{s['cpu_best_s'] / max(g['cpu_best_s'], 0.01):.1f}×" if g else "—"
            loads = f"{min(s['load1']):.1f}–{max(s['load1']):.1f}"
            L.append(f"| {t} | {n} | {s['runs']} | {fmt_s(s['wall_best_s'])} s | {fmt_s(s['wall_median_s'])} s | "
                     f"{ratio} | {fmt_s(s['cpu_best_s'])} s | {cratio} | {s['peak_rss_mib']:.0f} MiB | {loads} |")
    L.append("")
    L.append("Scaling: log-log slope of time against N (1.0 = linear, 2.0 = quadratic), over the whole "
             "range and over the last step:\n")
    L.append("| tool | N range | CPU time | wall time |\n|---|---|---|---|")
    for t in tools:
        cw, cl = slope([(n, v["cpu_best_s"]) for n, v in summary[t].items()])
        whole, last = slope([(n, v["wall_best_s"]) for n, v in summary[t].items()])
        if whole is not None:
            L.append(f"| {t} | {min(summary[t])}–{max(summary[t])} | {cw}, {cl} | {whole}, {last} |")
    L.append("")
    L.append("![wall time vs N](docs/bench/peers-time.png)\n")
    L.append("### Targets (offline, N = %d)\n" % max(sizes))
    L.append("| target | result | measured |\n|---|---|---|")
    for name, ok, detail in tgt:
        L.append(f"| {name} | {'**met**' if ok else '**missed**'} | {detail} |")
    L.append("")
    a = agreement
    L.append(f"### Agreement (N = {a['n']}: {', '.join(a['per_check']['probes']['tools'])})\n")
    L.append("A tool *flags* a Deployment on a shared check when it reports a failure there (kube-score: "
             "a critical or warning grade; gonogo: Fail, or Unknown for an object the manifests do not "
             "contain). kube-score's skipped checks count as not flagged.\n")
    L.append("| check | tools with an equivalent | Deployments flagged by each | all agree | disagree |")
    L.append("|---|---|---|---|---|")
    for check, pc in a["per_check"].items():
        fl = ", ".join(f"{n} {c}" for n, c in pc["flagged"].items())
        agree = pc["agree"] if len(pc["tools"]) > 1 else "—"
        dis = pc["disagree"] if len(pc["tools"]) > 1 else "—"
        L.append(f"| {check} | {', '.join(pc['tools'])} | {fl} | {agree} | {dis} |")
    L.append("")
    L.append("Per Deployment (flagged on any check both tools cover):\n")
    L.append("| pair | checks compared | agree | disagree |\n|---|---|---|---|")
    for pair, c in a["per_deployment"].items():
        L.append(f"| {pair} | {c.get('checks', '')} | {c.get('agree', 0)} | {c.get('disagree', 0)} |")
    L.append("")
    L.append("Disagreements, grouped by check, the corpus defect behind them and who flags (count, one example, "
             "and why):\n")
    L.append("| check | defect | flagged by | not flagged by | count | example | why |")
    L.append("|---|---|---|---|---|---|---|")
    for d in a["disagreements"]:
        L.append(f"| {d['check']} | {', '.join(d['defects'])} | {', '.join(d['flagged_by']) or '—'} | "
                 f"{', '.join(d['not_flagged_by']) or '—'} | {d['count']} | `{d['example']}` | "
                 f"{d['explanation'] or 'see messages in the JSON'} |")
    L.append("")
    return "\n".join(L)


def plot(summary, path, tools_meta):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    nmax = max(n for by_n in summary.values() for n in by_n)
    for ax, key, what in ((axes[0], "wall_best_s", "wall time, best of runs (s)"),
                          (axes[1], "cpu_best_s", "CPU time user+sys, best of runs (s)")):
        for tool in tools_meta:
            by_n = summary.get(tool)
            if not by_n:
                continue
            ns = sorted(by_n)
            line, = ax.plot(ns, [by_n[n][key] for n in ns], marker="o",
                            label=f"{tool} {tools_meta[tool]['version']}")
            if ns[-1] < nmax and len(ns) >= 2:
                # Not run at the largest N: its own last slope carried on, dotted.
                (n1, t1), (n2, t2) = [(n, by_n[n][key]) for n in ns[-2:]]
                k = min(max(math.log(t2 / t1) / math.log(n2 / n1), 1.0), 2.0)
                ax.plot([n2, nmax], [t2, t2 * (nmax / n2) ** k], linestyle=":", color=line.get_color(),
                        label=f"{tool}, projected (slope {k:.1f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Deployments in the corpus (N)")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Offline check of rendered manifests: time vs N (log-log)")
    fig.tight_layout()
    fig.savefig(path)


def update_benchmarks_md(path, section):
    text = path.read_text() if path.exists() else ""
    begin, end = "<!-- peers:begin -->", "<!-- peers:end -->"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    path.write_text(text)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="Benchmark gonogo check against peer tools.")
    ap.add_argument("--gonogo", required=True)
    ap.add_argument("--peers-bin", required=True)
    ap.add_argument("--checklist", default=str(REPO / "tests/peers/gonogo-checklist.yaml"))
    ap.add_argument("--sizes", default="1000,2000,5000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checkov-sizes", default="250,500,1000,2000",
                    help="checkov's graph building is quadratic in N: hours at 10000 (BENCHMARKS.md)")
    ap.add_argument("--checkov-runs", type=int, default=1)
    ap.add_argument("--repeat-limit", type=float, default=60,
                    help="a tool whose first run at some N took longer than this many seconds runs once there")
    ap.add_argument("--tools", default="gonogo,kube-score,checkov")
    ap.add_argument("--seed", default="gonogo")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per run")
    ap.add_argument("--results-dir", default=str(REPO / "docs/bench"))
    ap.add_argument("--markdown", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--keep", help="keep corpora and reports in this directory")
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="measure nothing: redo the CSV, plot and BENCHMARKS.md section from a results JSON")
    args = ap.parse_args()
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
        report(results, results["agreement"], args)
        return

    sizes = sorted(int(s) for s in args.sizes.split(","))
    ck_sizes = sorted(int(s) for s in args.checkov_sizes.split(",")) if args.checkov_sizes else []
    all_tools = {"gonogo": Gonogo, "kube-score": KubeScore, "checkov": Checkov}
    tools = [all_tools[t](args) for t in args.tools.split(",")]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gonogo-peers-"))
    work.mkdir(parents=True, exist_ok=True)

    results = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "seed": args.seed, "machine": machine(),
        "runs_per_point": args.runs, "checkov_runs": args.checkov_runs, "repeat_limit_s": args.repeat_limit, "checkov_sizes": ck_sizes, "sizes": sizes,
        "tools": {t.name: {"version": t.version(), "lang": t.lang, "argv": t.argv(Path("CORPUS.yaml"))}
                  for t in tools},
        "corpora": [], "runs": [],
    }
    verdicts_by_n = {}
    truth = None
    try:
        for n in sorted(set(sizes) | set(ck_sizes if any(t.name == "checkov" for t in tools) else [])):
            corpus, truth_path = work / f"corpus-{n}.yaml", work / f"truth-{n}.json"
            subprocess.run([sys.executable, str(HERE / "bench_corpus.py"), str(n), "--seed", args.seed,
                            "-o", str(corpus), "--truth", str(truth_path)], check=True)
            truth = json.loads(truth_path.read_text())
            docs = sum(1 for line in open(corpus) if line == "---\n")
            results["corpora"].append({"n": n, "documents": docs, "mib": round(corpus.stat().st_size / 2**20, 1)})
            here = [t for t in tools if (n in ck_sizes if t.name == "checkov" else n in sizes)]
            runs = {t.name: (args.checkov_runs if t.name == "checkov" else args.runs) for t in here}
            reports = {}
            for r in range(max(runs.values())):
                for t in here:
                    if r >= runs[t.name]:
                        continue
                    m, out = measure(t, corpus, work, args.timeout)
                    if r == 0 and m["wall_s"] > args.repeat_limit:
                        runs[t.name] = 1
                    m.update({"tool": t.name, "n": n, "run": r + 1})
                    results["runs"].append(m)
                    print(f"N={n:<6} {t.name:<11} run {r + 1}: wall {m['wall_s']:8.2f} s  cpu "
                          f"{m['user_s'] + m['sys_s']:8.2f} s  rss {m['peak_rss_mib']:7.0f} MiB  "
                          f"load {m['load1_before']:.1f}", file=sys.stderr, flush=True)
                    if r == 0:
                        reports[t.name] = t.parse(out)
            verdicts_by_n[n] = (here, reports, truth)
            if not args.keep:
                corpus.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # Agreement on the largest N every tool ran at (verdicts do not depend on N: Deployment i
    # is the same in every corpus).
    n_all = max(verdicts_by_n, key=lambda n: (len(verdicts_by_n[n][0]), n))
    here, reports, truth_n = verdicts_by_n[n_all]
    agreement = compare(here, reports, truth_n)
    agreement["n"] = n_all
    report(results, agreement, args)


def report(results, agreement, args):
    """Results JSON and CSV, plot, and the BENCHMARKS.md section."""
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    for d in agreement["disagreements"]:
        # Explanations from this script's EXPLAIN, so --report-only picks up edits to it.
        d["explanation"] = " ".join(EXPLAIN.get(x, "") for x in d["defects"]).strip()
    summary = summarize(results)
    tgt = targets(results, summary)
    results["summary"] = {t: {str(n): v for n, v in s.items()} for t, s in summary.items()}
    results["targets"] = [{"target": a, "met": b, "detail": c} for a, b, c in tgt]
    results["agreement"] = agreement

    (results_dir / "peers-results.json").write_text(json.dumps(results, indent=1) + "\n")
    with open(results_dir / "peers-results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tool", "version", "n", "run", "wall_s", "user_s", "sys_s", "peak_rss_mib", "load1_before", "exit"])
        for r in results["runs"]:
            w.writerow([r["tool"], results["tools"][r["tool"]]["version"], r["n"], r["run"], r["wall_s"],
                        r["user_s"], r["sys_s"], r["peak_rss_mib"], r["load1_before"], r["exit"]])
    plot(summary, results_dir / "peers-time.png", results["tools"])
    section = markdown(results, summary, agreement, tgt)
    update_benchmarks_md(Path(args.markdown), section)
    print(section)


if __name__ == "__main__":
    main()
