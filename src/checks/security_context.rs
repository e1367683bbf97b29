use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::core::v1::{self as core, Container, PodSecurityContext};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `securityContext` check. `profile` sets which settings are required by
/// default (`restricted`: what the restricted Pod Security Standard forbids, plus a read-only
/// root filesystem; `baseline`: what the baseline standard forbids; `none`: nothing); each
/// setting given explicitly overrides its profile. Pod-level settings count for every container
/// unless the container overrides them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// Which settings are required unless set here: `restricted` (default), `baseline` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// runAsNonRoot (or a non-zero runAsUser) on every container (restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// `readOnlyRootFilesystem: true` on every container (restricted, as gonogo's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// `allowPrivilegeEscalation: false` on every container (restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_privilege_escalation: Option<bool>,
    /// `capabilities.drop` includes `ALL` (restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_all_capabilities: Option<bool>,
    /// A seccompProfile of type `RuntimeDefault` or `Localhost` (restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<bool>,
    /// No `privileged: true` container (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_privileged: Option<bool>,
    /// No hostNetwork, hostPID or hostIPC (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_host_namespaces: Option<bool>,
    /// No hostPath volume (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_host_path: Option<bool>,
    /// No container port with a hostPort (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_host_ports: Option<bool>,
    /// No capability added beyond NET_BIND_SERVICE (restricted) or beyond the baseline
    /// standard's list (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_added_capabilities: Option<bool>,
    /// No procMount other than `Default` (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_proc_mount: Option<bool>,
    /// Only the sysctls the baseline standard calls safe (baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_unsafe_sysctls: Option<bool>,
}

/// A Pod Security Standard level, as the default of every setting.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Profile {
    Restricted,
    Baseline,
    None,
}

/// Capabilities the baseline standard lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls the baseline standard calls safe.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Every setting, resolved against the profile.
struct Settings {
    run_as_non_root: bool,
    read_only_root_filesystem: bool,
    disallow_privilege_escalation: bool,
    drop_all_capabilities: bool,
    seccomp_profile: bool,
    disallow_privileged: bool,
    disallow_host_namespaces: bool,
    disallow_host_path: bool,
    disallow_host_ports: bool,
    disallow_added_capabilities: bool,
    disallow_proc_mount: bool,
    disallow_unsafe_sysctls: bool,
    /// Capabilities a container may add.
    addable: &'static [&'static str],
}

impl SecurityContext {
    fn settings(&self) -> Settings {
        let profile = self.profile.unwrap_or(Profile::Restricted);
        let restricted = profile == Profile::Restricted;
        let baseline = restricted || profile == Profile::Baseline;
        Settings {
            run_as_non_root: self.run_as_non_root.unwrap_or(restricted),
            read_only_root_filesystem: self.read_only_root_filesystem.unwrap_or(restricted),
            disallow_privilege_escalation: self.disallow_privilege_escalation.unwrap_or(restricted),
            drop_all_capabilities: self.drop_all_capabilities.unwrap_or(restricted),
            seccomp_profile: self.seccomp_profile.unwrap_or(restricted),
            disallow_privileged: self.disallow_privileged.unwrap_or(baseline),
            disallow_host_namespaces: self.disallow_host_namespaces.unwrap_or(baseline),
            disallow_host_path: self.disallow_host_path.unwrap_or(baseline),
            disallow_host_ports: self.disallow_host_ports.unwrap_or(baseline),
            disallow_added_capabilities: self.disallow_added_capabilities.unwrap_or(baseline),
            disallow_proc_mount: self.disallow_proc_mount.unwrap_or(baseline),
            disallow_unsafe_sysctls: self.disallow_unsafe_sysctls.unwrap_or(baseline),
            addable: if profile == Profile::Baseline {
                BASELINE_CAPABILITIES
            } else {
                &["NET_BIND_SERVICE"]
            },
        }
    }
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
        let settings = self.settings();
        let mut findings: Vec<Finding> = pod_problems(&settings, cx.pod)
            .into_iter()
            .map(Finding::new)
            .collect();
        let mut checked = 0;
        // Every container, init containers included: they run with the same privileges.
        for (container, _) in pod::containers(cx.pod) {
            checked += 1;
            for problem in settings.problems(container, pod_sc) {
                findings.push(Finding::in_container(&container.name, problem));
            }
        }
        if checked == 0 {
            return Outcome::Unknown("the pod template has no containers to check".into());
        }
        Outcome::from_findings(findings, Vec::new(), settings.pass_message(checked))
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

/// What the pod itself may not do: host namespaces, hostPath volumes, unsafe sysctls.
fn pod_problems(settings: &Settings, pod: &core::PodSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if settings.disallow_host_namespaces {
        for (on, field) in [
            (pod.host_network, "hostNetwork"),
            (pod.host_pid, "hostPID"),
            (pod.host_ipc, "hostIPC"),
        ] {
            if on == Some(true) {
                problems.push(format!("pod spec.{field} is true"));
            }
        }
    }
    if settings.disallow_host_path {
        for v in pod.volumes.iter().flatten() {
            if let Some(host) = &v.host_path {
                problems.push(format!("volume {}: hostPath {}", v.name, host.path));
            }
        }
    }
    if settings.disallow_unsafe_sysctls {
        let sysctls = pod
            .security_context
            .as_ref()
            .and_then(|s| s.sysctls.as_ref());
        for sysctl in sysctls.into_iter().flatten() {
            if !SAFE_SYSCTLS.contains(&sysctl.name.as_str()) {
                problems.push(format!(
                    "pod securityContext.sysctls sets {}, which is not a safe sysctl",
                    sysctl.name
                ));
            }
        }
    }
    problems
}

impl Settings {
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
        if self.disallow_added_capabilities {
            let added = sc
                .and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.add.as_ref());
            let extra: Vec<&str> = added
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|c| !self.addable.contains(&c.trim_start_matches("CAP_")))
                .collect();
            if !extra.is_empty() {
                problems.push(format!(
                    "securityContext.capabilities.add has {} (allowed: {})",
                    extra.join(", "),
                    self.addable.join(", ")
                ));
            }
        }
        if self.disallow_proc_mount
            && let Some(mount) = sc.and_then(|s| s.proc_mount.as_deref())
            && mount != "Default"
        {
            problems.push(format!("securityContext.procMount is {mount}"));
        }
        if self.disallow_host_ports {
            for port in container.ports.iter().flatten() {
                if let Some(host) = port.host_port.filter(|&p| p != 0) {
                    problems.push(format!(
                        "port {} has hostPort {host}",
                        port.name
                            .as_deref()
                            .map_or_else(|| port.container_port.to_string(), str::to_string)
                    ));
                }
            }
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
            (self.disallow_host_namespaces, "no host namespaces"),
            (self.disallow_host_path, "no hostPath volumes"),
            (self.disallow_host_ports, "no hostPorts"),
            (
                self.disallow_added_capabilities,
                "no capabilities added beyond the allowed",
            ),
            (self.disallow_proc_mount, "default procMount"),
            (self.disallow_unsafe_sysctls, "safe sysctls only"),
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
        let mut all = serde_json::json!({"profile": "none"});
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

    #[test]
    fn what_the_restricted_standard_forbids_is_covered() {
        let pod = "
hostNetwork: true
hostPID: true
securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: '1'}, {name: kernel.msgmax, value: '1'}]}
volumes: [{name: docker, hostPath: {path: /var/run/docker.sock}}]
containers:
  - name: api
    ports: [{name: http, containerPort: 8080, hostPort: 80}]
    securityContext:
      procMount: Unmasked
      capabilities: {add: [NET_BIND_SERVICE, CHOWN, SYS_ADMIN]}
";
        let none_but = |field: &str| -> SecurityContext {
            serde_json::from_value(serde_json::json!({"profile": "none", field: true})).unwrap()
        };
        assert_eq!(
            messages(judge(&none_but("disallowHostNamespaces"), pod)),
            ["pod spec.hostNetwork is true", "pod spec.hostPID is true"]
        );
        assert_eq!(
            messages(judge(&none_but("disallowHostPath"), pod)),
            ["volume docker: hostPath /var/run/docker.sock"]
        );
        assert_eq!(
            messages(judge(&none_but("disallowUnsafeSysctls"), pod)),
            ["pod securityContext.sysctls sets kernel.msgmax, which is not a safe sysctl"]
        );
        assert_eq!(
            messages(judge(&none_but("disallowHostPorts"), pod)),
            ["container api: port http has hostPort 80"]
        );
        assert_eq!(
            messages(judge(&none_but("disallowProcMount"), pod)),
            ["container api: securityContext.procMount is Unmasked"]
        );
        assert_eq!(
            messages(judge(&none_but("disallowAddedCapabilities"), pod)),
            [
                "container api: securityContext.capabilities.add has CHOWN, SYS_ADMIN (allowed: NET_BIND_SERVICE)"
            ]
        );
        // The baseline profile allows the baseline capabilities and does not ask for the
        // restricted settings (non-root, seccomp, ...).
        let baseline: SecurityContext =
            serde_json::from_value(serde_json::json!({"profile": "baseline"})).unwrap();
        let found = messages(judge(&baseline, pod));
        assert!(
            found.contains(
                &"container api: securityContext.capabilities.add has SYS_ADMIN (allowed: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)".to_string()
            ),
            "{found:?}"
        );
        assert!(
            !found.iter().any(|m| m.contains("runAsNonRoot")),
            "{found:?}"
        );
        // The default profile is restricted: everything at once.
        let restricted: SecurityContext = serde_yaml_ng::from_str("{}").unwrap();
        let found = messages(judge(&restricted, pod));
        assert!(found.len() >= 11, "{found:?}");
        // An explicit setting overrides its profile.
        let relaxed: SecurityContext =
            serde_json::from_value(serde_json::json!({"disallowHostPath": false})).unwrap();
        assert!(
            !messages(judge(&relaxed, pod))
                .iter()
                .any(|m| m.contains("hostPath"))
        );
        let clean = "containers: [{name: api, securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}, seccompProfile: {type: RuntimeDefault}}}]";
        assert!(matches!(judge(&restricted, clean), Outcome::Pass(_)));
    }
}
