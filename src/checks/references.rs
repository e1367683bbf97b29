//! How checks refer to related objects: the Secret and ConfigMap references of a pod template
//! (one walker and one judge, shared by `secrets` and `configMaps`), and the wording shared by
//! every related-object check for objects that a manifest set does not contain.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{KeyToPath, PodSpec};

use super::secrets::NamedKeys;
use crate::engine::{Finding, Outcome, Snapshot, pod};

/// The kinds of object a pod template refers to by name and key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Referenced {
    Secret,
    ConfigMap,
}

impl Referenced {
    /// The Kubernetes kind, as messages and `Snapshot::assumed_present` spell it.
    pub(super) fn kind(self) -> &'static str {
        match self {
            Referenced::Secret => "Secret",
            Referenced::ConfigMap => "ConfigMap",
        }
    }

    /// The resource name the CLI's `--assume-present` takes.
    fn cli_name(self) -> &'static str {
        match self {
            Referenced::Secret => "secret",
            Referenced::ConfigMap => "configmap",
        }
    }

    /// The key names of the object, or `None` when the snapshot does not hold it. Only names
    /// matter: the controller may strip values.
    fn keys<'a>(self, snapshot: &'a Snapshot, name: &str) -> Option<BTreeSet<&'a str>> {
        match self {
            Referenced::Secret => snapshot.secret(name).map(|s| {
                let data = s.data.iter().flatten().map(|(k, _)| k.as_str());
                let string_data = s.string_data.iter().flatten().map(|(k, _)| k.as_str());
                data.chain(string_data).collect()
            }),
            Referenced::ConfigMap => snapshot.config_map(name).map(|c| {
                let data = c.data.iter().flatten().map(|(k, _)| k.as_str());
                let binary = c.binary_data.iter().flatten().map(|(k, _)| k.as_str());
                data.chain(binary).collect()
            }),
        }
    }
}

/// One use of a Secret or ConfigMap, by the pod template or by the checklist itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reference {
    pub name: String,
    /// The key used; `None` when the object is used whole (envFrom, a volume without items).
    pub key: Option<String>,
    /// `optional: true`: the kubelet starts the pod without it.
    pub optional: bool,
    /// The container whose spec holds the reference; `None` for pod-level uses (volumes,
    /// imagePullSecrets, the checklist's own list).
    pub container: Option<String>,
    /// Where it is used, e.g. `env OPENAI_API_KEY`, `envFrom`, `volume certs`.
    pub usage: String,
}

/// Every reference of the pod template to objects of `kind`: env valueFrom, envFrom of every
/// container (app, native sidecar, init), volumes, projected volume sources and, for Secrets,
/// imagePullSecrets. References with an empty name (the API server rejects them) are dropped.
pub(super) fn template_references(pod: &PodSpec, kind: Referenced) -> Vec<Reference> {
    let mut refs = Vec::new();
    for (container, _) in pod::containers(pod) {
        let scoped =
            |name: &str, key: Option<&str>, optional: Option<bool>, usage: String| Reference {
                name: name.to_string(),
                key: key.map(str::to_string),
                optional: optional.unwrap_or(false),
                container: Some(container.name.clone()),
                usage,
            };
        for env in container.env.iter().flatten() {
            let Some(from) = &env.value_from else {
                continue;
            };
            let usage = || format!("env {}", env.name);
            match kind {
                Referenced::Secret => {
                    if let Some(r) = &from.secret_key_ref {
                        refs.push(scoped(&r.name, Some(&r.key), r.optional, usage()));
                    }
                }
                Referenced::ConfigMap => {
                    if let Some(r) = &from.config_map_key_ref {
                        refs.push(scoped(&r.name, Some(&r.key), r.optional, usage()));
                    }
                }
            }
        }
        for source in container.env_from.iter().flatten() {
            match kind {
                Referenced::Secret => {
                    if let Some(r) = &source.secret_ref {
                        refs.push(scoped(&r.name, None, r.optional, "envFrom".into()));
                    }
                }
                Referenced::ConfigMap => {
                    if let Some(r) = &source.config_map_ref {
                        refs.push(scoped(&r.name, None, r.optional, "envFrom".into()));
                    }
                }
            }
        }
    }

    // The kubelet sets up every volume of the pod, mounted or not, so all of them count.
    for volume in pod.volumes.iter().flatten() {
        let usage = format!("volume {}", volume.name);
        match kind {
            Referenced::Secret => {
                if let Some(s) = &volume.secret {
                    let name = s.secret_name.as_deref().unwrap_or_default();
                    push_volume(&mut refs, name, s.items.as_deref(), s.optional, &usage);
                }
            }
            Referenced::ConfigMap => {
                if let Some(c) = &volume.config_map {
                    push_volume(&mut refs, &c.name, c.items.as_deref(), c.optional, &usage);
                }
            }
        }
        let sources = volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten());
        for source in sources {
            let usage = format!("projected volume {}", volume.name);
            match kind {
                Referenced::Secret => {
                    if let Some(s) = &source.secret {
                        push_volume(&mut refs, &s.name, s.items.as_deref(), s.optional, &usage);
                    }
                }
                Referenced::ConfigMap => {
                    if let Some(c) = &source.config_map {
                        push_volume(&mut refs, &c.name, c.items.as_deref(), c.optional, &usage);
                    }
                }
            }
        }
    }

    if kind == Referenced::Secret {
        for r in pod.image_pull_secrets.iter().flatten() {
            refs.push(Reference {
                name: r.name.clone(),
                key: None,
                optional: false,
                container: None,
                usage: "imagePullSecrets".into(),
            });
        }
    }
    refs.retain(|r| !r.name.is_empty());
    refs
}

/// A volume (or projected source) uses the listed keys, or the whole object without `items`.
fn push_volume(
    refs: &mut Vec<Reference>,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    usage: &str,
) {
    let reference = |key: Option<&str>| Reference {
        name: name.to_string(),
        key: key.map(str::to_string),
        optional: optional.unwrap_or(false),
        container: None,
        usage: usage.to_string(),
    };
    match items {
        Some(items) if !items.is_empty() => {
            refs.extend(items.iter().map(|i| reference(Some(&i.key))))
        }
        _ => refs.push(reference(None)),
    }
}

/// The checklist's explicit `required` names and keys, as references.
pub(super) fn required_references(required: &[NamedKeys]) -> Vec<Reference> {
    let mut refs = Vec::new();
    for r in required {
        let reference = |key: Option<&String>| Reference {
            name: r.name.clone(),
            key: key.cloned(),
            optional: false,
            container: None,
            usage: "required by the checklist".into(),
        };
        if r.keys.is_empty() {
            refs.push(reference(None));
        } else {
            refs.extend(r.keys.iter().map(|k| reference(Some(k))));
        }
    }
    refs
}

/// What is wrong with one referenced object.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Problem {
    NotFound,
    MissingKey(String),
}

/// The uses of one object that share a problem and a container: one finding.
struct Group {
    problem: Problem,
    container: Option<String>,
    usages: Vec<String>,
}

/// Groups in order of first appearance.
#[derive(Default)]
struct Grouped {
    groups: Vec<Group>,
}

impl Grouped {
    fn add(&mut self, problem: Problem, r: &Reference) {
        match self
            .groups
            .iter_mut()
            .find(|g| g.problem == problem && g.container == r.container)
        {
            Some(g) if g.usages.contains(&r.usage) => {}
            Some(g) => g.usages.push(r.usage.clone()),
            None => self.groups.push(Group {
                problem,
                container: r.container.clone(),
                usages: vec![r.usage.clone()],
            }),
        }
    }
}

/// `container api env A, env B`, or `volume certs` for pod-level uses.
fn describe_uses(container: Option<&str>, usages: &[String]) -> String {
    match container {
        Some(c) => format!("container {c} {}", usages.join(", ")),
        None => usages.join(", "),
    }
}

/// Every use of the references, grouped by container: `container api env A; volume certs`.
fn describe_all(refs: &[&Reference]) -> String {
    let mut groups: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    for r in refs {
        let container = r.container.as_deref();
        match groups.iter_mut().find(|(c, _)| *c == container) {
            Some((_, usages)) if usages.contains(&r.usage) => {}
            Some((_, usages)) => usages.push(r.usage.clone()),
            None => groups.push((container, vec![r.usage.clone()])),
        }
    }
    groups
        .iter()
        .map(|(c, u)| describe_uses(*c, u))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Judge references to Secrets or ConfigMaps against the snapshot.
///
/// - In a cluster, an absent object or key fails, one finding per object, problem and
///   container (so per-container waivers apply to the container that holds the reference).
/// - Offline, an absent object may be created elsewhere: Unknown with the `--assume-present`
///   hint, unless it is assumed present (then its keys are unknown: pass with a note).
/// - `optional: true` references never fail; when absent they are named in the pass message.
pub(super) fn judge(kind: Referenced, refs: &[Reference], snapshot: &Snapshot) -> Outcome {
    let kind_name = kind.kind();
    if refs.is_empty() {
        return Outcome::Pass(format!("the pod template references no {kind_name}s"));
    }
    if let Some(why) = snapshot.unread(kind_name) {
        return Outcome::Unknown(format!(
            "{kind_name}s are not read ({why}): whether {} exist is not known",
            refs.iter()
                .map(|r| r.name.as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut by_name: BTreeMap<&str, Vec<&Reference>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in refs {
        let entry = by_name.entry(r.name.as_str()).or_default();
        if entry.is_empty() {
            order.push(r.name.as_str());
        }
        entry.push(r);
    }

    let mut findings = Vec::new();
    let mut unknown = Vec::new();
    let mut present = Vec::new();
    let mut notes = Vec::new();
    for name in order {
        let refs = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
        let (optional, needed): (Vec<&Reference>, Vec<&Reference>) =
            refs.iter().partition(|r| r.optional);
        let mut grouped = Grouped::default();
        match kind.keys(snapshot, name) {
            Some(keys) => {
                let mut optional_missing = Vec::new();
                for r in refs {
                    let Some(key) = r.key.as_deref().filter(|k| !keys.contains(k)) else {
                        continue;
                    };
                    if r.optional {
                        optional_missing.push(*r);
                    } else {
                        grouped.add(Problem::MissingKey(key.to_string()), r);
                    }
                }
                if !optional_missing.is_empty() {
                    let missing: BTreeSet<&str> = optional_missing
                        .iter()
                        .filter_map(|r| r.key.as_deref())
                        .collect();
                    notes.push(format!(
                        "optional key(s) {} absent from {kind_name} {name} ({})",
                        missing.into_iter().collect::<Vec<_>>().join(", "),
                        describe_all(&optional_missing)
                    ));
                }
                present.push(name);
            }
            None if snapshot.is_offline() && snapshot.is_assumed_present(kind_name, name) => {
                notes.push(format!(
                    "{kind_name} {name} assumed present (--assume-present), its keys not verified"
                ));
            }
            None => {
                if !optional.is_empty() {
                    notes.push(format!(
                        "optional {kind_name} {name} not found ({})",
                        describe_all(&optional)
                    ));
                }
                if needed.is_empty() {
                    continue;
                }
                if snapshot.is_offline() {
                    unknown.push(format!(
                        "{kind_name} {name}: not in the manifests ({}); if it is created elsewhere, declare it with --assume-present {}/{name}",
                        describe_all(&needed),
                        kind.cli_name()
                    ));
                } else {
                    for r in &needed {
                        grouped.add(Problem::NotFound, r);
                    }
                }
            }
        }
        for Group {
            problem,
            container,
            usages,
        } in grouped.groups
        {
            let what = match &problem {
                Problem::NotFound => "not found".to_string(),
                Problem::MissingKey(key) => format!("missing key {key}"),
            };
            findings.push(Finding {
                message: format!(
                    "{kind_name} {name}: {what} ({})",
                    describe_uses(container.as_deref(), &usages)
                ),
                container,
            });
        }
    }

    let mut pass = Vec::new();
    match present.len() {
        0 => {}
        1 => pass.push(format!(
            "{kind_name} {} present with the keys used",
            present.join(", ")
        )),
        _ => pass.push(format!(
            "{kind_name}s {} present with the keys used",
            present.join(", ")
        )),
    }
    pass.extend(notes);
    Outcome::from_findings(findings, unknown, pass.join("; "))
}

/// `requireAny`: a Fail when no reference is one the pods need (optional references do not
/// count: the pods start without them), so "the Secrets exist" cannot pass on a template that
/// uses none.
pub(super) fn require_any(kind: Referenced, refs: &[Reference]) -> Option<Outcome> {
    if refs.iter().any(|r| !r.optional) {
        return None;
    }
    let kind_name = kind.kind();
    let optional = if refs.is_empty() {
        String::new()
    } else {
        " (only optional ones)".to_string()
    };
    Some(Outcome::fail(format!(
        "requireAny: the pod template references no {kind_name}{optional} and the checklist requires none"
    )))
}

/// Offline, the objects of `kind` declared present outside the manifests (their contents are
/// not known).
pub(super) fn assumed_of_kind<'a>(snapshot: &'a Snapshot, kind: &str) -> Vec<&'a str> {
    if !snapshot.is_offline() {
        return Vec::new();
    }
    snapshot
        .assumed_present
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, n)| n.as_str())
        .collect()
}

/// `labels app=api,tier=web` (or `no labels`), for messages about selectors.
pub(super) fn labels_display(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        "no labels".into()
    } else {
        format!("labels {}", pairs_display(labels))
    }
}

/// `app=api,tier=web`.
pub(super) fn pairs_display(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> PodSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn walks_every_kind_of_reference() {
        let spec = pod(r#"
containers:
  - name: api
    env:
      - {name: A, valueFrom: {secretKeyRef: {name: s1, key: a}}}
      - {name: B, valueFrom: {configMapKeyRef: {name: c1, key: b, optional: true}}}
      - {name: C, value: plain}
    envFrom: [{secretRef: {name: s2}}, {configMapRef: {name: c2}}]
initContainers:
  - name: proxy
    restartPolicy: Always
    env: [{name: T, valueFrom: {secretKeyRef: {name: s3, key: t}}}]
  - name: migrate
    envFrom: [{secretRef: {name: s4, optional: true}}]
volumes:
  - {name: certs, secret: {secretName: s5, items: [{key: tls.crt, path: c}, {key: tls.key, path: k}]}}
  - {name: conf, configMap: {name: c3}}
  - name: bundle
    projected:
      sources:
        - secret: {name: s6, items: [{key: ca, path: ca}]}
        - configMap: {name: c4}
        - serviceAccountToken: {path: token}
  - {name: broken, secret: {}}
imagePullSecrets: [{name: regcred}]
"#);
        // name/key, optional, container, usage
        let summary = |kind| -> Vec<String> {
            template_references(&spec, kind)
                .into_iter()
                .map(|r| {
                    let key = r.key.map(|k| format!("/{k}")).unwrap_or_default();
                    let optional = if r.optional { " optional" } else { "" };
                    let container = r
                        .container
                        .map(|c| format!(" container {c}"))
                        .unwrap_or_default();
                    format!("{}{key}{optional}{container}: {}", r.name, r.usage)
                })
                .collect()
        };
        assert_eq!(
            summary(Referenced::Secret),
            [
                "s1/a container api: env A",
                "s2 container api: envFrom",
                "s3/t container proxy: env T",
                "s4 optional container migrate: envFrom",
                "s5/tls.crt: volume certs",
                "s5/tls.key: volume certs",
                "s6/ca: projected volume bundle",
                "regcred: imagePullSecrets",
            ]
        );
        assert_eq!(
            summary(Referenced::ConfigMap),
            [
                "c1/b optional container api: env B",
                "c2 container api: envFrom",
                "c3: volume conf",
                "c4: projected volume bundle",
            ]
        );
    }

    #[test]
    fn groups_findings_per_container_and_problem() {
        let spec = pod(r#"
containers:
  - name: api
    env:
      - {name: A, valueFrom: {secretKeyRef: {name: gone, key: a}}}
      - {name: B, valueFrom: {secretKeyRef: {name: gone, key: b}}}
  - name: worker
    env:
      - {name: A, valueFrom: {secretKeyRef: {name: gone, key: a}}}
"#);
        let refs = template_references(&spec, Referenced::Secret);
        let snapshot = Snapshot::default();
        let Outcome::Fail(findings) = judge(Referenced::Secret, &refs, &snapshot) else {
            panic!("expected Fail")
        };
        assert_eq!(
            findings,
            vec![
                Finding {
                    container: Some("api".into()),
                    message: "Secret gone: not found (container api env A, env B)".into()
                },
                Finding {
                    container: Some("worker".into()),
                    message: "Secret gone: not found (container worker env A)".into()
                },
            ]
        );
    }

    #[test]
    fn labels_display_is_stable() {
        let labels = BTreeMap::from([
            ("tier".to_string(), "web".to_string()),
            ("app".to_string(), "api".to_string()),
        ]);
        assert_eq!(labels_display(&labels), "labels app=api,tier=web");
        assert_eq!(labels_display(&BTreeMap::new()), "no labels");
    }
}
