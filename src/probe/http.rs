//! The `http` probe: resolve a Service port to one ready endpoint, then GET (or HEAD) a path.
//!
//! Only the status code and whether the body contained the expected text leave this module:
//! the body is read into a bounded buffer, searched, wiped and dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use reqwest::{Client, Method, Url};

use super::ssrf::Guard;
use crate::checks::http::JsonCondition;
use crate::engine::ProbeOutcome;

/// The most of a body searched for `bodyContains` or parsed for `bodyJson`; the rest is never
/// read (a JSON body longer than this does not match).
pub const MAX_BODY: usize = 64 * 1024;

/// The HTTP client for probes: no redirects (a redirect could lead anywhere), no proxies from
/// the environment, no connection reuse between probes. Certificates are not verified, like
/// kubelet's HTTPS probes: the probe connects to a pod address, which no certificate names.
pub fn client() -> reqwest::Result<Client> {
    Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .user_agent(concat!(
            "gonogo/",
            env!("CARGO_PKG_VERSION"),
            " (readiness probe)"
        ))
        .build()
}

/// One request of an `http` gate, to an address already resolved.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub scheme: &'a str,
    pub address: SocketAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub body_contains: Option<&'a str>,
    pub body_json: &'a [JsonCondition],
    pub timeout: Duration,
}

/// Send one request and say what came back. The guard is asked again right before connecting.
pub async fn probe_once(client: &Client, guard: &Guard, request: &Request<'_>) -> ProbeOutcome {
    if let Err(reason) = guard.check(request.address.ip()) {
        return ProbeOutcome::Refused(reason);
    }
    match tokio::time::timeout(request.timeout, exchange(client, request)).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::Error(format!("timed out after {}", seconds(request.timeout))),
    }
}

async fn exchange(client: &Client, request: &Request<'_>) -> ProbeOutcome {
    let method = match request.method {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        other => return ProbeOutcome::Error(format!("method {other:?} is not GET or HEAD")),
    };
    let wants_json = !request.body_json.is_empty();
    if method == Method::HEAD && (request.body_contains.is_some() || wants_json) {
        return ProbeOutcome::Error(
            "bodyContains and bodyJson need method GET (a HEAD answer has no body)".into(),
        );
    }
    let url = match url(request) {
        Ok(url) => url,
        Err(reason) => return ProbeOutcome::Error(reason),
    };
    let mut response = match client
        .request(method, url)
        .timeout(request.timeout)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return ProbeOutcome::Error(describe(&e, request)),
    };
    let status = response.status().as_u16();
    if request.body_contains.is_none() && !wants_json {
        return ProbeOutcome::Http {
            status,
            body_matched: None,
        };
    }
    let needle = request.body_contains.unwrap_or_default().as_bytes();
    let mut body: Vec<u8> = Vec::new();
    let mut found = needle.is_empty();
    let mut complete = false;
    // A substring can be found early; a JSON document has to be read to its end.
    while (!found || wants_json) && body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                // Search only what is new, plus an overlap for a match across chunks.
                let from = body.len().saturating_sub(needle.len().saturating_sub(1));
                let take = chunk.len().min(MAX_BODY - body.len());
                body.extend_from_slice(&chunk[..take]);
                found = found || body[from..].windows(needle.len()).any(|w| w == needle);
            }
            Ok(None) => {
                complete = true;
                break;
            }
            Err(e) => {
                body.fill(0);
                return ProbeOutcome::Error(describe(&e, request));
            }
        }
    }
    if wants_json && found {
        // The parsed document is dropped with the body; only the verdict leaves.
        found = complete
            && serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|doc| request.body_json.iter().all(|c| c.holds(&doc)));
    }
    body.fill(0);
    ProbeOutcome::Http {
        status,
        body_matched: Some(found),
    }
}

/// `scheme://address/path`, refusing anything that would not go to exactly that address.
fn url(request: &Request<'_>) -> Result<Url, String> {
    let scheme = match request.scheme {
        "http" | "https" => request.scheme,
        other => return Err(format!("scheme {other:?} is not http or https")),
    };
    let path = if request.path.starts_with('/') {
        request.path.to_string()
    } else {
        format!("/{}", request.path)
    };
    let text = format!("{scheme}://{}{path}", request.address);
    let url = Url::parse(&text)
        .map_err(|e| format!("path {:?} does not make a URL: {e}", request.path))?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host_ok = host
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip == request.address.ip());
    if !host_ok || url.port_or_known_default() != Some(request.address.port()) {
        return Err(format!(
            "path {:?} changes the address of the request",
            request.path
        ));
    }
    Ok(url)
}

/// A short reason for a failed request: never a body, never a long error chain.
fn describe(error: &reqwest::Error, request: &Request<'_>) -> String {
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    let cause = shorten(&root.to_string(), 160);
    if error.is_timeout() {
        format!("timed out after {}", seconds(request.timeout))
    } else if error.is_connect() {
        format!("cannot connect to {}: {cause}", request.address)
    } else if error.is_body() || error.is_decode() {
        format!(
            "reading the answer from {} failed: {cause}",
            request.address
        )
    } else {
        format!("request to {} failed: {cause}", request.address)
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The ready endpoints of a Service port that the prober may reach, sorted, or the outcome
/// that says why there is none. `namespace` is the DeploymentReadiness's own: the Service is
/// always looked up there. An endpoint is probed only when the guard lets its address through
/// and it is a current IP of a Pod of `pods` (the namespace's) that the Service selects, or
/// the admin allowed its range with `--http-allow-cidr`: an EndpointSlice can be written by
/// hand, and its `targetRef` says whatever its writer wants.
pub fn resolve(
    namespace: &str,
    name: &str,
    service: Option<&Service>,
    slices: &[Arc<EndpointSlice>],
    pods: &[Arc<Pod>],
    port: &IntOrString,
    guard: &Guard,
) -> Result<Vec<SocketAddr>, ProbeOutcome> {
    let shown = match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    let Some(service) = service else {
        return Err(ProbeOutcome::Error(format!(
            "Service {name} not found in namespace {namespace}"
        )));
    };
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        return Err(ProbeOutcome::Refused(format!(
            "Service {name} is an ExternalName Service ({}): only endpoints inside the cluster are probed",
            spec.external_name.as_deref().unwrap_or("no name")
        )));
    }
    let Some(service_port) = spec.ports.iter().flatten().find(|p| match port {
        IntOrString::Int(n) => p.port == *n,
        IntOrString::String(s) => p.name.as_deref() == Some(s.as_str()),
    }) else {
        return Err(ProbeOutcome::Error(format!(
            "Service {name} has no port {shown}"
        )));
    };
    if let Some(protocol) = service_port.protocol.as_deref().filter(|p| *p != "TCP") {
        return Err(ProbeOutcome::Error(format!(
            "Service {name} port {shown} is {protocol}; http needs TCP"
        )));
    }

    let mut allowed = Vec::new();
    let mut refusal = None;
    let mut ready = 0;
    let own = slices.iter().filter(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .map(String::as_str)
                == Some(name)
    });
    for slice in own {
        // FQDN endpoints would need a DNS lookup the guard cannot vet.
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            continue;
        }
        let Some(number) = slice_port(service_port, slice.ports.as_deref().unwrap_or_default())
        else {
            continue;
        };
        let Ok(number) = u16::try_from(number) else {
            continue;
        };
        for endpoint in &slice.endpoints {
            // A nil `ready` means ready (EndpointConditions).
            if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for address in &endpoint.addresses {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    continue;
                };
                ready += 1;
                let verdict = guard.check(ip).and_then(|()| {
                    if guard.allowed_by_flag(ip) {
                        Ok(())
                    } else {
                        selected_pod(
                            &spec,
                            pods,
                            endpoint.target_ref.as_ref(),
                            namespace,
                            ip,
                            name,
                        )
                    }
                });
                match verdict {
                    Ok(()) => allowed.push(SocketAddr::new(ip, number)),
                    Err(reason) => {
                        refusal.get_or_insert(reason);
                    }
                }
            }
        }
    }
    allowed.sort();
    allowed.dedup();
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    match refusal {
        Some(reason) => Err(ProbeOutcome::Refused(reason)),
        None if ready == 0 => Err(ProbeOutcome::Error(format!(
            "Service {name} has no ready endpoints for port {shown}"
        ))),
        None => Err(ProbeOutcome::Error(format!(
            "Service {name}: no usable endpoint address for port {shown}"
        ))),
    }
}

/// The endpoint port for a Service port: slices name their ports after the Service's ports;
/// a hand-written slice may instead carry the numeric targetPort.
fn slice_port(service_port: &ServicePort, ports: &[EndpointPort]) -> Option<i32> {
    let wanted = service_port.name.as_deref().unwrap_or_default();
    if let Some(p) = ports
        .iter()
        .find(|p| p.name.as_deref().unwrap_or_default() == wanted)
    {
        return p.port;
    }
    let target = match &service_port.target_port {
        Some(IntOrString::Int(n)) => *n,
        None => service_port.port,
        Some(IntOrString::String(_)) => return None,
    };
    ports
        .iter()
        .find(|p| p.port == Some(target))
        .and_then(|p| p.port)
}

/// An endpoint counts as the namespace's own only when its address is a current IP of a Pod
/// of the namespace that the Service selects (`pods` holds the namespace's Pods). A Pod on the
/// host's network does not count: its address is the node's.
fn selected_pod(
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
    pods: &[Arc<Pod>],
    target: Option<&ObjectReference>,
    namespace: &str,
    ip: IpAddr,
    service: &str,
) -> Result<(), String> {
    let ip = super::ssrf::canonical(ip);
    let holders: Vec<&Pod> = pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && holds_ip(p, ip))
        .collect();
    let claim = match target {
        Some(t) => format!(
            "; its targetRef claims {} {}/{}",
            t.kind.as_deref().unwrap_or("an object"),
            t.namespace.as_deref().unwrap_or(""),
            t.name.as_deref().unwrap_or("")
        ),
        None => String::new(),
    };
    if holders.is_empty() {
        return Err(format!(
            "endpoint {ip} of Service {service} is not the IP of any Pod of namespace {namespace} (a hand-written EndpointSlice{claim}; allow its address with --http-allow-cidr)"
        ));
    }
    let selector = spec.selector.as_ref().filter(|s| !s.is_empty());
    let pod_name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
    let Some(selector) = selector else {
        return Err(format!(
            "endpoint {ip} of Service {service} is Pod {}, but the Service has no selector, so it selects no Pod (allow its address with --http-allow-cidr)",
            pod_name(holders[0])
        ));
    };
    let selected = |p: &&&Pod| {
        let labels = p.metadata.labels.as_ref();
        selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    };
    let Some(pod) = holders.iter().find(selected) else {
        return Err(format!(
            "endpoint {ip} of Service {service} is Pod {}, which the Service's selector does not select (allow its address with --http-allow-cidr)",
            pod_name(holders[0])
        ));
    };
    if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
        return Err(format!(
            "endpoint {ip} of Service {service} is Pod {}, which uses the node's network: its address is the node's (allow it with --http-allow-cidr)",
            pod_name(pod)
        ));
    }
    Ok(())
}

/// Whether `ip` is a current address of the Pod: listed in its status, and the Pod not
/// finished (a finished Pod's address goes back to the pool).
fn holds_ip(pod: &Pod, ip: IpAddr) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return false;
    }
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .filter_map(|text| text.parse::<IpAddr>().ok())
        .any(|held| super::ssrf::canonical(held) == ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ssrf::parse_cidr;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-route HTTP server on 127.0.0.1: answers every request with `response` after
    /// `delay`, and counts the requests it saw.
    async fn server(response: String, delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (address, hits)
    }

    fn answer(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn allow_loopback() -> Guard {
        Guard::new(vec![parse_cidr("127.0.0.1/32").unwrap()], [])
    }

    fn request(address: SocketAddr) -> Request<'static> {
        Request {
            scheme: "http",
            address,
            method: "GET",
            path: "/health",
            body_contains: None,
            body_json: &[],
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn status_codes_are_reported() {
        let client = client().unwrap();
        let (ok, _) = server(answer("200 OK", "", "fine"), Duration::ZERO).await;
        assert_eq!(
            probe_once(&client, &allow_loopback(), &request(ok)).await,
            ProbeOutcome::Http {
                status: 200,
                body_matched: None
            }
        );
        let (broken, _) = server(
            answer("500 Internal Server Error", "", "boom"),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            probe_once(&client, &allow_loopback(), &request(broken)).await,
            ProbeOutcome::Http {
                status: 500,
                body_matched: None
            }
        );
        let head = Request {
            method: "HEAD",
            ..request(ok)
        };
        assert_eq!(
            probe_once(&client, &allow_loopback(), &head).await,
            ProbeOutcome::Http {
                status: 200,
                body_matched: None
            }
        );
    }

    #[tokio::test]
    async fn a_slow_answer_times_out() {
        let (slow, _) = server(answer("200 OK", "", "late"), Duration::from_secs(5)).await;
        let started = std::time::Instant::now();
        let outcome = probe_once(
            &client().unwrap(),
            &allow_loopback(),
            &Request {
                timeout: Duration::from_secs(1),
                ..request(slow)
            },
        )
        .await;
        assert_eq!(outcome, ProbeOutcome::Error("timed out after 1s".into()));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error_naming_the_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        match probe_once(&client().unwrap(), &allow_loopback(), &request(address)).await {
            ProbeOutcome::Error(reason) => assert!(
                reason.starts_with(&format!("cannot connect to {address}")),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_body_is_searched_but_never_kept() {
        let secret = "sk-live-4f9a8b7c6d5e4f3a2b1c";
        let body = format!("{{\"status\":\"ok\",\"apiKey\":\"{secret}\"}}");
        let (address, _) = server(
            answer("200 OK", "content-type: application/json\r\n", &body),
            Duration::ZERO,
        )
        .await;
        let client = client().unwrap();
        let found = probe_once(
            &client,
            &allow_loopback(),
            &Request {
                body_contains: Some("\"ok\""),
                ..request(address)
            },
        )
        .await;
        assert_eq!(
            found,
            ProbeOutcome::Http {
                status: 200,
                body_matched: Some(true)
            }
        );
        let missing = probe_once(
            &client,
            &allow_loopback(),
            &Request {
                body_contains: Some("healthy"),
                ..request(address)
            },
        )
        .await;
        assert_eq!(
            missing,
            ProbeOutcome::Http {
                status: 200,
                body_matched: Some(false)
            }
        );
        for outcome in [found, missing] {
            let shown = format!("{outcome:?}");
            assert!(
                !shown.contains(secret) && !shown.contains("apiKey"),
                "{shown}"
            );
        }
    }

    #[tokio::test]
    async fn body_json_reads_the_whole_document() {
        let conditions = [
            JsonCondition {
                path: "status".into(),
                equals: "healthy".into(),
            },
            JsonCondition {
                path: "components.*.status".into(),
                equals: "up".into(),
            },
        ];
        let client = client().unwrap();
        let probe = |body: &'static str| {
            let client = client.clone();
            let conditions = conditions.clone();
            async move {
                let (address, _) = server(answer("200 OK", "", body), Duration::ZERO).await;
                probe_once(
                    &client,
                    &allow_loopback(),
                    &Request {
                        body_json: &conditions,
                        ..request(address)
                    },
                )
                .await
            }
        };
        let matched = |m| ProbeOutcome::Http {
            status: 200,
            body_matched: Some(m),
        };
        // Compact or spaced JSON alike.
        let up =
            r#"{"status":"healthy","components":{"db":{"status":"up"},"disk":{"status": "up"}}}"#;
        assert_eq!(probe(up).await, matched(true));
        let one_down = r#"{"status": "healthy", "components": {"db": {"status": "up"}, "disk": {"status": "down"}}}"#;
        assert_eq!(probe(one_down).await, matched(false));
        let unhealthy = r#"{"status": "unhealthy", "components": {"db": {"status": "up"}}}"#;
        assert_eq!(probe(unhealthy).await, matched(false));
        assert_eq!(probe("healthy, not JSON").await, matched(false));
    }

    #[tokio::test]
    async fn a_match_across_chunks_and_past_the_limit() {
        // The needle straddles the end of the first 64 KiB: not read, so not found.
        let mut body = "x".repeat(MAX_BODY - 2);
        body.push_str("MARK");
        let (address, _) = server(answer("200 OK", "", &body), Duration::ZERO).await;
        let client = client().unwrap();
        let past = probe_once(
            &client,
            &allow_loopback(),
            &Request {
                body_contains: Some("MARK"),
                ..request(address)
            },
        )
        .await;
        assert_eq!(
            past,
            ProbeOutcome::Http {
                status: 200,
                body_matched: Some(false)
            }
        );
        let within = probe_once(
            &client,
            &allow_loopback(),
            &Request {
                body_contains: Some("xxM"),
                ..request(address)
            },
        )
        .await;
        assert_eq!(
            within,
            ProbeOutcome::Http {
                status: 200,
                body_matched: Some(true)
            }
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (elsewhere, hits) = server(answer("200 OK", "", "secret page"), Duration::ZERO).await;
        let location = format!("location: http://{elsewhere}/internal\r\n");
        let (redirecting, _) = server(answer("302 Found", &location, ""), Duration::ZERO).await;
        let guard = Guard::new(vec![parse_cidr("127.0.0.0/8").unwrap()], []);
        let outcome = probe_once(&client().unwrap(), &guard, &request(redirecting)).await;
        assert_eq!(
            outcome,
            ProbeOutcome::Http {
                status: 302,
                body_matched: None
            }
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "the redirect target was contacted"
        );
    }

    #[tokio::test]
    async fn guarded_addresses_are_refused_before_connecting() {
        let (address, hits) = server(answer("200 OK", "", ""), Duration::ZERO).await;
        let client = client().unwrap();
        match probe_once(&client, &Guard::default(), &request(address)).await {
            ProbeOutcome::Refused(reason) => {
                assert_eq!(
                    reason,
                    "127.0.0.1 is a loopback address (allow it with --http-allow-cidr)"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        let metadata = SocketAddr::from(([169, 254, 169, 254], 80));
        assert_eq!(
            probe_once(&client, &allow_loopback(), &request(metadata)).await,
            ProbeOutcome::Refused("169.254.169.254 is the cloud metadata address (only --http-allow-cidr 169.254.169.254/32 opens it)".into())
        );
        // Only through the flag.
        assert!(matches!(
            probe_once(&client, &allow_loopback(), &request(address)).await,
            ProbeOutcome::Http { status: 200, .. }
        ));
    }

    #[test]
    fn paths_cannot_change_the_address() {
        let address = SocketAddr::from(([10, 1, 2, 3], 8080));
        let with = |path| {
            url(&Request {
                path,
                ..request(address)
            })
        };
        assert_eq!(
            with("/health?full=1").unwrap().as_str(),
            "http://10.1.2.3:8080/health?full=1"
        );
        assert_eq!(
            with("health").unwrap().as_str(),
            "http://10.1.2.3:8080/health"
        );
        assert_eq!(
            with("//evil.example.com/x").unwrap().host_str(),
            Some("10.1.2.3")
        );
        assert_eq!(
            with("/@evil.example.com").unwrap().host_str(),
            Some("10.1.2.3")
        );
        let v6 = url(&Request {
            address: "[fd00::5]:80".parse().unwrap(),
            ..request(address)
        })
        .unwrap();
        assert_eq!(v6.as_str(), "http://[fd00::5]/health");
        assert!(
            url(&Request {
                scheme: "file",
                ..request(address)
            })
            .is_err()
        );
    }

    /// The Service `api` of `shop`; it selects `app: api` unless `spec` says otherwise.
    fn service(mut spec: serde_json::Value) -> Service {
        if spec.get("type").is_none() && spec.get("selector").is_none() {
            spec["selector"] = json!({"app": "api"});
        }
        serde_json::from_value(
            json!({"metadata": {"name": "api", "namespace": "shop"}, "spec": spec}),
        )
        .unwrap()
    }

    fn pod_at(name: &str, namespace: &str, labels: serde_json::Value, ips: &[&str]) -> Arc<Pod> {
        let pod_ips: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "status": {"phase": "Running", "podIP": ips.first(), "podIPs": pod_ips}
            }))
            .unwrap(),
        )
    }

    /// The Pods the Service `api` selects in `shop` (at 10.0.0.1-4, and two addresses the
    /// guard refuses whatever), and one of `payments` at 10.0.0.9.
    fn pods() -> Vec<Arc<Pod>> {
        let mut pods: Vec<_> = [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.4",
            "169.254.169.254",
            "10.96.0.1",
        ]
        .iter()
        .map(|ip| pod_at(&format!("api-{ip}"), "shop", json!({"app": "api"}), &[ip]))
        .collect();
        pods.push(pod_at(
            "db-0",
            "payments",
            json!({"app": "api"}),
            &["10.0.0.9"],
        ));
        pods
    }

    fn slice(
        name: &str,
        ports: serde_json::Value,
        endpoints: serde_json::Value,
    ) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "shop", "labels": {"kubernetes.io/service-name": "api"}},
                "addressType": "IPv4", "ports": ports, "endpoints": endpoints
            }))
            .unwrap(),
        )
    }

    fn pod(ip: &str, namespace: &str, ready: Option<bool>) -> serde_json::Value {
        json!({"addresses": [ip], "conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "namespace": namespace, "name": format!("api-{ip}")}})
    }

    fn named_port() -> IntOrString {
        IntOrString::String("http".into())
    }

    #[test]
    fn service_port_to_target_port_to_ready_endpoints() {
        let svc = service(
            json!({"ports": [{"name": "http", "port": 80, "targetPort": "web"}, {"name": "metrics", "port": 9090}]}),
        );
        let slices = [
            slice(
                "api-1",
                json!([{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]),
                json!([
                    pod("10.0.0.2", "shop", Some(true)),
                    pod("10.0.0.1", "shop", None)
                ]),
            ),
            slice(
                "api-2",
                json!([{"name": "http", "port": 8080}]),
                json!([pod("10.0.0.3", "shop", Some(false))]),
            ),
        ];
        let guard = Guard::default();
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices,
                &pods(),
                &named_port(),
                &guard
            )
            .unwrap(),
            [
                "10.0.0.1:8080".parse().unwrap(),
                "10.0.0.2:8080".parse::<SocketAddr>().unwrap()
            ]
        );
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices,
                &pods(),
                &IntOrString::Int(80),
                &guard
            )
            .unwrap()
            .len(),
            2
        );
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices,
                &pods(),
                &IntOrString::Int(9090),
                &guard
            )
            .unwrap(),
            [
                "10.0.0.1:9090".parse().unwrap(),
                "10.0.0.2:9090".parse::<SocketAddr>().unwrap()
            ]
        );
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices,
                &pods(),
                &IntOrString::Int(81),
                &guard
            ),
            Err(ProbeOutcome::Error("Service api has no port 81".into()))
        );
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices[1..],
                &pods(),
                &named_port(),
                &guard
            ),
            Err(ProbeOutcome::Error(
                "Service api has no ready endpoints for port http".into()
            ))
        );
        assert_eq!(
            resolve("shop", "api", None, &slices, &pods(), &named_port(), &guard),
            Err(ProbeOutcome::Error(
                "Service api not found in namespace shop".into()
            ))
        );
    }

    #[test]
    fn endpoints_outside_the_namespace_or_in_guarded_ranges_are_refused() {
        let svc = service(json!({"ports": [{"name": "http", "port": 80}]}));
        let ports = json!([{"name": "http", "port": 80}]);
        let guard = Guard::new(vec![], ["10.96.0.1".parse().unwrap()]);
        let refused = |endpoints| match resolve(
            "shop",
            "api",
            Some(&svc),
            &[slice("s", ports.clone(), endpoints)],
            &pods(),
            &named_port(),
            &guard,
        ) {
            Err(ProbeOutcome::Refused(reason)) => reason,
            other => panic!("{other:?}"),
        };
        // Another namespace's Pod, whatever the targetRef says.
        assert_eq!(
            refused(json!([pod("10.0.0.9", "payments", None)])),
            "endpoint 10.0.0.9 of Service api is not the IP of any Pod of namespace shop (a hand-written EndpointSlice; its targetRef claims Pod payments/api-10.0.0.9; allow its address with --http-allow-cidr)"
        );
        // A forged targetRef naming a Pod of the namespace does not make its address one.
        assert_eq!(
            refused(json!([pod("203.0.113.5", "shop", None)])),
            "endpoint 203.0.113.5 of Service api is not the IP of any Pod of namespace shop (a hand-written EndpointSlice; its targetRef claims Pod shop/api-203.0.113.5; allow its address with --http-allow-cidr)"
        );
        assert!(
            refused(json!([{"addresses": ["10.0.0.9"]}])).contains("a hand-written EndpointSlice")
        );
        assert_eq!(
            refused(json!([pod("169.254.169.254", "shop", None)])),
            "169.254.169.254 is the cloud metadata address (only --http-allow-cidr 169.254.169.254/32 opens it)"
        );
        assert!(refused(json!([pod("10.96.0.1", "shop", None)])).contains("Kubernetes API server"));
        // A refused endpoint does not hide an allowed one.
        let mixed = resolve(
            "shop",
            "api",
            Some(&svc),
            &[slice(
                "s",
                ports.clone(),
                json!([
                    pod("169.254.169.254", "shop", None),
                    pod("10.0.0.4", "shop", None)
                ]),
            )],
            &pods(),
            &named_port(),
            &guard,
        );
        assert_eq!(
            mixed.unwrap(),
            ["10.0.0.4:80".parse::<SocketAddr>().unwrap()]
        );
        // The flag admits a hand-written slice pointing at a test server.
        let loopback = slice(
            "s",
            json!([{"name": "http", "port": 18080}]),
            json!([{"addresses": ["127.0.0.1"]}]),
        );
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                std::slice::from_ref(&loopback),
                &pods(),
                &named_port(),
                &allow_loopback()
            )
            .unwrap(),
            ["127.0.0.1:18080".parse::<SocketAddr>().unwrap()]
        );
        assert!(matches!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &[loopback],
                &pods(),
                &named_port(),
                &guard
            ),
            Err(ProbeOutcome::Refused(_))
        ));
    }

    #[test]
    fn slices_of_other_services_or_namespaces_and_external_names_are_ignored() {
        let svc = service(json!({"ports": [{"name": "http", "port": 80}]}));
        let mut other_ns = (*slice(
            "s",
            json!([{"name": "http", "port": 80}]),
            json!([pod("10.0.0.1", "shop", None)]),
        ))
        .clone();
        other_ns.metadata.namespace = Some("payments".into());
        let mut other_svc = other_ns.clone();
        other_svc.metadata.namespace = Some("shop".into());
        other_svc.metadata.labels =
            Some([("kubernetes.io/service-name".to_string(), "web".to_string())].into());
        assert!(matches!(
            resolve("shop", "api", Some(&svc), &[Arc::new(other_ns), Arc::new(other_svc)], &pods(), &named_port(), &Guard::default()),
            Err(ProbeOutcome::Error(reason)) if reason.contains("no ready endpoints")
        ));
        let external =
            service(json!({"type": "ExternalName", "externalName": "metadata.google.internal"}));
        assert_eq!(
            resolve("shop", "api", Some(&external), &[], &pods(), &named_port(), &Guard::default()),
            Err(ProbeOutcome::Refused(
                "Service api is an ExternalName Service (metadata.google.internal): only endpoints inside the cluster are probed".into()
            ))
        );
    }

    #[test]
    fn only_current_ips_of_pods_the_service_selects_are_probed() {
        let ports = json!([{"name": "http", "port": 80}]);
        let endpoints = json!([{"addresses": ["10.0.0.7"]}]);
        let with = |svc: &Service, pods: &[Arc<Pod>]| {
            resolve(
                "shop",
                "api",
                Some(svc),
                &[slice("s", ports.clone(), endpoints.clone())],
                pods,
                &named_port(),
                &Guard::default(),
            )
        };
        let selecting = service(
            json!({"selector": {"app": "api", "tier": "web"}, "ports": [{"name": "http", "port": 80}]}),
        );
        let web = |labels| pod_at("web-1", "shop", labels, &["fd00::7", "10.0.0.7"]);
        // A selected Pod's address, found among its podIPs: probed.
        assert_eq!(
            with(
                &selecting,
                &[web(json!({"app": "api", "tier": "web", "extra": "x"}))]
            )
            .unwrap(),
            ["10.0.0.7:80".parse::<SocketAddr>().unwrap()]
        );
        let reason = |result: Result<Vec<SocketAddr>, ProbeOutcome>| match result {
            Err(ProbeOutcome::Refused(reason)) => reason,
            other => panic!("{other:?}"),
        };
        // Labels that do not match the selector (one differs, one is missing).
        for labels in [json!({"app": "api", "tier": "db"}), json!({"app": "api"})] {
            assert_eq!(
                reason(with(&selecting, &[web(labels)])),
                "endpoint 10.0.0.7 of Service api is Pod web-1, which the Service's selector does not select (allow its address with --http-allow-cidr)"
            );
        }
        // A selector-less Service selects no Pod.
        let selectorless =
            service(json!({"selector": {}, "ports": [{"name": "http", "port": 80}]}));
        assert!(
            reason(with(&selectorless, &[web(json!({"app": "api"}))]))
                .contains("is Pod web-1, but the Service has no selector")
        );
        // A finished Pod's address goes back to the pool.
        let mut finished = (*web(json!({"app": "api", "tier": "web"}))).clone();
        finished.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(reason(with(&selecting, &[Arc::new(finished)])).starts_with(
            "endpoint 10.0.0.7 of Service api is not the IP of any Pod of namespace shop"
        ));
        // A Pod on the host's network has the node's address.
        let mut host = (*web(json!({"app": "api", "tier": "web"}))).clone();
        host.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            host_network: Some(true),
            ..Default::default()
        });
        assert!(reason(with(&selecting, &[Arc::new(host)])).contains("uses the node's network"));
        // The same Pod in another namespace does not count.
        let elsewhere = pod_at(
            "web-1",
            "payments",
            json!({"app": "api", "tier": "web"}),
            &["10.0.0.7"],
        );
        assert!(
            reason(with(&selecting, &[elsewhere]))
                .contains("not the IP of any Pod of namespace shop")
        );
        // The allow flag admits the address without a Pod.
        let allowed = resolve(
            "shop",
            "api",
            Some(&selecting),
            &[slice("s", ports.clone(), endpoints.clone())],
            &[],
            &named_port(),
            &Guard::new(vec![parse_cidr("10.0.0.0/24").unwrap()], []),
        );
        assert_eq!(
            allowed.unwrap(),
            ["10.0.0.7:80".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn hand_written_slices_may_carry_the_numeric_target_port() {
        let svc = service(json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}));
        let slices = [slice(
            "s",
            json!([{"port": 8080}]),
            json!([pod("10.0.0.1", "shop", None)]),
        )];
        assert_eq!(
            resolve(
                "shop",
                "api",
                Some(&svc),
                &slices,
                &pods(),
                &named_port(),
                &Guard::default()
            )
            .unwrap(),
            ["10.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
    }
}
