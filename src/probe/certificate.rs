//! Facts of TLS certificates, read from Secrets as they are watched.
//!
//! The Secret watch sees each Secret's values once, before they are stripped for the store:
//! that is when `tls.crt` is parsed into [`CertificateFacts`] (dates and names). The private
//! key is never read, and no certificate bytes are kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::engine::CertificateFacts;

/// The key of a TLS Secret that holds the certificate chain (leaf first).
pub const CERT_KEY: &str = "tls.crt";

/// Parse the first certificate of a PEM chain (the leaf) into facts; a chain that does not
/// parse gives facts with `error` set, so the gate can say why.
pub fn certificate_facts(pem: &[u8]) -> CertificateFacts {
    match parse_leaf(pem) {
        Ok(facts) => facts,
        Err(error) => CertificateFacts {
            not_before: None,
            not_after: Timestamp::UNIX_EPOCH,
            dns_names: Vec::new(),
            subject: String::new(),
            error: Some(error),
        },
    }
}

fn parse_leaf(pem: &[u8]) -> Result<CertificateFacts, String> {
    let mut blocks = Pem::iter_from_buffer(pem);
    let block = loop {
        match blocks.next() {
            None => return Err("no PEM CERTIFICATE block".into()),
            Some(Err(e)) => return Err(format!("not PEM: {e}")),
            Some(Ok(block)) if block.label == "CERTIFICATE" => break block,
            // Some tools put other blocks (parameters, a key by mistake) first: skip them unread.
            Some(Ok(_)) => continue,
        }
    };
    let certificate = block
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let validity = certificate.validity();
    let time = |seconds: i64| {
        Timestamp::from_second(seconds).map_err(|e| format!("date out of range: {e}"))
    };
    let mut dns_names: Vec<String> = match certificate.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some(name.to_string()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("subjectAltName does not parse: {e}")),
    };
    dns_names.dedup();
    Ok(CertificateFacts {
        not_before: Some(time(validity.not_before.timestamp())?),
        not_after: time(validity.not_after.timestamp())?,
        dns_names,
        subject: certificate.subject().to_string(),
        error: None,
    })
}

/// The facts of a Secret's certificate, when it has a `tls.crt` key.
pub fn secret_facts(secret: &Secret) -> Option<CertificateFacts> {
    let value = secret.data.as_ref().and_then(|d| d.get(CERT_KEY))?;
    Some(certificate_facts(&value.0))
}

type Key = (String, String);

/// Certificate facts of every watched Secret with a `tls.crt`, by namespace and name. Fed by
/// the Secret watch (creates, updates, deletes and relists); read when building snapshots.
#[derive(Clone, Default)]
pub struct CertificateCache {
    facts: Arc<RwLock<HashMap<Key, CertificateFacts>>>,
    /// Facts gathered during a relist, swapped in when it completes (deleted Secrets drop out).
    relist: Arc<Mutex<Option<HashMap<Key, CertificateFacts>>>>,
}

fn key(secret: &Secret) -> Option<Key> {
    Some((
        secret.metadata.namespace.clone()?,
        secret.metadata.name.clone()?,
    ))
}

impl CertificateCache {
    /// Apply one watch event. Call it before the Secret's values are stripped.
    pub fn observe(&self, event: &watcher::Event<Secret>) {
        match event {
            watcher::Event::Init => {
                if let Ok(mut relist) = self.relist.lock() {
                    *relist = Some(HashMap::new());
                }
            }
            watcher::Event::InitApply(secret) => {
                if let (Some(key), Some(facts)) = (key(secret), secret_facts(secret))
                    && let Ok(mut relist) = self.relist.lock()
                {
                    relist.get_or_insert_with(HashMap::new).insert(key, facts);
                }
            }
            watcher::Event::InitDone => {
                let fresh = self.relist.lock().ok().and_then(|mut r| r.take());
                if let (Some(fresh), Ok(mut facts)) = (fresh, self.facts.write()) {
                    *facts = fresh;
                }
            }
            watcher::Event::Apply(secret) => {
                let Some(key) = key(secret) else { return };
                if let Ok(mut facts) = self.facts.write() {
                    match secret_facts(secret) {
                        Some(new) => facts.insert(key, new),
                        None => facts.remove(&key),
                    };
                }
            }
            watcher::Event::Delete(secret) => {
                if let (Some(key), Ok(mut facts)) = (key(secret), self.facts.write()) {
                    facts.remove(&key);
                }
            }
        }
    }

    /// The facts of one namespace's Secrets, by Secret name (what `Observations` holds).
    pub fn in_namespace(&self, namespace: &str) -> BTreeMap<String, CertificateFacts> {
        let Ok(facts) = self.facts.read() else {
            return BTreeMap::new();
        };
        facts
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|((_, name), f)| (name.clone(), f.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use rcgen::{CertificateParams, DnType, KeyPair, date_time_ymd};

    fn generated(names: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = date_time_ymd(2026, 1, 1);
        params.not_after = date_time_ymd(2026, 7, 1);
        params
            .distinguished_name
            .push(DnType::CommonName, "api.example.com");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn secret(namespace: &str, name: &str, cert: &[u8], key: &[u8]) -> Secret {
        let mut s = Secret::default();
        s.metadata.namespace = Some(namespace.into());
        s.metadata.name = Some(name.into());
        s.type_ = Some("kubernetes.io/tls".into());
        s.data = Some(
            [
                ("tls.crt".to_string(), ByteString(cert.to_vec())),
                ("tls.key".to_string(), ByteString(key.to_vec())),
            ]
            .into(),
        );
        s
    }

    #[test]
    fn a_generated_certificate_gives_its_dates_and_names() {
        let (cert, _) = generated(&["api.example.com", "*.api.example.com"]);
        let facts = certificate_facts(cert.as_bytes());
        assert_eq!(facts.error, None);
        assert_eq!(
            facts.not_before,
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            facts.not_after,
            "2026-07-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(facts.dns_names, ["api.example.com", "*.api.example.com"]);
        assert_eq!(facts.subject, "CN=api.example.com");
    }

    #[test]
    fn the_leaf_is_the_first_certificate_of_a_chain() {
        let (leaf, _) = generated(&["leaf.example.com"]);
        let (ca, _) = generated(&["ca.example.com"]);
        let facts = certificate_facts(format!("{leaf}{ca}").as_bytes());
        assert_eq!(facts.dns_names, ["leaf.example.com"]);
    }

    #[test]
    fn garbage_gives_error_facts_not_a_panic() {
        for (input, expected) in [
            (&b"not a certificate"[..], "no PEM CERTIFICATE block"),
            (b"", "no PEM CERTIFICATE block"),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "not an X.509 certificate",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "not PEM",
            ),
        ] {
            let facts = certificate_facts(input);
            let error = facts.error.unwrap_or_default();
            assert!(
                error.starts_with(expected),
                "{:?}: {error}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn the_cache_follows_the_watch_and_never_keeps_the_key() {
        let (cert, key) = generated(&["api.example.com"]);
        let cache = CertificateCache::default();
        let tls = secret("shop", "api-tls", cert.as_bytes(), key.as_bytes());
        cache.observe(&watcher::Event::Apply(tls.clone()));
        let facts = cache.in_namespace("shop");
        assert_eq!(facts["api-tls"].dns_names, ["api.example.com"]);
        assert!(cache.in_namespace("other").is_empty());
        let kept = format!("{:?}", cache.facts.read().unwrap());
        assert!(
            !kept.contains("PRIVATE KEY") && !kept.contains("BEGIN"),
            "{kept}"
        );

        // An update replaces the facts; a Secret that loses tls.crt drops out.
        let broken = secret("shop", "api-tls", b"garbage", b"");
        cache.observe(&watcher::Event::Apply(broken));
        assert!(cache.in_namespace("shop")["api-tls"].error.is_some());
        let mut plain = tls.clone();
        plain.data = Some([("password".to_string(), ByteString(b"x".to_vec()))].into());
        cache.observe(&watcher::Event::Apply(plain));
        assert!(cache.in_namespace("shop").is_empty());

        cache.observe(&watcher::Event::Apply(tls.clone()));
        cache.observe(&watcher::Event::Delete(tls.clone()));
        assert!(cache.in_namespace("shop").is_empty());

        // A relist replaces everything: Secrets deleted while the watch was down are forgotten.
        cache.observe(&watcher::Event::Apply(secret(
            "shop",
            "gone",
            cert.as_bytes(),
            b"",
        )));
        cache.observe(&watcher::Event::Init);
        cache.observe(&watcher::Event::InitApply(tls));
        assert!(
            cache.in_namespace("shop").contains_key("gone"),
            "the old view stands until the relist is done"
        );
        cache.observe(&watcher::Event::InitDone);
        assert_eq!(
            cache.in_namespace("shop").keys().collect::<Vec<_>>(),
            ["api-tls"]
        );
    }
}
