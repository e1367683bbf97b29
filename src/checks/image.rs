use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::core::v1::Container;

use super::{Check, Context};
use crate::engine::{Finding, Outcome, pod};

/// Parameters of the `image` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Refuse `:latest` and untagged images (which mean latest).
    #[serde(default = "super::yes")]
    pub disallow_latest: bool,
    /// Require images pinned by digest (`@sha256:...`).
    #[serde(default)]
    pub require_digest: bool,
    /// Allowed registries (`ghcr.io`, `registry.example.com:5000`, or a prefix such as
    /// `ghcr.io/acme/`); empty allows any. Images without a registry are `docker.io`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// Require this imagePullPolicy (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self in [\"Always\", \"IfNotPresent\", \"Never\"]").message("pullPolicy is Always, IfNotPresent or Never"))]
    #[schemars(length(max = 16))]
    pub pull_policy: Option<String>,
}

const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];

impl Check for Image {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        if let Some(policy) = self
            .pull_policy
            .as_deref()
            .filter(|p| !PULL_POLICIES.contains(p))
        {
            // The API server refuses this; offline checklists are not validated.
            return Outcome::Unknown(format!(
                "pullPolicy {policy:?} is not one of Always, IfNotPresent, Never"
            ));
        }
        let mut findings = Vec::new();
        let mut checked = 0;
        // Every container, init containers included: an init container's image runs in the pod too.
        for (container, _) in pod::containers(cx.pod) {
            checked += 1;
            self.judge(container, &mut findings);
        }
        if checked == 0 {
            return Outcome::Unknown("the pod template has no containers to check".into());
        }
        Outcome::from_findings(findings, Vec::new(), self.pass_message(checked))
    }
}

impl Image {
    fn judge(&self, container: &Container, findings: &mut Vec<Finding>) {
        let name = container.name.as_str();
        let Some(text) = container.image.as_deref().filter(|i| !i.is_empty()) else {
            // Deployments may leave it unset for config management to fill in; pods cannot start so.
            findings.push(Finding::in_container(name, "no image (image is unset)"));
            return;
        };
        let image = match ImageRef::parse(text) {
            Ok(image) => image,
            Err(why) => {
                findings.push(Finding::in_container(
                    name,
                    format!("image {text:?} is not a valid image reference ({why})"),
                ));
                return;
            }
        };
        // A digest pins the image whatever the tag says (`app:latest@sha256:...` is pinned).
        if self.disallow_latest && image.digest.is_none() {
            match image.tag {
                Some("latest") => findings.push(Finding::in_container(
                    name,
                    format!("image {text} uses the latest tag"),
                )),
                None => findings.push(Finding::in_container(
                    name,
                    format!("image {text} has no tag (implies latest)"),
                )),
                Some(_) => {}
            }
        }
        if self.require_digest && image.digest.is_none() {
            findings.push(Finding::in_container(
                name,
                format!("image {text} is not pinned by digest (@sha256:...)"),
            ));
        }
        if !self.allowed_registries.is_empty()
            && !self.allowed_registries.iter().any(|a| image.allowed_by(a))
        {
            let implied = if image.registry_implied {
                " (implied: the image names no registry)"
            } else {
                ""
            };
            findings.push(Finding::in_container(
                name,
                format!(
                    "image {text} is from registry {}{implied}, not one of the allowed {}",
                    image.registry,
                    self.allowed_registries.join(", ")
                ),
            ));
        }
        if let Some(wanted) = self.pull_policy.as_deref() {
            let (effective, defaulted) = effective_pull_policy(container, &image);
            if effective != wanted {
                let how = match defaulted {
                    Some(why) => {
                        format!(" (unset; Kubernetes defaults it to {effective} because {why})")
                    }
                    None => String::new(),
                };
                findings.push(Finding::in_container(
                    name,
                    format!("imagePullPolicy is {effective}{how}, not {wanted}"),
                ));
            }
        }
    }

    fn pass_message(&self, checked: usize) -> String {
        let mut parts = Vec::new();
        if self.disallow_latest {
            parts.push("tagged (not latest)".to_string());
        }
        if self.require_digest {
            parts.push("pinned by digest".to_string());
        }
        if !self.allowed_registries.is_empty() {
            parts.push(format!("from {}", self.allowed_registries.join(", ")));
        }
        if let Some(policy) = &self.pull_policy {
            parts.push(format!("imagePullPolicy {policy}"));
        }
        if parts.is_empty() {
            format!("{checked} image(s) are valid references")
        } else {
            format!("{checked} image(s) {}", parts.join(", "))
        }
    }
}

/// The pull policy the kubelet applies and, when it was defaulted, why: Kubernetes defaults an
/// unset imagePullPolicy to Always for `:latest` and untagged images, IfNotPresent otherwise
/// (a digest without a tag counts as tagged).
fn effective_pull_policy<'a>(
    container: &'a Container,
    image: &ImageRef<'_>,
) -> (&'a str, Option<String>) {
    if let Some(policy) = container
        .image_pull_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        return (policy, None);
    }
    match (image.tag, image.digest) {
        (Some("latest"), _) => ("Always", Some("the tag is latest".into())),
        (None, None) => ("Always", Some("the image is untagged".into())),
        (Some(tag), _) => ("IfNotPresent", Some(format!("the image has tag {tag}"))),
        (None, Some(_)) => ("IfNotPresent", Some("the image is pinned by digest".into())),
    }
}

/// An image reference split as the container runtime reads it (the docker reference grammar).
#[derive(Debug, PartialEq)]
struct ImageRef<'a> {
    /// Lowercased registry host (with port); `docker.io` when the reference names none.
    registry: String,
    registry_implied: bool,
    /// Repository path within the registry; `library/` added for official docker.io images.
    path: String,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    fn parse(text: &'a str) -> Result<Self, String> {
        if text.chars().any(char::is_whitespace) {
            return Err("contains whitespace".into());
        }
        let (name_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        if let Some(d) = digest {
            validate_digest(d)?;
        }
        // The tag follows the last ':' after the last '/'; an earlier ':' is a registry port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            validate_tag(t)?;
        }
        // The first component is a registry when it looks like a host: it has a '.' or a
        // port, is `localhost`, or has capitals (which repository paths never have).
        let (registry, path, implied) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_ascii_lowercase(), rest.to_string(), false)
            }
            Some(_) => ("docker.io".to_string(), name.to_string(), true),
            None => ("docker.io".to_string(), format!("library/{name}"), true),
        };
        let registry = if registry == "index.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        let path = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        validate_path(&path)?;
        Ok(ImageRef {
            registry,
            registry_implied: implied,
            path,
            tag,
            digest,
        })
    }

    /// Whether an allowed-registry entry admits this image: a bare host (with port) must be the
    /// registry exactly; an entry with a path is a prefix of `registry/path`, on whole
    /// components unless it ends in '/' (so `ghcr.io/acme` does not admit `ghcr.io/acme-evil`).
    fn allowed_by(&self, entry: &str) -> bool {
        let entry = entry.trim();
        let (host, rest) = match entry.split_once('/') {
            Some((h, r)) => (h, Some(r)),
            None => (entry, None),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "index.docker.io" {
            "docker.io".to_string()
        } else {
            host
        };
        if host != self.registry {
            return false;
        }
        match rest {
            None | Some("") => true,
            Some(prefix) if prefix.ends_with('/') => format!("{}/", self.path).starts_with(prefix),
            Some(prefix) => self.path == prefix || self.path.starts_with(&format!("{prefix}/")),
        }
    }
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!("tag {tag:?} is not valid"))
    }
}

fn validate_digest(digest: &str) -> Result<(), String> {
    let bad = || Err(format!("digest {digest:?} is not algorithm:hex"));
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return bad();
    };
    let hex_ok = hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let len_ok = match algorithm {
        "sha256" => hex.len() == 64,
        "sha512" => hex.len() == 128,
        a => {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && hex.len() >= 32
        }
    };
    if hex_ok && len_ok { Ok(()) } else { bad() }
}

fn validate_path(path: &str) -> Result<(), String> {
    let ok = path.split('/').all(|component| {
        !component.is_empty()
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "repository {path:?} is not lowercase letters, digits and separators"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> (String, String, Option<&str>, Option<&str>) {
        let r = ImageRef::parse(text).unwrap();
        (r.registry, r.path, r.tag, r.digest)
    }

    #[test]
    fn references_split_like_the_runtime_does() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            parse("nginx"),
            (s("docker.io"), s("library/nginx"), None, None)
        );
        assert_eq!(
            parse("library/nginx"),
            (s("docker.io"), s("library/nginx"), None, None)
        );
        assert_eq!(
            parse("nginx:latest"),
            (s("docker.io"), s("library/nginx"), Some("latest"), None)
        );
        assert_eq!(
            parse("nginx:1.27"),
            (s("docker.io"), s("library/nginx"), Some("1.27"), None)
        );
        let pinned = format!("nginx@{DIGEST}");
        assert_eq!(
            parse(&pinned),
            (s("docker.io"), s("library/nginx"), None, Some(DIGEST))
        );
        let both = format!("nginx:1.27@{DIGEST}");
        assert_eq!(
            parse(&both),
            (
                s("docker.io"),
                s("library/nginx"),
                Some("1.27"),
                Some(DIGEST)
            )
        );
        assert_eq!(
            parse("host:5000/app"),
            (s("host:5000"), s("app"), None, None)
        );
        assert_eq!(
            parse("host:5000/app:1.2"),
            (s("host:5000"), s("app"), Some("1.2"), None)
        );
        assert_eq!(
            parse("localhost/app"),
            (s("localhost"), s("app"), None, None)
        );
        assert_eq!(
            parse("index.docker.io/bitnami/redis:7"),
            (s("docker.io"), s("bitnami/redis"), Some("7"), None)
        );
        assert_eq!(
            parse("docker.io/nginx"),
            (s("docker.io"), s("library/nginx"), None, None)
        );
        assert_eq!(
            parse("ghcr.io/acme/team/api:v1"),
            (s("ghcr.io"), s("acme/team/api"), Some("v1"), None)
        );
        for bad in [
            "",
            "nginx:",
            "Nginx",
            "nginx@sha256:abc",
            "ghcr.io/acme//api",
            "nginx :1",
            "nginx:-x",
            "a@b@c",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn allowed_registries_by_host_or_prefix() {
        let allowed = |image: &str, entry: &str| ImageRef::parse(image).unwrap().allowed_by(entry);
        assert!(allowed("nginx", "docker.io"));
        assert!(allowed("library/nginx", "docker.io/library/"));
        assert!(allowed("host:5000/app", "host:5000"));
        assert!(!allowed("host:5000/app", "host"));
        assert!(!allowed("host/app", "host:5000"));
        assert!(allowed("GHCR.io/acme/api", "ghcr.io"));
        assert!(allowed("ghcr.io/acme/api", "ghcr.io/acme"));
        assert!(allowed("ghcr.io/acme/api", "ghcr.io/acme/"));
        assert!(!allowed("ghcr.io/acme-evil/api", "ghcr.io/acme"));
        assert!(!allowed("ghcr.io/acme-evil/api", "ghcr.io/acme/"));
        assert!(!allowed("ghcr.io.evil.com/acme/api", "ghcr.io"));
        assert!(!allowed("nginx", "ghcr.io"));
    }

    fn judge(check: &Image, pod_yaml: &str) -> Outcome {
        crate::checks::testing::judge_pod(check, pod_yaml, &[])
    }

    fn messages(outcome: Outcome) -> Vec<String> {
        match outcome {
            Outcome::Fail(f) => f.into_iter().map(|f| f.message).collect(),
            other => panic!("expected Fail, got {other:?}"),
        }
    }

    #[test]
    fn latest_untagged_and_digests() {
        let check: Image = serde_yaml_ng::from_str("{}").unwrap();
        let pod = format!(
            "containers: [{{name: a, image: nginx}}, {{name: b, image: 'nginx:latest'}}, {{name: c, image: 'nginx:latest@{DIGEST}'}}, {{name: d, image: 'host:5000/app'}}, {{name: e}}]"
        );
        assert_eq!(
            messages(judge(&check, &pod)),
            [
                "container a: image nginx has no tag (implies latest)",
                "container b: image nginx:latest uses the latest tag",
                "container d: image host:5000/app has no tag (implies latest)",
                "container e: no image (image is unset)",
            ]
        );
    }

    #[test]
    fn pull_policy_is_judged_after_defaulting() {
        let check: Image =
            serde_yaml_ng::from_str("{disallowLatest: false, pullPolicy: IfNotPresent}").unwrap();
        let pod = format!(
            "containers: [{{name: a, image: nginx}}, {{name: b, image: 'nginx:1.27'}}, {{name: c, image: 'nginx@{DIGEST}'}}, {{name: d, image: 'nginx:1.27', imagePullPolicy: Never}}]"
        );
        assert_eq!(
            messages(judge(&check, &pod)),
            [
                "container a: imagePullPolicy is Always (unset; Kubernetes defaults it to Always because the image is untagged), not IfNotPresent",
                "container d: imagePullPolicy is Never, not IfNotPresent",
            ]
        );
        let bad: Image = serde_yaml_ng::from_str("{pullPolicy: Sometimes}").unwrap();
        assert!(matches!(
            judge(&bad, "containers: [{name: a, image: 'nginx:1'}]"),
            Outcome::Unknown(_)
        ));
    }
}
