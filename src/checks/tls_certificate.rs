use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `tlsCertificate` check: a kubernetes.io/tls Secret (or the TLS Secrets of
/// Ingresses routing to the Deployment's Services) stays valid for `minDaysValid` more days and
/// covers `hosts` (and the Ingress hosts).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("has(self.secretName) || !has(self.fromIngresses) || self.fromIngresses").message("name a secretName or use fromIngresses"))]
#[serde(rename_all = "camelCase")]
pub struct TlsCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Check the TLS Secrets of Ingresses whose backends are Services selecting the pods
    /// (default: when no secretName is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ingresses: Option<bool>,
    #[serde(default = "default_min_days")]
    #[schemars(range(min = 0, max = 3650))]
    pub min_days_valid: i32,
    /// Hostnames the certificate must cover (with `secretName`: that certificate; otherwise some
    /// certificate of the Ingresses). Ingress `spec.tls[].hosts` are always required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

fn default_min_days() -> i32 {
    30
}

/// The key of a kubernetes.io/tls Secret that holds the certificate chain.
const CERT_KEY: &str = "tls.crt";

/// One Secret to judge, with the hosts its certificate must cover and where it was found.
#[derive(Default)]
struct Target {
    hosts: BTreeSet<String>,
    /// `Ingress web` for Secrets found through Ingresses.
    origins: BTreeSet<String>,
}

impl Check for TlsCertificate {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let snapshot = cx.snapshot;
        let mut targets: BTreeMap<String, Target> = BTreeMap::new();
        let mut findings = Vec::new();
        let mut unknown = Vec::new();
        let mut notes = Vec::new();

        if let Some(name) = &self.secret_name {
            targets
                .entry(name.clone())
                .or_default()
                .hosts
                .extend(self.hosts.iter().cloned());
        }
        let from_ingresses = self.from_ingresses.unwrap_or(self.secret_name.is_none());
        if from_ingresses {
            let services: BTreeSet<&str> = snapshot
                .services
                .iter()
                .filter(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|sel| pod::map_selector_matches(sel, cx.pod_labels))
                })
                .filter_map(|s| s.metadata.name.as_deref())
                .collect();
            let mut found = false;
            for ingress in snapshot
                .ingresses
                .iter()
                .filter(|i| routes_to(i, &services))
            {
                let ingress_name = ingress.metadata.name.as_deref().unwrap_or_default();
                for (i, tls) in ingress
                    .spec
                    .iter()
                    .flat_map(|s| s.tls.iter().flatten())
                    .enumerate()
                {
                    found = true;
                    match &tls.secret_name {
                        Some(secret) => {
                            let target = targets.entry(secret.clone()).or_default();
                            target.hosts.extend(tls.hosts.iter().flatten().cloned());
                            target.origins.insert(format!("Ingress {ingress_name}"));
                        }
                        // The ingress controller then serves its default certificate, which is not ours to read.
                        None => notes.push(format!("Ingress {ingress_name} spec.tls[{i}] names no secretName (controller default certificate not checked)")),
                    }
                }
            }
            if !found {
                let message = "no Ingress with spec.tls routes to a Service selecting the pods";
                if snapshot.is_offline() {
                    unknown.push(format!("{message} in the manifest set"));
                } else {
                    findings.push(Finding::new(message));
                }
            }
        }

        let now = snapshot.now;
        let mut covered_by_any: BTreeSet<String> = BTreeSet::new();
        let mut judged = Vec::new();
        for (secret, target) in &targets {
            let origin = if target.origins.is_empty() {
                String::new()
            } else {
                format!(
                    " (TLS of {})",
                    target
                        .origins
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let facts = snapshot.observations.certificates.get(secret);
            if let Some(why) = snapshot.unread("Secret") {
                unknown.push(format!(
                    "Secret {secret}{origin}: Secrets are not read ({why})"
                ));
                continue;
            }
            match snapshot.secret(secret) {
                Some(s) => {
                    let has_cert = s.data.as_ref().is_some_and(|d| d.contains_key(CERT_KEY))
                        || s.string_data
                            .as_ref()
                            .is_some_and(|d| d.contains_key(CERT_KEY));
                    if !has_cert {
                        findings.push(Finding::new(format!(
                            "Secret {secret}{origin}: no key {CERT_KEY} (type {})",
                            s.type_.as_deref().unwrap_or("Opaque")
                        )));
                        continue;
                    }
                }
                None if !snapshot.is_offline() => {
                    findings.push(Finding::new(format!(
                        "Secret {secret}{origin}: not found in namespace {}",
                        snapshot.namespace
                    )));
                    continue;
                }
                None if facts.is_some() || snapshot.is_assumed_present("Secret", secret) => {}
                None => {
                    unknown.push(format!(
                        "Secret {secret}{origin}: not in the manifest set (declare it with --assume-present secret/{secret})"
                    ));
                    continue;
                }
            }
            let Some(facts) = facts else {
                unknown.push(if snapshot.is_offline() {
                    format!("certificate in Secret {secret}{origin}: not observed offline (dates and names are read on the cluster)")
                } else {
                    format!("certificate in Secret {secret}{origin} not observed yet")
                });
                continue;
            };
            if let Some(error) = &facts.error {
                findings.push(Finding::new(format!(
                    "certificate in Secret {secret}{origin}: {CERT_KEY} does not parse: {error}"
                )));
                continue;
            }
            let before = findings.len();
            if let Some(not_before) = facts.not_before.filter(|t| *t > now) {
                findings.push(Finding::new(format!(
                    "certificate in Secret {secret}{origin} is not valid before {not_before}"
                )));
            }
            let days_left = facts
                .not_after
                .duration_since(now)
                .as_secs()
                .div_euclid(86_400);
            if facts.not_after <= now {
                findings.push(Finding::new(format!(
                    "certificate in Secret {secret}{origin} expired {}",
                    facts.not_after
                )));
            } else if days_left < i64::from(self.min_days_valid) {
                findings.push(Finding::new(format!(
                    "certificate in Secret {secret}{origin} expires {}, less than the {} days it must stay valid",
                    facts.not_after, self.min_days_valid
                )));
            }
            let uncovered: Vec<&String> = target
                .hosts
                .iter()
                .filter(|h| !facts.dns_names.iter().any(|n| covers(n, h)))
                .collect();
            if !uncovered.is_empty() {
                let names = if facts.dns_names.is_empty() {
                    "no DNS names".to_string()
                } else {
                    facts.dns_names.join(", ")
                };
                findings.push(Finding::new(format!(
                    "certificate in Secret {secret}{origin} does not cover {} (it names {names})",
                    uncovered
                        .iter()
                        .map(|h| h.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            covered_by_any.extend(
                self.hosts
                    .iter()
                    .filter(|h| facts.dns_names.iter().any(|n| covers(n, h)))
                    .cloned(),
            );
            if findings.len() == before {
                let hosts = if target.hosts.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", covers {}",
                        target.hosts.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                judged.push(format!(
                    "Secret {secret} valid until {}, more than {} days from now{hosts}",
                    facts.not_after, self.min_days_valid
                ));
            }
        }
        // Without a secretName, `hosts` must be covered by some Ingress certificate.
        if self.secret_name.is_none() && unknown.is_empty() && !targets.is_empty() {
            for host in self.hosts.iter().filter(|h| !covered_by_any.contains(*h)) {
                findings.push(Finding::new(format!(
                    "no Ingress TLS certificate covers {host}"
                )));
            }
        }
        if judged.is_empty() && findings.is_empty() && unknown.is_empty() {
            // Only secret-less TLS entries: nothing was verified, so nothing may pass.
            unknown.push(format!("no certificate to check: {}", notes.join("; ")));
        }
        let mut pass = judged.join("; ");
        if !notes.is_empty() {
            pass = format!("{pass} ({})", notes.join("; "));
        }
        Outcome::from_findings(findings, unknown, pass)
    }
}

/// Whether an Ingress sends traffic to one of these Services (default backend or any rule path).
fn routes_to(ingress: &Ingress, services: &BTreeSet<&str>) -> bool {
    let Some(spec) = ingress.spec.as_ref() else {
        return false;
    };
    let hits = |b: &IngressBackend| {
        b.service
            .as_ref()
            .is_some_and(|s| services.contains(s.name.as_str()))
    };
    spec.default_backend.as_ref().is_some_and(hits)
        || spec
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
            .any(|p| hits(&p.backend))
}

/// Whether a certificate DNS name covers a hostname (RFC 6125 section 6.4): case-insensitive,
/// and a wildcard only as the whole left-most label, standing for exactly one non-empty label,
/// never directly under a top-level domain. A host that is itself a wildcard (an Ingress may
/// list `*.example.com`) needs the same wildcard in the certificate.
pub fn covers(dns_name: &str, host: &str) -> bool {
    let name = dns_name.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || host.is_empty() {
        return false;
    }
    if name == host {
        return true;
    }
    let Some(suffix) = name.strip_prefix("*.") else {
        return false;
    };
    if suffix.contains('*') || suffix.split('.').count() < 2 || suffix.split('.').any(str::is_empty)
    {
        return false;
    }
    match host.split_once('.') {
        Some((first, rest)) => !first.is_empty() && first != "*" && rest == suffix,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CertificateFacts, Snapshot, Source};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn wildcards_cover_exactly_one_left_most_label() {
        assert!(covers("api.example.com", "api.example.com"));
        assert!(covers("API.Example.com.", "api.example.COM"));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", ".example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "*.other.com"));
        assert!(!covers("api.example.com", "*.example.com"));
        assert!(!covers("*.com", "example.com"));
        assert!(!covers("a*.example.com", "ab.example.com"));
        assert!(!covers("*.*.example.com", "a.b.example.com"));
        assert!(!covers("api.*.com", "api.example.com"));
        assert!(!covers("*", "localhost"));
        assert!(!covers("", ""));
        assert!(!covers("*..com", "a..com"));
    }

    fn facts(not_after: &str, names: &[&str]) -> CertificateFacts {
        CertificateFacts {
            not_before: None,
            not_after: not_after.parse().unwrap(),
            dns_names: names.iter().map(|n| n.to_string()).collect(),
            subject: String::new(),
            error: None,
        }
    }

    fn judge(check: serde_json::Value, facts: Option<CertificateFacts>, source: Source) -> Outcome {
        let check: TlsCertificate = serde_json::from_value(check).unwrap();
        let mut s = Snapshot::new("shop", "2026-06-01T00:00:00Z".parse().unwrap(), source);
        s.secrets.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "api-tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}))
                .unwrap(),
        ));
        if let Some(f) = facts {
            s.observations.certificates.insert("api-tls".into(), f);
        }
        judge_in(check, &s)
    }

    fn judge_in(check: TlsCertificate, s: &Snapshot) -> Outcome {
        let d = Deployment::default();
        let pod = PodSpec::default();
        let labels = BTreeMap::new();
        let cx = Context {
            snapshot: s,
            workload: &crate::engine::Workload::from(d),
            pod: &pod,
            pod_labels: &labels,
            readiness: "api",
            checklist: "inline",
            item: "tls",
        };
        check.evaluate(&cx)
    }

    #[test]
    fn days_left_round_down() {
        let check = json!({"secretName": "api-tls", "minDaysValid": 30});
        // 29 days and 23 hours: not 30.
        assert_eq!(
            judge(
                check.clone(),
                Some(facts("2026-06-30T23:00:00Z", &[])),
                Source::Cluster
            ),
            Outcome::fail(
                "certificate in Secret api-tls expires 2026-06-30T23:00:00Z, less than the 30 days it must stay valid"
            )
        );
        assert!(matches!(
            judge(
                check.clone(),
                Some(facts("2026-07-01T00:00:00Z", &[])),
                Source::Cluster
            ),
            Outcome::Pass(_)
        ));
        assert_eq!(
            judge(
                check,
                Some(facts("2026-06-01T00:00:00Z", &[])),
                Source::Cluster
            ),
            Outcome::fail("certificate in Secret api-tls expired 2026-06-01T00:00:00Z")
        );
    }

    #[test]
    fn not_yet_valid_and_unparsable() {
        let mut f = facts("2027-01-01T00:00:00Z", &[]);
        f.not_before = Some("2026-06-02T00:00:00Z".parse().unwrap());
        assert_eq!(
            judge(
                json!({"secretName": "api-tls"}),
                Some(f.clone()),
                Source::Cluster
            ),
            Outcome::fail("certificate in Secret api-tls is not valid before 2026-06-02T00:00:00Z")
        );
        f.error = Some("no PEM block".into());
        assert_eq!(
            judge(json!({"secretName": "api-tls"}), Some(f), Source::Cluster),
            Outcome::fail("certificate in Secret api-tls: tls.crt does not parse: no PEM block")
        );
    }

    #[test]
    fn offline_needs_observations() {
        assert!(matches!(
            judge(json!({"secretName": "api-tls"}), None, Source::Manifests),
            Outcome::Unknown(_)
        ));
        assert!(matches!(
            judge(
                json!({"secretName": "api-tls"}),
                Some(facts("2027-01-01T00:00:00Z", &[])),
                Source::Manifests
            ),
            Outcome::Pass(_)
        ));
        assert_eq!(
            judge(json!({"secretName": "elsewhere"}), None, Source::Manifests),
            Outcome::Unknown("Secret elsewhere: not in the manifest set (declare it with --assume-present secret/elsewhere)".into())
        );
        assert_eq!(
            judge(json!({"secretName": "elsewhere"}), None, Source::Cluster),
            Outcome::fail("Secret elsewhere: not found in namespace shop")
        );
    }

    #[test]
    fn unread_secrets_are_unknown_saying_why() {
        let check: TlsCertificate =
            serde_json::from_value(json!({"secretName": "api-tls"})).unwrap();
        let mut s = Snapshot::new(
            "shop",
            "2026-06-01T00:00:00Z".parse().unwrap(),
            Source::Cluster,
        );
        s.unread
            .insert("Secret", "gonogo runs with --read-secrets=false".into());
        assert_eq!(
            judge_in(check, &s),
            Outcome::Unknown(
                "Secret api-tls: Secrets are not read (gonogo runs with --read-secrets=false)"
                    .into()
            )
        );
    }
}
