use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::core::v1::{self as core, Container, PodSecurityContext};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `securityContext` check; every setting defaults to required.
/// Pod-level settings count for every container unless the container overrides them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    #[serde(default = "super::yes")]
    pub run_as_non_root: bool,
    #[serde(default = "super::yes")]
    pub read_only_root_filesystem: bool,
    /// `allowPrivilegeEscalation: false` on every container.
    #[serde(default = "super::yes")]
    pub disallow_privilege_escalation: bool,
    /// `capabilities.drop` includes `ALL`.
    #[serde(default = "super::yes")]
    pub drop_all_capabilities: bool,
    /// A seccompProfile of type `RuntimeDefault` or `Localhost`.
    #[serde(default = "super::yes")]
    pub seccomp_profile: bool,
    /// No `privileged: true` container.
    #[serde(default = "super::yes")]
    pub disallow_privileged: bool,
}

impl Check for SecurityContext {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        if cx.pod.os.as_ref().is_some_and(|os| os.name == "windows") {
            // The API server refuses these Linux settings on Windows pods: they cannot be met.
            return Outcome::Skipped(
                "spec.os.name is windows: the Linux security settings checked here do not apply"
                    .into(),
            );
        }
        let pod_sc = cx.pod.security_context.as_ref();
        let mut findings = Vec::new();
        let mut checked = 0;
        // Every container, init containers included: they run with the same privileges.
        for (container, _) in pod::containers(cx.pod) {
            checked += 1;
            for problem in self.problems(container, pod_sc) {
                findings.push(Finding::in_container(&container.name, problem));
            }
        }
        if checked == 0 {
            return Outcome::Unknown("the pod template has no containers to check".into());
        }
        Outcome::from_findings(findings, Vec::new(), self.pass_message(checked))
    }
}

/// Where an effective setting came from, for messages.
fn origin(from_pod: bool) -> &'static str {
    if from_pod {
        "pod-level securityContext"
    } else {
        "securityContext"
    }
}

impl SecurityContext {
    fn problems(&self, container: &Container, pod_sc: Option<&PodSecurityContext>) -> Vec<String> {
        let sc = container.security_context.as_ref();
        let mut problems = Vec::new();
        if self.run_as_non_root
            && let Some(p) = root_problem(sc, pod_sc)
        {
            problems.push(p);
        }
        if self.read_only_root_filesystem {
            match sc.and_then(|s| s.read_only_root_filesystem) {
                Some(true) => {}
                value => problems.push(format!(
                    "securityContext.readOnlyRootFilesystem is not true ({})",
                    shown(value)
                )),
            }
        }
        if self.disallow_privilege_escalation {
            match sc.and_then(|s| s.allow_privilege_escalation) {
                Some(false) => {}
                value => problems.push(format!(
                    "securityContext.allowPrivilegeEscalation is not false ({})",
                    shown(value)
                )),
            }
        }
        if self.drop_all_capabilities {
            // Exactly `ALL`, as Pod Security Admission's restricted profile reads it.
            let drops = sc
                .and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.drop.as_ref());
            if !drops.is_some_and(|d| d.iter().any(|c| c == "ALL")) {
                let found = drops
                    .filter(|d| !d.is_empty())
                    .map_or("none".to_string(), |d| d.join(", "));
                problems.push(format!(
                    "securityContext.capabilities.drop does not include ALL (drops {found})"
                ));
            }
        }
        if self.seccomp_profile
            && let Some(p) = seccomp_problem(sc, pod_sc)
        {
            problems.push(p);
        }
        if self.disallow_privileged && sc.and_then(|s| s.privileged) == Some(true) {
            problems.push("securityContext.privileged is true".into());
        }
        problems
    }

    fn pass_message(&self, checked: usize) -> String {
        let parts: Vec<&str> = [
            (self.run_as_non_root, "run as non-root"),
            (self.read_only_root_filesystem, "read-only root filesystem"),
            (
                self.disallow_privilege_escalation,
                "no privilege escalation",
            ),
            (self.drop_all_capabilities, "capabilities drop ALL"),
            (self.seccomp_profile, "seccomp RuntimeDefault or Localhost"),
            (self.disallow_privileged, "not privileged"),
        ]
        .into_iter()
        .filter_map(|(on, text)| on.then_some(text))
        .collect();
        if parts.is_empty() {
            format!("{checked} container(s): no setting required")
        } else {
            format!("{checked} container(s): {}", parts.join(", "))
        }
    }
}

fn shown(value: Option<bool>) -> &'static str {
    match value {
        None => "unset",
        Some(true) => "true",
        Some(false) => "false",
    }
}

/// Why the container may run as root, if it may. An explicit UID 0 is root whatever
/// runAsNonRoot says (the kubelet then refuses to start it); a non-zero UID is non-root
/// even without runAsNonRoot. Container settings override the pod's.
fn root_problem(
    sc: Option<&core::SecurityContext>,
    pod_sc: Option<&PodSecurityContext>,
) -> Option<String> {
    let user = match (
        sc.and_then(|s| s.run_as_user),
        pod_sc.and_then(|s| s.run_as_user),
    ) {
        (Some(u), _) => Some((u, false)),
        (None, Some(u)) => Some((u, true)),
        (None, None) => None,
    };
    match user {
        Some((0, from_pod)) => return Some(format!("{}.runAsUser is 0 (root)", origin(from_pod))),
        Some(_) => return None,
        None => {}
    }
    match (sc.and_then(|s| s.run_as_non_root), pod_sc.and_then(|s| s.run_as_non_root)) {
        (Some(true), _) | (None, Some(true)) => None,
        (Some(false), _) => Some("securityContext.runAsNonRoot is false".into()),
        (None, Some(false)) => Some("pod-level securityContext.runAsNonRoot is false".into()),
        (None, None) => Some("securityContext.runAsNonRoot is not true (unset on the container and the pod, and no non-zero runAsUser)".into()),
    }
}

/// Why the container's effective seccomp profile falls short, if it does. The kubelet's
/// `--seccomp-default` would apply RuntimeDefault to unset profiles, but that is node
/// configuration the engine cannot see, so an unset profile fails.
fn seccomp_problem(
    sc: Option<&core::SecurityContext>,
    pod_sc: Option<&PodSecurityContext>,
) -> Option<String> {
    let profile = match (
        sc.and_then(|s| s.seccomp_profile.as_ref()),
        pod_sc.and_then(|s| s.seccomp_profile.as_ref()),
    ) {
        (Some(p), _) => Some((p, false)),
        (None, Some(p)) => Some((p, true)),
        (None, None) => None,
    };
    match profile {
        None => {
            Some("no securityContext.seccompProfile (unset on the container and the pod)".into())
        }
        Some((p, _)) if p.type_ == "RuntimeDefault" || p.type_ == "Localhost" => None,
        Some((p, from_pod)) => Some(format!(
            "{}.seccompProfile.type is {}",
            origin(from_pod),
            p.type_
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(check: &SecurityContext, pod_yaml: &str) -> Outcome {
        crate::checks::testing::judge_pod(check, pod_yaml, &[])
    }

    fn only(setting: &str) -> SecurityContext {
        let mut all = serde_json::json!({
            "runAsNonRoot": false, "readOnlyRootFilesystem": false, "disallowPrivilegeEscalation": false,
            "dropAllCapabilities": false, "seccompProfile": false, "disallowPrivileged": false,
        });
        all[setting] = true.into();
        serde_json::from_value(all).unwrap()
    }

    fn messages(outcome: Outcome) -> Vec<String> {
        match outcome {
            Outcome::Fail(f) => f.into_iter().map(|f| f.message).collect(),
            other => panic!("expected Fail, got {other:?}"),
        }
    }

    #[test]
    fn non_root_inherits_and_overrides() {
        let check = only("runAsNonRoot");
        let pod = "
securityContext: {runAsNonRoot: true}
containers:
  - {name: inherits}
  - {name: overrides, securityContext: {runAsNonRoot: false}}
  - {name: root-uid, securityContext: {runAsUser: 0}}
  - {name: uid, securityContext: {runAsUser: 1000}}
initContainers:
  - {name: init-uid, securityContext: {runAsUser: 1000, runAsNonRoot: false}}
";
        assert_eq!(
            messages(judge(&check, pod)),
            [
                "container overrides: securityContext.runAsNonRoot is false",
                "container root-uid: securityContext.runAsUser is 0 (root)"
            ]
        );
        let pod_root = "
securityContext: {runAsNonRoot: true, runAsUser: 0}
containers: [{name: api}, {name: own-uid, securityContext: {runAsUser: 10001}}]
";
        assert_eq!(
            messages(judge(&check, pod_root)),
            ["container api: pod-level securityContext.runAsUser is 0 (root)"]
        );
        assert_eq!(
            messages(judge(&check, "containers: [{name: api}]")),
            [
                "container api: securityContext.runAsNonRoot is not true (unset on the container and the pod, and no non-zero runAsUser)"
            ]
        );
    }

    #[test]
    fn seccomp_inherits_and_overrides() {
        let check = only("seccompProfile");
        let pod = "
securityContext: {seccompProfile: {type: RuntimeDefault}}
containers:
  - {name: inherits}
  - {name: unconfined, securityContext: {seccompProfile: {type: Unconfined}}}
  - {name: local, securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}}}
";
        assert_eq!(
            messages(judge(&check, pod)),
            ["container unconfined: securityContext.seccompProfile.type is Unconfined"]
        );
        let pod = "
securityContext: {seccompProfile: {type: Unconfined}}
containers: [{name: api}, {name: sidecar, securityContext: {seccompProfile: {type: RuntimeDefault}}}]
";
        assert_eq!(
            messages(judge(&check, pod)),
            ["container api: pod-level securityContext.seccompProfile.type is Unconfined"]
        );
        assert_eq!(
            messages(judge(&check, "containers: [{name: api}]")),
            [
                "container api: no securityContext.seccompProfile (unset on the container and the pod)"
            ]
        );
    }

    #[test]
    fn container_only_settings() {
        let pod = "containers: [{name: api, securityContext: {privileged: true, allowPrivilegeEscalation: true, capabilities: {drop: [NET_RAW, all]}}}]";
        assert_eq!(
            messages(judge(&only("disallowPrivileged"), pod)),
            ["container api: securityContext.privileged is true"]
        );
        assert_eq!(
            messages(judge(&only("disallowPrivilegeEscalation"), pod)),
            ["container api: securityContext.allowPrivilegeEscalation is not false (true)"]
        );
        assert_eq!(
            messages(judge(&only("dropAllCapabilities"), pod)),
            [
                "container api: securityContext.capabilities.drop does not include ALL (drops NET_RAW, all)"
            ]
        );
        assert_eq!(
            messages(judge(&only("readOnlyRootFilesystem"), pod)),
            ["container api: securityContext.readOnlyRootFilesystem is not true (unset)"]
        );
        let good = "containers: [{name: api, securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]";
        for setting in [
            "disallowPrivileged",
            "disallowPrivilegeEscalation",
            "dropAllCapabilities",
            "readOnlyRootFilesystem",
        ] {
            assert!(
                matches!(judge(&only(setting), good), Outcome::Pass(_)),
                "{setting}"
            );
        }
    }

    #[test]
    fn windows_pods_are_skipped() {
        let check: SecurityContext = serde_yaml_ng::from_str("{}").unwrap();
        assert!(matches!(
            judge(&check, "os: {name: windows}\ncontainers: [{name: api}]"),
            Outcome::Skipped(_)
        ));
    }
}
