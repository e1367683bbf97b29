use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{Referenced, judge, require_any, required_references, template_references};
use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `secrets` check: every Secret the template references (env, envFrom,
/// volumes, projected volumes, imagePullSecrets) exists with the keys used; `optional: true`
/// references never fail. `required` adds explicit names and keys. With `requireAny`, a
/// template that references no Secret (and a checklist that requires none) fails.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    /// Check what the pod template references (default true).
    #[serde(default = "super::yes")]
    pub from_template: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<NamedKeys>,
    /// Fail when nothing is referenced: no Secret the pods need (optional references do not
    /// count) and none in `required`. Default false: referencing nothing passes.
    #[serde(default)]
    pub require_any: bool,
}

/// An object that must exist, with these keys.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct NamedKeys {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl Check for Secrets {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut refs = if self.from_template {
            template_references(cx.pod, Referenced::Secret)
        } else {
            Vec::new()
        };
        refs.extend(required_references(&self.required));
        if self.require_any
            && let Some(fail) = require_any(Referenced::Secret, &refs)
        {
            return fail;
        }
        judge(Referenced::Secret, &refs, cx.snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{evaluate, snapshot};
    use crate::engine::{Finding, Source};

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      imagePullSecrets: [{name: regcred}]
      initContainers:
        - name: migrate
          image: m
          env: [{name: DB_URL, valueFrom: {secretKeyRef: {name: db, key: url}}}]
      containers:
        - name: api
          image: x
          env:
            - {name: OPENAI_API_KEY, valueFrom: {secretKeyRef: {name: api-keys, key: OPENAI_API_KEY}}}
            - {name: SENTRY_DSN, valueFrom: {secretKeyRef: {name: api-keys, key: SENTRY_DSN, optional: true}}}
          envFrom: [{secretRef: {name: feature-flags, optional: true}}]
      volumes:
        - {name: tls, secret: {secretName: api-tls, items: [{key: tls.crt, path: tls.crt}]}}
"#;

    const OBJECTS: &str = r#"
---
apiVersion: v1
kind: Secret
metadata: {name: api-keys}
data: {OPENAI_API_KEY: ""}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {url: postgres://db}
---
apiVersion: v1
kind: Secret
metadata: {name: api-tls}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
---
apiVersion: v1
kind: Secret
metadata: {name: regcred}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: ""}
"#;

    fn check() -> Secrets {
        Secrets {
            from_template: true,
            required: vec![],
            require_any: false,
        }
    }

    #[test]
    fn stripped_values_and_string_data_count_and_optional_absences_are_noted() {
        let outcome = evaluate(
            &check(),
            &snapshot(&format!("{DEPLOYMENT}{OBJECTS}"), Source::Cluster, &[]),
        );
        assert_eq!(
            outcome,
            Outcome::Pass(
                "Secrets api-keys, db, api-tls, regcred present with the keys used; \
                 optional key(s) SENTRY_DSN absent from Secret api-keys (container api env SENTRY_DSN); \
                 optional Secret feature-flags not found (container api envFrom)"
                    .into()
            )
        );
    }

    #[test]
    fn unread_secrets_make_the_gate_unknown_saying_why() {
        let mut snapshot = snapshot(&format!("{DEPLOYMENT}{OBJECTS}"), Source::Cluster, &[]);
        snapshot.secrets.clear();
        snapshot
            .unread
            .insert("Secret", "gonogo runs with --read-secrets=false".into());
        match evaluate(&check(), &snapshot) {
            Outcome::Unknown(m) => assert!(
                m.starts_with("Secrets are not read (gonogo runs with --read-secrets=false): whether api-keys, ")
                    && m.ends_with(" exist is not known"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn findings_carry_their_container() {
        let objects = OBJECTS
            .replace("data: {OPENAI_API_KEY: \"\"}", "data: {OTHER: \"\"}")
            .replace("name: db}", "name: other-db}");
        let outcome = evaluate(
            &check(),
            &snapshot(&format!("{DEPLOYMENT}{objects}"), Source::Cluster, &[]),
        );
        assert_eq!(
            outcome,
            Outcome::Fail(vec![
                Finding {
                    container: Some("api".into()),
                    message: "Secret api-keys: missing key OPENAI_API_KEY (container api env OPENAI_API_KEY)".into()
                },
                Finding {
                    container: Some("migrate".into()),
                    message: "Secret db: not found (container migrate env DB_URL)".into()
                },
            ])
        );
    }

    #[test]
    fn pod_level_references_have_no_container() {
        let objects = OBJECTS
            .replace(
                "data: {tls.crt: \"\", tls.key: \"\"}",
                "data: {tls.key: \"\"}",
            )
            .replace("name: regcred}", "name: old-regcred}");
        let Outcome::Fail(findings) = evaluate(
            &check(),
            &snapshot(&format!("{DEPLOYMENT}{objects}"), Source::Cluster, &[]),
        ) else {
            panic!("expected Fail")
        };
        assert_eq!(
            findings,
            vec![
                Finding::new("Secret api-tls: missing key tls.crt (volume tls)"),
                Finding::new("Secret regcred: not found (imagePullSecrets)"),
            ]
        );
    }

    #[test]
    fn explicit_requirements_only() {
        let check = Secrets {
            from_template: false,
            require_any: false,
            required: vec![
                NamedKeys {
                    name: "api-tls".into(),
                    keys: vec!["tls.crt".into(), "ca.crt".into()],
                },
                NamedKeys {
                    name: "db".into(),
                    keys: vec![],
                },
            ],
        };
        let outcome = evaluate(
            &check,
            &snapshot(&format!("{DEPLOYMENT}{OBJECTS}"), Source::Cluster, &[]),
        );
        assert_eq!(
            outcome,
            Outcome::fail("Secret api-tls: missing key ca.crt (required by the checklist)")
        );
    }

    #[test]
    fn offline_absent_is_unknown_and_assumed_present_passes_with_a_note() {
        let objects = OBJECTS.replace("name: db}", "name: unrelated}");
        let s = snapshot(&format!("{DEPLOYMENT}{objects}"), Source::Manifests, &[]);
        assert_eq!(
            evaluate(&check(), &s),
            Outcome::Unknown(
                "Secret db: not in the manifests (container migrate env DB_URL); if it is created elsewhere, declare it with --assume-present secret/db".into()
            )
        );
        let s = snapshot(
            &format!("{DEPLOYMENT}{objects}"),
            Source::Manifests,
            &[("Secret", "db")],
        );
        assert!(
            matches!(evaluate(&check(), &s), Outcome::Pass(m) if m.contains("Secret db assumed present (--assume-present), its keys not verified"))
        );
        // A key missing from a Secret that is in the manifests fails offline too.
        let objects = objects.replace("data: {OPENAI_API_KEY: \"\"}", "data: {}");
        let s = snapshot(
            &format!("{DEPLOYMENT}{objects}"),
            Source::Manifests,
            &[("Secret", "db")],
        );
        assert!(
            matches!(evaluate(&check(), &s), Outcome::Fail(f) if f[0].message.contains("missing key OPENAI_API_KEY"))
        );
    }

    #[test]
    fn nothing_referenced() {
        let mut check = Secrets {
            from_template: false,
            required: vec![],
            require_any: false,
        };
        let s = snapshot(DEPLOYMENT, Source::Cluster, &[]);
        assert_eq!(
            evaluate(&check, &s),
            Outcome::Pass("the pod template references no Secrets".into())
        );
        check.require_any = true;
        assert_eq!(
            evaluate(&check, &s),
            Outcome::fail(
                "requireAny: the pod template references no Secret and the checklist requires none"
            )
        );
    }

    #[test]
    fn require_any_counts_only_references_the_pods_need() {
        let optional_only = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: x
          envFrom: [{secretRef: {name: feature-flags, optional: true}}]
"#;
        let check = Secrets {
            from_template: true,
            required: vec![],
            require_any: true,
        };
        let s = snapshot(optional_only, Source::Manifests, &[]);
        assert!(
            matches!(evaluate(&check, &s), Outcome::Fail(f) if f[0].message.contains("(only optional ones)"))
        );
        // Offline, a needed reference satisfies requireAny; the Secret itself is then judged.
        let s = snapshot(DEPLOYMENT, Source::Manifests, &[]);
        assert!(matches!(evaluate(&check, &s), Outcome::Unknown(_)));
    }
}
