//! The webhook's own serving certificate: made, stored, served, renewed.
//!
//! One Secret (`kubernetes.io/tls`, in the operator's namespace) holds a CA (`ca.crt`) and the
//! serving certificate it signed (`tls.crt`, `tls.key`), so every replica serves the same one.
//! Each replica, every few seconds: creates the Secret if absent (a conflict means another
//! replica did), renews it once a third of the certificate's lifetime is left (replace with the
//! read resourceVersion: one replica wins, the others read its result), loads it into the TLS
//! server when it changed, and patches the MutatingWebhookConfiguration's `caBundle` to the
//! Secret's `ca.crt` when they differ.
//!
//! Each renewal makes a new CA; `ca.crt` keeps the previous CA after the new one, so the API
//! server trusts both the old and the new serving certificate while replicas reload.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

use super::super::enforce::FIELD_MANAGER;

/// Where the certificate lives and what it names.
#[derive(Clone, Debug)]
pub struct CertificateConfig {
    /// The operator's namespace, where the Secret is.
    pub namespace: String,
    pub secret_name: String,
    /// The MutatingWebhookConfiguration whose `caBundle` is kept current.
    pub configuration_name: String,
    /// DNS names and IP addresses the serving certificate is valid for.
    pub hosts: Vec<String>,
    pub lifetime: Duration,
}

const CA_CRT: &str = "ca.crt";
const TLS_CRT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";

/// The certificate the TLS server presents; swapped when the Secret changes.
#[derive(Debug, Default)]
pub struct Resolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

impl Resolver {
    fn set(&self, key: Arc<CertifiedKey>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(key);
        }
    }
}

/// rustls with ring (as kube), HTTP/1.1, the certificate from `resolver`.
pub fn server_config(resolver: Arc<Resolver>) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The PEM contents of the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bundle {
    ca: String,
    certificate: String,
    key: String,
}

impl Bundle {
    fn from_secret(secret: &Secret) -> Option<Bundle> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| {
            data.get(key)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        Some(Bundle {
            ca: text(CA_CRT)?,
            certificate: text(TLS_CRT)?,
            key: text(TLS_KEY)?,
        })
    }

    fn secret(&self, config: &CertificateConfig) -> Secret {
        let data = [
            (CA_CRT, &self.ca),
            (TLS_CRT, &self.certificate),
            (TLS_KEY, &self.key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect::<BTreeMap<_, _>>();
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(config.secret_name.clone()),
                namespace: Some(config.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "gonogo".to_string(),
                )])),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".to_string()),
            data: Some(data),
            ..Default::default()
        }
    }

    /// A new CA and a serving certificate it signs, valid for `lifetime` from now. `previous_ca`
    /// (the first certificate of the old `ca.crt`) stays trusted until it expires.
    fn generate(config: &CertificateConfig, previous_ca: Option<&str>) -> anyhow::Result<Bundle> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let now = time::OffsetDateTime::now_utc();
        // A minute of slack for clocks slightly behind ours.
        let not_before = now - time::Duration::minutes(1);
        let not_after = now + time::Duration::try_from(config.lifetime)?;

        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("gonogo admission webhook CA {}", now.unix_timestamp()),
        );
        (ca.not_before, ca.not_after) = (not_before, not_after);
        let ca_certificate = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(config.hosts.clone())?;
        serving.distinguished_name.push(
            DnType::CommonName,
            config.hosts.first().cloned().unwrap_or_default(),
        );
        serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (serving.not_before, serving.not_after) = (not_before, not_after);
        let certificate = serving.signed_by(&key, &issuer)?;

        let mut bundle_ca = ca_certificate.pem();
        if let Some(previous) = previous_ca.filter(|p| not_after_of(p).is_some_and(|t| t > now)) {
            bundle_ca.push_str(previous);
        }
        Ok(Bundle {
            ca: bundle_ca,
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Whether a third or less of the serving certificate's lifetime is left (or it is not
    /// readable, or names other hosts).
    fn due(&self, config: &CertificateConfig) -> bool {
        let Some(not_after) = not_after_of(&self.certificate) else {
            return true;
        };
        let left = not_after - time::OffsetDateTime::now_utc();
        left < time::Duration::try_from(config.lifetime / 3).unwrap_or(time::Duration::ZERO)
            || !names_all(&self.certificate, &config.hosts)
    }

    fn certified_key(&self) -> anyhow::Result<Arc<CertifiedKey>> {
        let chain = CertificateDer::pem_slice_iter(self.certificate.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())?;
        let key = rustls::crypto::ring::sign::any_supported_type(&key)?;
        Ok(Arc::new(CertifiedKey::new(chain, key)))
    }

    fn first_ca(&self) -> Option<String> {
        let end = "-----END CERTIFICATE-----";
        self.ca
            .find(end)
            .map(|i| format!("{}\n", &self.ca[..i + end.len()]))
    }
}

fn parsed<T>(
    pem: &str,
    read: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> Option<T> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(read(&certificate))
}

fn not_after_of(pem: &str) -> Option<time::OffsetDateTime> {
    parsed(pem, |c| c.validity().not_after.to_datetime())
}

fn names_all(pem: &str, hosts: &[String]) -> bool {
    parsed(pem, |c| {
        let names: Vec<String> = c
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
                        x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                            4 => std::net::Ipv4Addr::from(
                                <[u8; 4]>::try_from(*ip).unwrap_or_default(),
                            )
                            .to_string(),
                            16 => std::net::Ipv6Addr::from(
                                <[u8; 16]>::try_from(*ip).unwrap_or_default(),
                            )
                            .to_string(),
                            _ => String::new(),
                        },
                        _ => String::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        hosts.iter().all(|h| names.contains(h))
    })
    .unwrap_or(false)
}

/// Keeps the Secret, the served certificate and the `caBundle` current, for ever.
pub async fn keep_current(client: Client, config: CertificateConfig, resolver: Arc<Resolver>) {
    let secrets = Api::<Secret>::namespaced(client.clone(), &config.namespace);
    let configurations = Api::<MutatingWebhookConfiguration>::all(client);
    // Often enough to pick up another replica's renewal quickly, and to renew short test
    // lifetimes in time.
    let period = (config.lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
    let mut served: Option<Bundle> = None;
    loop {
        match sync(&secrets, &configurations, &config).await {
            Ok(bundle) => {
                if served.as_ref() != Some(&bundle) {
                    match bundle.certified_key() {
                        Ok(key) => {
                            resolver.set(key);
                            info!(secret = %config.secret_name, expires = ?not_after_of(&bundle.certificate), "admission webhook: serving the certificate of the Secret");
                            served = Some(bundle);
                        }
                        Err(e) => warn!(
                            namespace = %config.namespace, secret = %config.secret_name, error = %e,
                            "admission webhook: the Secret's tls.crt/tls.key cannot be served; it is replaced at the next renewal (delete the Secret to force one)"
                        ),
                    }
                }
            }
            Err(e) => warn!(
                namespace = %config.namespace, secret = %config.secret_name,
                configuration = %config.configuration_name, error = %e,
                "admission webhook: cannot keep the serving certificate current; retrying"
            ),
        }
        tokio::time::sleep(period).await;
    }
}

/// One pass: the Secret (created or renewed as needed) and the `caBundle` that trusts it.
async fn sync(
    secrets: &Api<Secret>,
    configurations: &Api<MutatingWebhookConfiguration>,
    config: &CertificateConfig,
) -> anyhow::Result<Bundle> {
    let bundle = match secrets.get_opt(&config.secret_name).await? {
        None => {
            let bundle = Bundle::generate(config, None)?;
            match secrets
                .create(&PostParams::default(), &bundle.secret(config))
                .await
            {
                Ok(_) => {
                    info!(secret = %config.secret_name, "admission webhook: created the certificate Secret");
                    bundle
                }
                // Another replica created it first: serve theirs.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    read(secrets, &config.secret_name).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(secret) => match Bundle::from_secret(&secret) {
            Some(bundle) if !bundle.due(config) => bundle,
            current => {
                let renewed = Bundle::generate(
                    config,
                    current.as_ref().and_then(Bundle::first_ca).as_deref(),
                )?;
                // Trust the new CA before anyone serves its certificate.
                ensure_ca_bundle(configurations, config, &renewed.ca).await?;
                let mut replacement = renewed.secret(config);
                replacement.metadata.resource_version = secret.metadata.resource_version.clone();
                match secrets
                    .replace(&config.secret_name, &PostParams::default(), &replacement)
                    .await
                {
                    Ok(_) => {
                        info!(secret = %config.secret_name, "admission webhook: renewed the serving certificate");
                        renewed
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        read(secrets, &config.secret_name).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        },
    };
    ensure_ca_bundle(configurations, config, &bundle.ca).await?;
    Ok(bundle)
}

async fn read(secrets: &Api<Secret>, name: &str) -> anyhow::Result<Bundle> {
    let secret = secrets.get(name).await?;
    Bundle::from_secret(&secret).ok_or_else(|| {
        anyhow::anyhow!("Secret {name} has no {CA_CRT}, {TLS_CRT} and {TLS_KEY} in its data")
    })
}

/// Sets every webhook's `clientConfig.caBundle` of the configuration to `ca` where it differs.
/// A configuration that does not exist (yet) is waited for, not an error.
async fn ensure_ca_bundle(
    configurations: &Api<MutatingWebhookConfiguration>,
    config: &CertificateConfig,
    ca: &str,
) -> anyhow::Result<()> {
    let Some(current) = configurations.get_opt(&config.configuration_name).await? else {
        warn!(configuration = %config.configuration_name, "admission webhook: MutatingWebhookConfiguration not found; its caBundle is set once it exists");
        return Ok(());
    };
    let mut operations = Vec::new();
    for (i, webhook) in current.webhooks.iter().flatten().enumerate() {
        if webhook
            .client_config
            .ca_bundle
            .as_ref()
            .map(|b| b.0.as_slice())
            != Some(ca.as_bytes())
        {
            // The `test` makes the patch fail rather than touch another webhook if the list
            // changed since it was read.
            operations.push(serde_json::json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook.name}));
            operations.push(serde_json::json!({
                "op": "add",
                "path": format!("/webhooks/{i}/clientConfig/caBundle"),
                "value": ByteString(ca.as_bytes().to_vec()),
            }));
        }
    }
    if operations.is_empty() {
        return Ok(());
    }
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(operations))?;
    configurations
        .patch(
            &config.configuration_name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            },
            &Patch::<()>::Json(patch),
        )
        .await?;
    info!(configuration = %config.configuration_name, "admission webhook: caBundle updated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lifetime: Duration) -> CertificateConfig {
        CertificateConfig {
            namespace: "gonogo-system".into(),
            secret_name: "gonogo-webhook-tls".into(),
            configuration_name: "gonogo-hold-rollouts".into(),
            hosts: vec!["gonogo.gonogo-system.svc".into(), "127.0.0.1".into()],
            lifetime,
        }
    }

    #[test]
    fn a_new_certificate_is_servable_names_its_hosts_and_is_not_due() {
        let config = config(Duration::from_secs(3600));
        let bundle = Bundle::generate(&config, None).unwrap();
        assert!(bundle.certified_key().is_ok());
        assert!(names_all(&bundle.certificate, &config.hosts));
        assert!(!bundle.due(&config));
        assert!(Bundle::from_secret(&bundle.secret(&config)) == Some(bundle));
    }

    #[test]
    fn a_renewal_keeps_trusting_the_previous_ca_and_other_hosts_are_due() {
        let config = config(Duration::from_secs(3600));
        let old = Bundle::generate(&config, None).unwrap();
        let new = Bundle::generate(&config, old.first_ca().as_deref()).unwrap();
        assert!(new.ca.ends_with(&old.ca));
        assert_eq!(new.ca.matches("BEGIN CERTIFICATE").count(), 2);
        let moved = CertificateConfig {
            hosts: vec!["gonogo.elsewhere.svc".into()],
            ..config
        };
        assert!(new.due(&moved));
    }

    #[test]
    fn a_certificate_with_a_third_of_its_life_left_is_due() {
        let short = config(Duration::from_secs(2));
        let bundle = Bundle::generate(&short, None).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(bundle.due(&short));
    }
}
