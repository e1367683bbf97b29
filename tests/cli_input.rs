//! `gonogo check` reads what kubectl reads (issue 15): YAML 1.1 scalars in rendered charts,
//! JSON streams, old API versions; a document it cannot read is reported and the run goes on;
//! the table, `-o compact`, several paths after `-f`, strict check parameters. And it judges
//! every workload kind it can hold (issue 14): StatefulSet-only and DaemonSet-only charts.
//!
//! The inputs under `tests/fixtures/rendered/` keep the shape of the real charts and manifests
//! they are named after.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const NOW: &str = "2026-06-01T00:00:00Z";
const RENDERED: &str = "tests/fixtures/rendered";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gonogo(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gonogo"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("check")
        .args(["--now", NOW])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("gonogo runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn check(args: &[&str]) -> Run {
    gonogo(args, None, &[])
}

fn fixture(name: &str) -> String {
    format!("{RENDERED}/{name}")
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// `name -> result` of every gate of one workload.
fn results(report: &Value, deployment: &str) -> Vec<(String, String)> {
    report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == deployment)
        .flat_map(|d| d["evaluations"].as_array().unwrap().iter())
        .flat_map(|e| e["gates"].as_array().unwrap().iter())
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- every workload kind

/// `(kind, name)` of every workload judged.
fn workloads(report: &Value) -> Vec<(String, String)> {
    report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The message of one gate of one workload.
fn message(report: &Value, workload: &str, gate: &str) -> String {
    report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == workload)
        .flat_map(|d| d["evaluations"].as_array().unwrap().iter())
        .flat_map(|e| e["gates"].as_array().unwrap().iter())
        .find(|g| g["name"] == gate)
        .map(|g| g["message"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no gate {gate} on {workload}"))
}

#[test]
fn a_statefulset_only_chart_is_judged() {
    // bitnami redis (replication): two StatefulSets, headless Service, PDBs, no Deployment. It
    // used to exit 2 ("no Deployment ...").
    let run = check(&["-f", &fixture("bitnami-redis.yaml"), "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = json(&run);
    assert_eq!(
        workloads(&report),
        [
            ("StatefulSet".to_string(), "redis-master".to_string()),
            ("StatefulSet".to_string(), "redis-replicas".to_string())
        ]
    );
    let gates = results(&report, "redis-replicas");
    for gate in [
        "probes",
        "resources",
        "replicas",
        "disruption-budget",
        "pvcs",
    ] {
        assert!(
            gates.contains(&(gate.into(), "Pass".into())),
            "{gate}: {gates:?}"
        );
    }
    // The baseline's replica count and PDB read the StatefulSet's own spec.replicas; the claims
    // of its volumeClaimTemplates are created with its pods.
    assert!(
        message(&report, "redis-replicas", "disruption-budget")
            .contains("(StatefulSet redis-replicas spec.replicas)"),
        "{}",
        message(&report, "redis-replicas", "disruption-budget")
    );
    assert!(
        message(&report, "redis-replicas", "pvcs")
            .contains("3 claim(s) from the volumeClaimTemplates of StatefulSet redis-replicas"),
        "{}",
        message(&report, "redis-replicas", "pvcs")
    );
    // The table names the kind.
    let table = check(&[
        "-f",
        &fixture("bitnami-redis.yaml"),
        "--color",
        "never",
        "-v",
    ]);
    assert!(
        table.stdout.contains("StatefulSet cache/redis-master"),
        "{}",
        table.stdout
    );
}

#[test]
fn a_daemonset_is_judged_with_the_checks_that_apply_to_it() {
    // prometheus-node-exporter: a DaemonSet on the host's network and PID namespaces.
    let run = check(&["-f", &fixture("node-exporter-daemonset.yaml"), "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = json(&run);
    assert_eq!(
        workloads(&report),
        [("DaemonSet".to_string(), "node-exporter".to_string())]
    );
    let gates = results(&report, "node-exporter");
    assert!(
        gates.contains(&("probes".into(), "Pass".into())),
        "{gates:?}"
    );
    assert!(
        gates.contains(&("security-context".into(), "Fail".into())),
        "{gates:?}"
    );
    // One pod per node: no replica count to judge offline, not a failure.
    assert!(
        gates.contains(&("replicas".into(), "Skipped".into())),
        "{gates:?}"
    );
    assert!(
        message(&report, "node-exporter", "replicas").contains("one pod per eligible node"),
        "{}",
        message(&report, "node-exporter", "replicas")
    );
}

#[test]
fn a_cronjob_only_input_says_why_its_pod_template_is_not_judged() {
    let text = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: backup}\nspec:\n  schedule: '0 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: b, image: 'busybox:1.36'}]\n";
    let run = gonogo(&["-f", "-"], Some(text), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("0 Job(s) and 1 CronJob(s) were read: their pod templates are not judged"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`job` gate"), "{}", run.stderr);
}

#[test]
fn kinds_limits_the_workloads_judged() {
    let both = [
        "-f",
        &fixture("bitnami-contour.yaml"),
        &fixture("bitnami-redis.yaml"),
        "-o",
        "json",
    ];
    let all = json(&check(&both));
    let kinds: Vec<String> = workloads(&all).into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"Deployment".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"StatefulSet".to_string()), "{kinds:?}");

    let mut only = both.to_vec();
    only.extend(["--kinds", "sts"]);
    let sts = json(&check(&only));
    assert!(
        workloads(&sts).iter().all(|(k, _)| k == "StatefulSet"),
        "{:?}",
        workloads(&sts)
    );
    assert_eq!(workloads(&sts).len(), 2);

    let bad = check(&["-f", &fixture("bitnami-redis.yaml"), "--kinds", "pod"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a workload kind"), "{}", bad.stderr);
}

#[test]
fn a_checklist_flag_reads_the_objects_its_items_need() {
    // A `resource` gate and a `cel` list of a --checklist checklist: their objects are in the
    // manifests and must reach the snapshot (a `resource` gate was Unknown "not in the manifests").
    let dir = fixture("checklist-flag");
    let run = check(&[
        "-f",
        &format!("{dir}/app.yaml"),
        "--checklist",
        &format!("{dir}/checklist.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let gates = results(&json(&run), "api");
    assert_eq!(
        gates,
        [
            ("alert-rules".to_string(), "Pass".to_string()),
            ("one-deployment-config".to_string(), "Pass".to_string())
        ]
    );
}

#[test]
fn control_characters_from_the_input_never_reach_the_terminal() {
    // A container name carrying an escape sequence (clear screen, set the window title) and a
    // bell: shown escaped, in colour or not, in the table and the one-line format.
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: \"api\\u001b[2J\\u001b]0;pwned\\u0007\", image: \"api:1\"}]\n";
    for args in [
        &["-f", "-", "--color", "always"][..],
        &["-f", "-", "-o", "compact"][..],
    ] {
        let run = gonogo(args, Some(text), &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.contains("api\\u{1b}[2J"), "{}", run.stdout);
        assert!(
            !run.stdout.contains("\u{1b}[2J"),
            "a raw escape sequence reached the output"
        );
        assert!(
            !run.stdout.contains('\u{7}'),
            "a raw bell reached the output"
        );
    }
}

// ---------------------------------------------------------------- parsing as kubectl does

#[test]
fn bitnami_octal_modes_are_read_as_kubectl_reads_them() {
    // bitnami contour (also kong, mongodb, parse): `defaultMode: 0644` and item `mode: 0440`.
    let run = check(&["-f", &fixture("bitnami-contour.yaml"), "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report = json(&run);
    assert_eq!(report["inputErrors"], serde_json::json!([]));
    assert_eq!(report["deployments"][0]["name"], "contour-contour");
    assert_eq!(report["deployments"][0]["namespace"], "projectcontour");
    let gates = results(&report, "contour-contour");
    assert!(
        gates.contains(&("probes".into(), "Pass".into())),
        "{gates:?}"
    );
    // The ConfigMap's `mode: 0644` inside a block of text stays text; nothing warns.
    assert!(!run.stderr.contains("0644"), "{}", run.stderr);
}

#[test]
fn istio_yes_no_booleans_and_octal_are_read_where_the_schema_wants_them() {
    // istio samples/jwt-server: `defaultMode: 0400`; plus `readOnly: yes`, `stdin: no`,
    // `tty: off`, `optional: No` as YAML 1.1 writes booleans.
    let run = check(&["-f", &fixture("istio-jwt-server.yaml"), "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report = json(&run);
    assert_eq!(report["totals"]["deployments"], 1);
    assert_eq!(report["totals"]["inputErrors"], 0);
    // A string field keeps its text: a label value `0644` is not a number.
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, labels: {build: 0644}}\nspec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      containers: [{name: d, image: d:1, securityContext: {privileged: no}}]\n";
    let run = gonogo(&["-f", "-", "-o", "json"], Some(text), &[]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    // Still an error when no reading makes sense.
    let run = gonogo(
        &["-f", "-"],
        Some(&text.replace("privileged: no", "privileged: maybe")),
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("privileged: invalid type: string \"maybe\""),
        "{}",
        run.stderr
    );
}

#[test]
fn json_values_back_to_back_are_each_read() {
    let run = check(&["-f", &fixture("json-stream.json"), "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report = json(&run);
    let names: Vec<&str> = report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker"]);
    // Lines point at each value's first line.
    assert_eq!(report["deployments"][0]["location"]["line"], 2);
    assert_eq!(report["deployments"][1]["location"]["line"], 13);
    // A broken value after good ones is an input error at its position.
    let run = gonogo(
        &["-f", "-", "-o", "json"],
        Some(
            "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n{\"kind\": }\n",
        ),
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<stdin>:2:"), "{}", run.stderr);
}

#[test]
fn old_api_versions_are_judged_as_their_replacement_with_a_warning() {
    let run = check(&["-f", &fixture("old-apis.yaml"), "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    for expected in [
        "old-apis.yaml:2: Deployment legacy-web is extensions/v1beta1, which Kubernetes 1.16+ does not serve; judged as apps/v1",
        "old-apis.yaml:18: Deployment legacy-api is apps/v1beta2, which Kubernetes 1.16+ does not serve; judged as apps/v1",
        "old-apis.yaml:40: Ingress legacy-web is extensions/v1beta1, which Kubernetes 1.22+ does not serve; judged as networking.k8s.io/v1",
        "old-apis.yaml:57: PodDisruptionBudget legacy-web is policy/v1beta1, which Kubernetes 1.25+ does not serve; judged as policy/v1",
    ] {
        assert!(
            run.stderr.contains(expected),
            "want {expected:?} in:\n{}",
            run.stderr
        );
    }
    let report = json(&run);
    assert_eq!(report["totals"]["deployments"], 2);
    // The v1beta1 PDB counts for the extensions/v1beta1 Deployment (its selector was defaulted
    // from the template labels).
    let gates = results(&report, "legacy-web");
    assert!(
        gates.contains(&("disruption-budget".into(), "Pass".into())),
        "{gates:?}"
    );
}

#[test]
fn a_related_object_in_two_files_is_read_once_the_last_one_winning() {
    // ingress-nginx ships the same controller Service and PodDisruptionBudget in every cloud
    // variant's deploy.yaml; both files given (as a glob gives them) used to keep both copies:
    // "PodDisruptionBudgets ingress-nginx-controller, ingress-nginx-controller all select the pods".
    let (aws, metal) = (
        fixture("ingress-nginx-aws.yaml"),
        fixture("ingress-nginx-baremetal.yaml"),
    );
    let run = check(&["-f", &aws, &metal, "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    for expected in [
        format!(
            "{metal}:3: Service ingress-nginx/ingress-nginx-controller appears again (first at {aws}:3); the last one is used, as kubectl apply would leave it"
        ),
        format!(
            "{metal}:92: PodDisruptionBudget ingress-nginx/ingress-nginx-controller appears again (first at {aws}:92); the last one is used"
        ),
    ] {
        assert!(
            run.stderr.contains(&expected),
            "want {expected:?} in:\n{}",
            run.stderr
        );
    }
    let gates = results(&json(&run), "ingress-nginx-controller");
    assert!(
        gates.contains(&("disruption-budget".into(), "Pass".into())),
        "{gates:?}"
    );
}

#[test]
fn an_autoscaling_v1_hpa_is_read_as_the_api_server_serves_it() {
    // bitnami-style: `replicas: 1` on the Deployment, an autoscaling/v1 HPA with minReplicas 3
    // and targetCPUUtilizationPercentage. It used to be skipped ("not served") and `replicas`
    // failed on spec.replicas 1.
    let file = fixture("bitnami-hpa-v1.yaml");
    let run = check(&["-f", &file, "-o", "json"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    assert!(
        !run.stderr.contains("HorizontalPodAutoscaler"),
        "{}",
        run.stderr
    );
    let report = json(&run);
    let gates = results(&report, "web-nginx");
    assert!(
        gates.contains(&("replicas".into(), "Pass".into())),
        "{gates:?}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let run = gonogo(&["-f", "-", "-v"], Some(&text), &[]);
    assert!(
        run.stdout
            .contains("HorizontalPodAutoscaler web-nginx spec.minReplicas is 3, at least 2"),
        "{}",
        run.stdout
    );
    // Other versions than v2 and v1 are still skipped with a warning naming them.
    let beta = text.replace("autoscaling/v1", "autoscaling/v2beta2");
    let run = gonogo(&["-f", "-", "-o", "json"], Some(&beta), &[]);
    assert!(
        run.stderr.contains(
            "HorizontalPodAutoscaler autoscaling/v2beta2: gonogo reads HorizontalPodAutoscaler autoscaling/v2 and autoscaling/v1 only; skipped"
        ),
        "{}",
        run.stderr
    );
    let gates = results(&json(&run), "web-nginx");
    assert!(
        gates.contains(&("replicas".into(), "Fail".into())),
        "{gates:?}"
    );
}

// ---------------------------------------------------------------- one bad document

#[test]
fn a_bad_document_is_reported_and_the_rest_is_judged() {
    let file = fixture("one-bad-document.yaml");
    let run = check(&["-f", &file]);
    assert_eq!(run.code, 2, "input errors exit 2 even with verdicts");
    assert!(
        run.stdout.contains("Deployment default/api"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "error: {file}:25:3: Deployment worker: spec.replicas: invalid type"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("error: {file}:41:1: ")),
        "{}",
        run.stderr
    );

    let report = json(&check(&["-f", &file, "-o", "json"]));
    assert_eq!(report["exitCode"], 2);
    assert_eq!(report["result"], "error");
    assert_eq!(report["totals"]["inputErrors"], 2);
    // A type error is located at its field when the text shows where.
    assert_eq!(report["inputErrors"][0]["line"], 25);
    assert_eq!(report["inputErrors"][0]["column"], 3);
    assert_eq!(report["inputErrors"][1]["column"], 1);
    assert_eq!(report["deployments"][0]["name"], "api");

    // SARIF: the verdicts reached plus one `input` result per error, at its position.
    let sarif = json(&check(&["-f", &file, "-o", "sarif"]));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let input: Vec<&Value> = results.iter().filter(|r| r["ruleId"] == "input").collect();
    assert_eq!(input.len(), 2);
    assert_eq!(
        input[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        25
    );
    assert!(results.iter().any(|r| r["ruleId"] == "probes"));
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], r["ruleId"],
            "ruleIndex points at its rule"
        );
    }

    // JUnit: an `<error>` per unreadable document, in a suite of its own.
    let junit = check(&["-f", &file, "-o", "junit"]).stdout;
    assert!(junit.contains("errors=\"2\""), "{junit}");
    assert!(junit.contains("<testsuite name=\"input\""), "{junit}");
    assert!(junit.contains("<error type=\"InputError\""), "{junit}");
    let mut reader = quick_xml::Reader::from_str(&junit);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("JUnit not well-formed: {e}\n{junit}"),
        }
    }
}

#[test]
fn a_misspelled_check_parameter_is_an_input_error_naming_the_known_keys() {
    let text = "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata: {name: c}\nspec:\n  items:\n    - {name: probes, probes: {readness: false}}\n    - name: limits\n      resources:\n        ranges: [{resource: cpu, on: requests, max: \"2\"}]\n";
    let run = gonogo(&["-f", "-", "--allow-empty"], Some(text), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("<stdin>:6:31: ReadinessChecklist c: spec.items[0].probes.readness: unknown field `readness`, expected one of `readiness`"),
        "{}",
        run.stderr
    );
    // The documented `field` works; `on` is refused rather than ignored.
    let fixed = text.replace("readness", "readiness");
    let run = gonogo(&["-f", "-"], Some(&fixed), &[]);
    assert!(
        run.stderr
            .contains("spec.items[1].resources.ranges[0].on: unknown field `on`, expected one of `resource`, `field`"),
        "{}",
        run.stderr
    );
    let fixed = fixed.replace("on: requests", "field: requests");
    let run = gonogo(&["-f", "-", "--allow-empty"], Some(&fixed), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

// ---------------------------------------------------------------- paths

#[test]
fn f_takes_several_paths_and_paths_may_stand_alone() {
    let a = fixture("json-stream.json");
    let b = fixture("old-apis.yaml");
    let deployments = |run: &Run| json(run)["totals"]["deployments"].clone();
    let globbed = check(&["-f", &a, &b, "-o", "json"]);
    assert_ne!(globbed.code, 2, "{}", globbed.stderr);
    assert_eq!(deployments(&globbed), 4);
    let repeated = check(&["-f", &a, "-f", &b, "-o", "json"]);
    assert_eq!(globbed.stdout, repeated.stdout);
    let positional = check(&[&a, &b, "-o", "json"]);
    assert_eq!(globbed.stdout, positional.stdout);
    assert_eq!(check(&[]).code, 2, "a path is required");
}

// ---------------------------------------------------------------- the table and compact

#[test]
fn the_table_fits_the_width_and_lists_what_needs_attention_first() {
    let args = ["-f", "examples/broken", "-f", "examples/checklists"];
    for (columns, width) in [("80", 80), ("120", 120)] {
        let run = gonogo(&args, None, &[("COLUMNS", columns)]);
        assert_eq!(run.code, 1);
        for line in run.stdout.lines() {
            // A word longer than the line may overflow; nothing else does.
            assert!(
                line.chars().count() <= width || !line.trim().contains(' '),
                "{} columns: {line:?}",
                width
            );
        }
    }
    // Not a terminal and no COLUMNS: 100.
    let run = check(&args);
    assert!(run.stdout.lines().all(|l| l.chars().count() <= 100));
    // Failing gates first, then unknown, and passing ones counted.
    let words: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| ["FAIL", "UNKNOWN", "PASS", "SKIPPED"].contains(w))
        .collect();
    let first_unknown = words.iter().position(|w| *w == "UNKNOWN").unwrap();
    assert!(words[..first_unknown].iter().all(|w| *w == "FAIL"));
    assert!(words[first_unknown..].iter().all(|w| *w == "UNKNOWN"));
    assert!(
        run.stdout
            .contains("+ 4 passed, 14 skipped (--show-passed lists them)"),
        "{}",
        run.stdout
    );
    // A failure whose fix is not in its message says what to do.
    assert!(
        run.stdout.contains("fix: add a topologySpreadConstraint"),
        "{}",
        run.stdout
    );
}

#[test]
fn compact_prints_one_line_per_finding() {
    let run = check(&[
        "-f",
        "examples/broken",
        "-f",
        "examples/checklists",
        "-o",
        "compact",
    ]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.contains(&"examples/broken/deployment.yaml:2: FAIL knowledgebeast/probes (default/knowledgebeast, Required): container knowledgebeast: no readinessProbe"),
        "{}",
        run.stdout
    );
    assert!(lines.last().unwrap().starts_with("gonogo: 1 workload(s)"));
    assert!(lines.last().unwrap().ends_with("exit 1"));
    assert!(!run.stdout.contains("PASS"));
    let bad = check(&["-f", &fixture("one-bad-document.yaml"), "-o", "compact"]);
    assert!(
        bad.stdout.contains(&format!(
            "{}:41:1: ERROR input: ",
            fixture("one-bad-document.yaml")
        )),
        "{}",
        bad.stdout
    );
}

#[test]
fn long_lists_of_names_are_shortened_in_the_table() {
    let mut text = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api:1\n          envFrom:\n",
    );
    for i in 0..40 {
        text.push_str(&format!(
            "            - secretRef: {{name: api-secret-{i:02}}}\n"
        ));
    }
    for i in 0..40 {
        text.push_str(&format!(
            "---\n{{apiVersion: v1, kind: Secret, metadata: {{name: api-secret-{i:02}}}}}\n"
        ));
    }
    let run = gonogo(
        &["-f", "-", "--show-passed"],
        Some(&text),
        &[("COLUMNS", "200")],
    );
    assert!(
        run.stdout
            .contains("Secrets api-secret-00, api-secret-01, api-secret-02, api-secret-03, api-secret-04 and 35 more present"),
        "{}",
        run.stdout
    );
    // JSON keeps every name.
    let run = gonogo(&["-f", "-", "-o", "json"], Some(&text), &[]);
    assert!(run.stdout.contains("api-secret-39"));
}

// ---------------------------------------------------------------- SARIF and JUnit locations

fn first_location(sarif: &Value, rule: &str) -> Value {
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == rule)
        .unwrap_or_else(|| panic!("a {rule} result"))["locations"][0]["physicalLocation"]
        .clone()
}

#[test]
fn committed_rendered_files_are_located_in_themselves_unless_the_template_exists() {
    // A rendered file committed to a repository: its `# Source: shop/templates/api.yaml` is
    // not there, so results point at the rendered file and line.
    let file = fixture("one-bad-document.yaml");
    let sarif = json(&check(&["-f", &file, "-o", "sarif"]));
    let at = first_location(&sarif, "probes");
    assert_eq!(at["artifactLocation"]["uri"], file.as_str());
    assert_eq!(at["region"]["startLine"], 3);
    let sarif = json(&check(&[
        "-f",
        &file,
        "-o",
        "sarif",
        "--source-map",
        "template",
    ]));
    let at = first_location(&sarif, "probes");
    assert_eq!(at["artifactLocation"]["uri"], "shop/templates/api.yaml");
    assert_eq!(at["region"]["startLine"], 1);

    // Rendered from a chart that is here: the template, as before.
    let dir = tempfile::tempdir().unwrap();
    let rendered = dir.path().join("rendered.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("shop/templates/api.yaml", "app/templates/deployment.yaml");
    std::fs::write(&rendered, text).unwrap();
    let rendered = rendered.to_str().unwrap();
    let args = [
        "-f",
        rendered,
        "-o",
        "sarif",
        "--source-prefix",
        "tests/fixtures/charts/",
    ];
    let at = first_location(&json(&check(&args)), "probes");
    assert_eq!(
        at["artifactLocation"]["uri"],
        "tests/fixtures/charts/app/templates/deployment.yaml"
    );
    let args = [&args[..], &["--source-map", "rendered"]].concat();
    let at = first_location(&json(&check(&args)), "probes");
    assert_eq!(at["region"]["startLine"], 3);

    // JUnit follows the same rule.
    let junit = check(&["-f", &file, "-o", "junit"]).stdout;
    assert!(
        junit.contains(&format!("file=\"{file}\" line=\"3\"")),
        "{junit}"
    );
}

#[test]
fn every_sarif_rule_has_help_and_its_own_readme_anchor() {
    let sarif = json(&check(&[
        "-f",
        "examples/broken",
        "-f",
        "examples/checklists",
        "-o",
        "sarif",
    ]));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let mut uris = std::collections::BTreeSet::new();
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        assert!(
            !rule["help"]["text"].as_str().unwrap_or_default().is_empty(),
            "{id} has no help"
        );
        let uri = rule["helpUri"].as_str().unwrap();
        let anchor = uri.rsplit_once('#').unwrap().1;
        // GitHub's heading anchors: lowercase, spaces to dashes, punctuation dropped.
        let slug = |heading: &str| -> String {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        };
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with('#') && slug(l) == anchor)
                || readme.contains(&format!("id=\"{anchor}\"")),
            "{id}: {uri} is not a README anchor"
        );
        uris.insert(uri.to_string());
    }
    assert_eq!(uris.len(), rules.len(), "every rule has its own helpUri");
}

#[test]
fn the_readme_shows_the_table_as_it_is_at_100_columns() {
    let run = check(&[
        "-f",
        "examples/broken",
        "-f",
        "examples/checklists",
        "--color",
        "never",
    ]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let marker = "$ gonogo check -f examples/broken -f examples/checklists\n";
    let start = readme.find(marker).expect("the README shows the table") + marker.len();
    let end = start + readme[start..].find("\n```").unwrap();
    assert_eq!(
        &readme[start..end],
        run.stdout.trim_end(),
        "README's table differs from `gonogo check -f examples/broken -f examples/checklists` (COLUMNS unset, not a terminal: 100)"
    );
}
