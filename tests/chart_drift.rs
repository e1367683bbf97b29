//! The shipped artifacts, offline (no control plane): the chart's CRDs and the plain manifests
//! under deploy/ are generated and must not drift; the chart renders its values as documented and
//! passes gonogo's own baseline checklist; the Dockerfile runs the static binary as non-root.
//!
//! Uses the helm v4 binary of the test tooling (`support::bin_dir()`).

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_yaml_ng::Value;
use support::{bin_dir, repo_root};

fn helm_home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gonogo-chart-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn helm() -> Command {
    let bin = bin_dir()
        .unwrap_or_else(|e| panic!("helm unavailable: {e}"))
        .join("helm");
    let home = helm_home();
    let mut cmd = Command::new(bin);
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(repo_root());
    cmd
}

/// `helm template gonogo charts/gonogo -n gonogo-system` with extra args, as parsed documents.
fn template(args: &[&str]) -> Vec<Value> {
    let out = helm()
        .args([
            "template",
            "gonogo",
            "charts/gonogo",
            "--namespace",
            "gonogo-system",
        ])
        .args(args)
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm template {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn controller_args(docs: &[Value]) -> Vec<String> {
    let deployment = find(docs, "Deployment")[0];
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Every (apiGroup, resource, verb) a Role or ClusterRole grants.
fn grants(role: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_sequence().unwrap() {
        for group in rule["apiGroups"].as_sequence().unwrap() {
            for resource in rule["resources"].as_sequence().unwrap() {
                for verb in rule["verbs"].as_sequence().unwrap() {
                    out.insert(format!(
                        "{}/{} {}",
                        group.as_str().unwrap(),
                        resource.as_str().unwrap(),
                        verb.as_str().unwrap()
                    ));
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------- drift

#[test]
fn chart_crds_match_the_api_types() {
    let dir = repo_root().join("charts/gonogo/crds");
    let generated = gonogo::api::crd_files().expect("CRDs serialize");
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("charts/gonogo/crds exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut expected: Vec<String> = generated.iter().map(|(f, _)| f.clone()).collect();
    expected.sort();
    const FIX: &str = "regenerate crds/ (`cargo run -- crds --output-dir crds`), then run scripts/render-deploy.sh";
    assert_eq!(
        committed, expected,
        "charts/gonogo/crds holds other files than the generator writes; {FIX}"
    );
    for (file, yaml) in generated {
        let on_disk = std::fs::read_to_string(dir.join(&file)).unwrap();
        assert!(
            on_disk == yaml,
            "charts/gonogo/crds/{file} differs from the API types; {FIX}"
        );
    }
}

#[test]
fn deploy_manifests_match_the_chart() {
    let helm_bin = bin_dir()
        .unwrap_or_else(|e| panic!("helm unavailable: {e}"))
        .join("helm");
    let out_dir = helm_home().join("render");
    let home = helm_home();
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/render-deploy.sh"))
        .arg(&out_dir)
        .env("HELM", &helm_bin)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run scripts/render-deploy.sh");
    assert!(
        out.status.success(),
        "render-deploy.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "deploy/gonogo.yaml",
        "deploy/rbac.yaml",
        "deploy/admission/hold-rollouts.yaml",
        "deploy/admission/hold-rollouts-webhook.yaml",
        "deploy/admission/approval-policy.yaml",
    ] {
        let rendered = std::fs::read_to_string(out_dir.join(file)).unwrap();
        let committed = std::fs::read_to_string(repo_root().join(file)).unwrap_or_default();
        assert!(
            rendered == committed,
            "{file} differs from the chart; run scripts/render-deploy.sh (HELM=path/to/helm v4)"
        );
    }
}

// ---------------------------------------------------------------- rendering

#[test]
fn the_charts_lint_clean() {
    for chart in ["charts/gonogo", "tests/fixtures/charts/app"] {
        let out = helm()
            .args(["lint", "--strict", chart])
            .output()
            .expect("run helm");
        assert!(
            out.status.success(),
            "helm lint --strict {chart}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn defaults_run_two_replicas_with_leader_election_and_every_safeguard() {
    let docs = template(&["--kube-version", "1.36.0"]);
    let names = kinds(&docs);
    for expected in [
        "ServiceAccount/gonogo",
        "ClusterRole/gonogo-controller",
        "ClusterRoleBinding/gonogo-controller",
        "Role/gonogo-leader-election",
        "RoleBinding/gonogo-leader-election",
        "Deployment/gonogo",
        "Service/gonogo-metrics",
        "PodDisruptionBudget/gonogo",
        "MutatingAdmissionPolicy/gonogo-hold-rollouts",
        "MutatingAdmissionPolicyBinding/gonogo-hold-rollouts",
        "ValidatingAdmissionPolicy/gonogo-approvals",
        "ValidatingAdmissionPolicyBinding/gonogo-approvals",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("ServiceMonitor/")),
        "ServiceMonitor is opt-in"
    );

    let args = controller_args(&docs);
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--leader-election".to_string()), "{args:?}");
    assert!(
        args.contains(&"--metrics-address=0.0.0.0:8080".to_string()),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "watches every namespace by default: {args:?}"
    );
    for unset in [
        "--prometheus-url",
        "--http-allow-cidr",
        "--probe-concurrency",
    ] {
        assert!(
            !args.iter().any(|a| a.starts_with(unset)),
            "{unset} rendered though unset: {args:?}"
        );
    }

    let deployment = find(&docs, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["serviceAccountName"], "gonogo");
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "the controller talks to the API server"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(container["ports"][0]["name"], "metrics");
    assert!(
        container["resources"]["requests"]["cpu"].is_string()
            && container["resources"]["limits"]["memory"].is_string()
    );
    let env: Vec<(&str, &str)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?,
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str()?,
            ))
        })
        .collect();
    assert!(
        env.contains(&("POD_NAME", "metadata.name"))
            && env.contains(&("POD_NAMESPACE", "metadata.namespace")),
        "{env:?}"
    );
    let spread = pod["topologySpreadConstraints"].as_sequence().unwrap();
    assert!(!spread.is_empty());
    for c in spread {
        assert_eq!(
            c["labelSelector"]["matchLabels"]["app.kubernetes.io/name"], "gonogo",
            "{c:?}"
        );
    }
    assert_eq!(container["image"], "ghcr.io/gonogo-dev/gonogo:0.1.0");
}

#[test]
fn one_replica_runs_without_leader_election_or_budget() {
    let docs = template(&["--set", "replicas=1"]);
    let names = kinds(&docs);
    assert!(!controller_args(&docs).contains(&"--leader-election".to_string()));
    assert!(!names.contains("PodDisruptionBudget/gonogo"), "{names:?}");
    assert!(!names.contains("Role/gonogo-leader-election"), "{names:?}");
}

#[test]
fn live_probe_values_become_flags_only_when_set() {
    let docs = template(&[
        "--set",
        "prometheusUrl=http://prometheus.monitoring:9090",
        "--set",
        "httpAllowCidrs={10.0.0.0/8,192.168.0.0/16}",
        "--set",
        "probeConcurrency=4",
        "--set",
        "logFormat=text",
        "--set",
        "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]);
    let args = controller_args(&docs);
    for expected in [
        "--prometheus-url=http://prometheus.monitoring:9090",
        "--http-allow-cidr=10.0.0.0/8",
        "--http-allow-cidr=192.168.0.0/16",
        "--probe-concurrency=4",
        "--log-format=text",
    ] {
        assert!(
            args.contains(&expected.to_string()),
            "{expected} missing from {args:?}"
        );
    }
    let image = find(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(
        image.ends_with(
            ":0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ),
        "{image}"
    );
}

#[test]
fn watching_one_namespace_shrinks_rbac_to_a_role_and_scopes_admission() {
    let docs = template(&["--set", "watchNamespace=shop", "--kube-version", "1.36.0"]);
    assert!(controller_args(&docs).contains(&"--namespace=shop".to_string()));
    let roles = find(&docs, "Role");
    let role = roles
        .iter()
        .find(|r| r["metadata"]["name"] == "gonogo-controller")
        .expect("controller Role");
    assert_eq!(role["metadata"]["namespace"], "shop");
    assert!(grants(role).contains("apps/deployments patch"));
    assert!(grants(role).contains("gonogo.dev/deploymentreadinesses/status patch"));
    let bindings = find(&docs, "RoleBinding");
    let binding = bindings
        .iter()
        .find(|b| b["metadata"]["name"] == "gonogo-controller")
        .expect("controller RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "shop");
    assert_eq!(binding["subjects"][0]["namespace"], "gonogo-system");

    // `resource` gates' namespaced kinds (value readKinds) are read in the namespace only.
    assert!(grants(role).contains("cert-manager.io/certificates watch"));
    // Only the cluster-scoped kinds stay cluster-wide, read only (value readClusterKinds).
    let cluster_roles = find(&docs, "ClusterRole");
    assert_eq!(cluster_roles.len(), 1, "{:?}", kinds(&docs));
    let expected: BTreeSet<String> = [
        "gonogo.dev/clusterreadinesschecklists list",
        "gonogo.dev/clusterreadinesschecklists watch",
        "storage.k8s.io/storageclasses list",
        "storage.k8s.io/storageclasses watch",
        "/nodes list",
        "/nodes watch",
        "cert-manager.io/clusterissuers list",
        "cert-manager.io/clusterissuers watch",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(grants(cluster_roles[0]), expected);

    for kind in [
        "MutatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ] {
        let b = find(&docs, kind)[0];
        let selector = &b["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(selector["key"], "kubernetes.io/metadata.name", "{kind}");
        assert_eq!(selector["operator"], "In", "{kind}");
        assert_eq!(selector["values"], Value::from(vec!["shop"]), "{kind}");
    }
}

#[test]
fn watching_a_list_of_namespaces_renders_a_role_in_each_and_scopes_admission() {
    let docs = template(&[
        "--set",
        "watchNamespaces={shop,blog}",
        "--kube-version",
        "1.35.0",
    ]);
    let args = controller_args(&docs);
    assert!(
        args.contains(&"--namespace=shop".to_string())
            && args.contains(&"--namespace=blog".to_string()),
        "{args:?}"
    );
    let single = template(&["--set", "watchNamespace=shop"]);
    let single_role = grants(
        find(&single, "Role")
            .into_iter()
            .find(|r| r["metadata"]["name"] == "gonogo-controller")
            .unwrap(),
    );
    for ns in ["shop", "blog"] {
        let role = find(&docs, "Role")
            .into_iter()
            .find(|r| {
                r["metadata"]["name"] == "gonogo-controller" && r["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no controller Role in {ns}"));
        assert_eq!(grants(role), single_role, "the Role in {ns}");
        let binding = find(&docs, "RoleBinding")
            .into_iter()
            .find(|b| {
                b["metadata"]["name"] == "gonogo-controller" && b["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no controller RoleBinding in {ns}"));
        assert_eq!(binding["roleRef"]["name"], "gonogo-controller");
        assert_eq!(binding["subjects"][0]["namespace"], "gonogo-system");
    }
    // Nothing namespaced is granted cluster-wide.
    let cluster_roles: Vec<_> = find(&docs, "ClusterRole")
        .into_iter()
        .filter(|r| r["metadata"]["name"] != "gonogo-webhook")
        .collect();
    assert_eq!(cluster_roles.len(), 1, "{:?}", kinds(&docs));
    assert_eq!(
        cluster_roles[0]["metadata"]["name"],
        "gonogo-shop-blog-controller"
    );
    assert_eq!(
        grants(cluster_roles[0]),
        grants(
            find(&single, "ClusterRole")
                .into_iter()
                .find(|r| r["metadata"]["name"] == "gonogo-shop-controller")
                .unwrap()
        )
    );
    // The webhook (below 1.36) is called for these namespaces only.
    let webhook = &find(&docs, "MutatingWebhookConfiguration")[0]["webhooks"][0];
    assert_eq!(
        webhook["namespaceSelector"]["matchExpressions"][0]["values"],
        Value::from(vec!["shop", "blog"])
    );
    // Not a namespace name: refused at render time.
    let out = helm()
        .args([
            "template",
            "gonogo",
            "charts/gonogo",
            "--set",
            "watchNamespaces={Shop}",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"Shop\" is not a namespace name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn secrets_and_config_maps_can_be_left_unread() {
    let grants_of = |docs: &[Value]| {
        grants(
            find(docs, "ClusterRole")
                .into_iter()
                .find(|r| r["metadata"]["name"] == "gonogo-controller")
                .unwrap(),
        )
    };
    let defaults = template(&[]);
    let granted = grants_of(&defaults);
    for g in [
        "/secrets list",
        "/secrets watch",
        "/configmaps list",
        "/configmaps watch",
    ] {
        assert!(granted.contains(g), "{g} missing from {granted:?}");
    }
    let args = controller_args(&defaults);
    assert!(!args.iter().any(|a| a.starts_with("--read-")), "{args:?}");

    let off = template(&[
        "--set",
        "readSecrets=false",
        "--set",
        "readConfigMaps=false",
    ]);
    let granted = grants_of(&off);
    assert!(
        !granted
            .iter()
            .any(|g| g.starts_with("/secrets") || g.starts_with("/configmaps")),
        "{granted:?}"
    );
    assert!(granted.contains("/services watch"), "{granted:?}");
    let args = controller_args(&off);
    assert!(
        args.contains(&"--read-secrets=false".to_string())
            && args.contains(&"--read-config-maps=false".to_string()),
        "{args:?}"
    );
}

#[test]
fn the_lease_is_read_and_renewed_by_name() {
    let docs = template(&[]);
    let role = find(&docs, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "gonogo-leader-election")
        .unwrap();
    let rules = role["rules"].as_sequence().unwrap();
    for rule in rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if verbs == ["create"] {
            // RBAC cannot name an object being created.
            assert!(rule.get("resourceNames").is_none(), "{rule:?}");
        } else {
            assert_eq!(verbs, ["get", "update"], "{rule:?}");
            assert_eq!(rule["resourceNames"][0], "gonogo-controller", "{rule:?}");
        }
    }
    assert_eq!(rules.len(), 2, "{rules:?}");
}

#[test]
fn the_cluster_role_grants_exactly_the_namespaced_and_cluster_rules() {
    // All-namespaces ClusterRole == watched-namespace Role + the small ClusterRole.
    let all = template(&[]);
    let one = template(&["--set", "watchNamespace=shop"]);
    let named = |docs: &[Value], kind: &str, name: &str| {
        grants(
            find(docs, kind)
                .into_iter()
                .find(|r| r["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind}/{name} missing")),
        )
    };
    let cluster_role = named(&all, "ClusterRole", "gonogo-controller");
    let mut split = named(&one, "Role", "gonogo-controller");
    split.extend(named(&one, "ClusterRole", "gonogo-shop-controller"));
    assert_eq!(cluster_role, split);
    assert!(
        !cluster_role
            .iter()
            .any(|g| g.ends_with(" get") || g.contains("delete") || g.contains("update")),
        "{cluster_role:?}"
    );
}

#[test]
fn the_hold_policy_needs_kubernetes_1_36() {
    let has_map = |docs: &[Value]| {
        kinds(docs)
            .iter()
            .any(|k| k.starts_with("MutatingAdmissionPolicy/"))
    };
    assert!(has_map(&template(&["--kube-version", "1.36.0"])));
    assert!(
        !has_map(&template(&["--kube-version", "1.35.4"])),
        "MutatingAdmissionPolicy v1 does not exist before 1.36"
    );
    assert!(!has_map(&template(&[
        "--kube-version",
        "1.37.0",
        "--set",
        "holdRollouts=false"
    ])));
    assert!(
        !kinds(&template(&["--set", "approvalPolicy=false"]))
            .iter()
            .any(|k| k.starts_with("ValidatingAdmissionPolicy"))
    );
    let monitor = template(&["--set", "metrics.serviceMonitor.enabled=true"]);
    let sm = find(&monitor, "ServiceMonitor")[0];
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
}

#[test]
fn below_1_36_the_webhook_holds_rollouts_with_the_policys_conditions() {
    let webhook_kinds = |docs: &[Value]| {
        kinds(docs)
            .into_iter()
            .filter(|k| k.starts_with("MutatingWebhookConfiguration/"))
            .count()
    };
    let old = template(&["--kube-version", "1.35.4"]);
    assert_eq!(webhook_kinds(&old), 1, "auto picks the webhook below 1.36");
    assert_eq!(webhook_kinds(&template(&["--kube-version", "1.36.0"])), 0);
    assert_eq!(
        webhook_kinds(&template(&[
            "--kube-version",
            "1.36.0",
            "--set",
            "holdRolloutsWith=webhook"
        ])),
        1
    );
    assert_eq!(
        webhook_kinds(&template(&[
            "--kube-version",
            "1.35.4",
            "--set",
            "holdRollouts=false"
        ])),
        0
    );

    let configuration = find(&old, "MutatingWebhookConfiguration")[0];
    let webhook = &configuration["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Ignore");
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["clientConfig"]["service"]["name"], "gonogo-webhook");
    assert!(
        webhook["clientConfig"].get("caBundle").is_none(),
        "gonogo sets the caBundle; the chart must not (an upgrade would reset it)"
    );
    // The policy's one match condition includes the webhook's: scale and metadata changes never
    // call it. (The policy's also reads its params, the readiness object that holds the
    // Deployment; the webhook looks that up in its index.)
    let new = template(&["--kube-version", "1.36.0"]);
    let policy = find(&new, "MutatingAdmissionPolicy")[0];
    let words = |v: &Value| {
        v.as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let webhook_conditions = webhook["matchConditions"]
        .as_sequence()
        .expect("webhook matchConditions");
    assert_eq!(webhook_conditions.len(), 1);
    assert_eq!(webhook_conditions[0]["name"], "new-pod-template");
    let policy_conditions = policy["spec"]["matchConditions"]
        .as_sequence()
        .expect("policy matchConditions");
    assert_eq!(policy_conditions.len(), 1);
    assert!(
        words(&policy_conditions[0]["expression"]).contains(&format!(
            "({})",
            words(&webhook_conditions[0]["expression"])
        )),
        "the policy's condition includes the webhook's"
    );
    assert_eq!(
        webhook["namespaceSelector"]["matchExpressions"][0]["values"][0], "gonogo-system",
        "gonogo's own namespace is exempt"
    );

    let args = controller_args(&old);
    for expected in [
        "--admission-webhook-port=9443",
        "--admission-webhook-secret=gonogo-webhook-tls",
        "--admission-webhook-configuration=gonogo-hold-rollouts",
        "--admission-webhook-service=gonogo-webhook",
    ] {
        assert!(
            args.contains(&expected.to_string()),
            "{expected} not in {args:?}"
        );
    }
    // RBAC: its two objects by name; create of a Secret cannot be limited by name.
    let role = find(&old, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "gonogo-webhook")
        .expect("webhook Role");
    assert_eq!(role["rules"][0]["resourceNames"][0], "gonogo-webhook-tls");
    let cluster_role = find(&old, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "gonogo-webhook")
        .expect("webhook ClusterRole");
    assert_eq!(
        cluster_role["rules"][0]["resourceNames"][0],
        "gonogo-hold-rollouts"
    );

    let fail = template(&[
        "--kube-version",
        "1.35.4",
        "--set",
        "webhook.failurePolicy=Fail",
        "--set",
        "watchNamespace=shop",
    ]);
    let webhook = &find(&fail, "MutatingWebhookConfiguration")[0]["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(
        webhook["namespaceSelector"]["matchExpressions"][0]["values"][0],
        "shop"
    );
}

#[test]
fn the_chart_passes_gonogos_own_baseline() {
    let out = helm()
        .args([
            "template",
            "gonogo",
            "charts/gonogo",
            "--namespace",
            "gonogo-system",
        ])
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_gonogo"))
        .args([
            "check",
            "-f",
            "-",
            "--fail-on",
            "required",
            "--namespace",
            "gonogo-system",
            "--color",
            "never",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gonogo check");
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let result = child.wait_with_output().unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "gonogo check fails its own chart:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

// --------------------------------------------------------------- Dockerfile

/// The final stage of the Dockerfile: its instructions as (INSTRUCTION, arguments).
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut logical = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && logical.is_empty()) {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(t);
        let (instruction, args) = logical
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((logical.trim(), ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push((instruction, args.trim().to_string()));
        }
        logical.clear();
    }
    stages.pop().expect("a FROM line")
}

#[test]
fn the_image_runs_the_static_binary_as_non_root() {
    let path: &Path = &repo_root().join("Dockerfile");
    let dockerfile = std::fs::read_to_string(path).expect("Dockerfile");
    assert!(
        dockerfile
            .lines()
            .filter(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM "))
            .count()
            >= 2,
        "multi-stage"
    );
    let stage = final_stage(&dockerfile);
    let last = |name: &str| {
        stage
            .iter()
            .rev()
            .find(|(i, _)| i == name)
            .map(|(_, a)| a.clone())
    };

    let from = last("FROM").unwrap();
    assert!(
        from.contains("distroless/static") || from.starts_with("scratch"),
        "final base is not a static, shell-less image: {from}"
    );
    let user = last("USER").expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER must be a numeric non-root uid (kubelet's runAsNonRoot check needs a number): {user}"
    );
    let entrypoint = last("ENTRYPOINT").expect("ENTRYPOINT");
    let entry: Vec<String> =
        serde_json::from_str(&entrypoint).expect("ENTRYPOINT in exec (JSON) form");
    assert_eq!(entry.len(), 1, "{entry:?}");
    let copied = stage.iter().any(|(i, a)| {
        i == "COPY"
            && a.contains("--from=")
            && a.split_whitespace().last() == Some(entry[0].as_str())
    });
    assert!(
        copied,
        "the entrypoint {} is not the binary copied from the build stage",
        entry[0]
    );
    assert!(
        dockerfile.contains("--bin gonogo"),
        "the build stage builds the gonogo binary"
    );

    // The chart runs the image as the same user.
    let docs = template(&[]);
    let pod = &find(&docs, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["runAsUser"]
            .as_u64()
            .map(|u| u.to_string()),
        Some(uid.to_string())
    );
    assert_eq!(
        pod["containers"][0]["args"][0], "run",
        "the chart passes the subcommand to the entrypoint"
    );
}
