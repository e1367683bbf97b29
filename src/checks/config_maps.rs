use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{Referenced, judge, require_any, required_references, template_references};
use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `configMaps` check: as `secrets`, for ConfigMaps (env, envFrom, volumes,
/// projected volumes), with `requireAny` likewise.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMaps {
    #[serde(default = "super::yes")]
    pub from_template: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<super::secrets::NamedKeys>,
    /// Fail when nothing is referenced: no ConfigMap the pods need (optional references do not
    /// count) and none in `required`. Default false: referencing nothing passes.
    #[serde(default)]
    pub require_any: bool,
}

impl Check for ConfigMaps {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut refs = if self.from_template {
            template_references(cx.pod, Referenced::ConfigMap)
        } else {
            Vec::new()
        };
        refs.extend(required_references(&self.required));
        if self.require_any
            && let Some(fail) = require_any(Referenced::ConfigMap, &refs)
        {
            return fail;
        }
        judge(Referenced::ConfigMap, &refs, cx.snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{evaluate, fail_messages, snapshot};
    use crate::engine::Source;

    const DEPLOYMENT: &str = r#"
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
          env: [{name: LOG_LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: log-level}}}]
          envFrom: [{configMapRef: {name: defaults}}]
      volumes:
        - name: bundle
          projected:
            sources:
              - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
              - configMap: {name: assets, items: [{key: logo.png, path: logo.png}]}
"#;

    const OBJECTS: &str = r#"
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: settings}, data: {log-level: info}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: defaults}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: kube-root-ca.crt}, data: {ca.crt: ""}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: assets}, binaryData: {logo.png: ""}}
"#;

    fn check() -> ConfigMaps {
        ConfigMaps {
            from_template: true,
            required: vec![],
            require_any: false,
        }
    }

    #[test]
    fn binary_data_keys_count() {
        let outcome = evaluate(
            &check(),
            &snapshot(&format!("{DEPLOYMENT}{OBJECTS}"), Source::Cluster, &[]),
        );
        assert!(
            matches!(outcome, Outcome::Pass(m) if m.starts_with("ConfigMaps settings, defaults, kube-root-ca.crt, assets present"))
        );
    }

    #[test]
    fn projected_sources_and_explicit_keys() {
        let objects = OBJECTS.replace(
            "binaryData: {logo.png: \"\"}",
            "binaryData: {icon.png: \"\"}",
        );
        let check = ConfigMaps {
            from_template: true,
            require_any: true,
            required: vec![super::super::secrets::NamedKeys {
                name: "settings".into(),
                keys: vec!["region".into()],
            }],
        };
        assert_eq!(
            fail_messages(&evaluate(
                &check,
                &snapshot(&format!("{DEPLOYMENT}{objects}"), Source::Cluster, &[])
            )),
            [
                "ConfigMap settings: missing key region (required by the checklist)",
                "ConfigMap assets: missing key logo.png (projected volume bundle)",
            ]
        );
    }

    #[test]
    fn offline_absent_names_the_configmap_hint() {
        let s = snapshot(
            DEPLOYMENT,
            Source::Manifests,
            &[("ConfigMap", "kube-root-ca.crt")],
        );
        let Outcome::Unknown(reason) = evaluate(&check(), &s) else {
            panic!("expected Unknown")
        };
        assert!(
            reason.contains("--assume-present configmap/settings"),
            "{reason}"
        );
        assert!(!reason.contains("kube-root-ca.crt"), "{reason}");
    }
}
