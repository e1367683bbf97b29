//! The live gates end to end, on the real control plane: `http` probes against a server of
//! ours in a network namespace (tests/testhost), `tlsCertificate` on TLS Secrets made here,
//! and the `approval` flow with `gonogo approve` as a user, under the shipped admission policy.
//!
//! Needs root: the test host is a network namespace with a veth pair (CI runs as root).

mod operator;
mod support;
mod testhost;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gonogo::api::{DeploymentReadiness, GateOutcome};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, PostParams};
use operator::{Operator, install};
use support::{
    Cluster, TIMEOUT, TestNamespace, cluster, from_yaml, repo_root, wait_gates, wait_until,
};
use testhost::{ALLOW_CIDR, CLOSED_PORT, PORT, SECRET, TestHost};

use GateOutcome::{Fail, Pass, Unknown};

const IMAGE: &str = "registry.k8s.io/pause:3.10";

fn deployment(name: &str, image: &str) -> Deployment {
    support::single_container_deployment(name, image)
}

fn readiness(name: &str, target: &str, items: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  items:\n{items}"
    ))
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

async fn setup(prefix: &str, args: &[&str]) -> (&'static Cluster, Client, TestNamespace, Operator) {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    let mut all = vec!["--namespace", ns.name.as_str()];
    all.extend_from_slice(args);
    let operator = Operator::start(cluster, prefix, &all).await;
    (cluster, client, ns, operator)
}

/// Everything the operator wrote where people look: the readiness object (status included),
/// the Deployment (annotations), the namespace's Events, and the operator's own log.
async fn written_by_the_operator(
    cluster: &Cluster,
    ns: &str,
    readiness: &str,
    deployment: &str,
    operator: &Operator,
) -> Vec<(String, String)> {
    vec![
        (
            "DeploymentReadiness".into(),
            cluster
                .kubectl(&[
                    "get",
                    "deploymentreadiness",
                    readiness,
                    "-n",
                    ns,
                    "-o",
                    "json",
                ])
                .await,
        ),
        (
            "Deployment".into(),
            cluster
                .kubectl(&["get", "deployment", deployment, "-n", ns, "-o", "json"])
                .await,
        ),
        (
            "Events".into(),
            cluster
                .kubectl(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"])
                .await,
        ),
        (
            "describe".into(),
            cluster
                .kubectl(&["describe", "deploymentreadiness", readiness, "-n", ns])
                .await,
        ),
        ("operator log".into(), operator.log_text()),
    ]
}

// -------------------------------------------------------------------- http

/// A selector-less Service `name` (port `http` 80 → 8080) and its hand-written EndpointSlice.
fn service_with_slice(
    name: &str,
    address_type: &str,
    address: &str,
    port: u16,
    target_ref: Option<(&str, &str)>,
) -> String {
    let target = target_ref
        .map(|(ns, pod)| format!(", targetRef: {{kind: Pod, namespace: {ns}, name: {pod}}}"))
        .unwrap_or_default();
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{name: http, port: 80, targetPort: {PORT}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: {address_type}
ports: [{{name: http, port: {port}, protocol: TCP}}]
endpoints: [{{addresses: ["{address}"]{target}}}]
"#
    )
}

fn http_item(name: &str, service: &str, path: &str, extra: &str) -> String {
    format!(
        "  - {{name: {name}, http: {{service: {service}, port: http, path: {path}, intervalSeconds: 5{extra}}}}}\n"
    )
}

#[tokio::test]
async fn http_gates_judge_status_body_and_timeouts_and_refuse_what_they_may_not_reach() {
    let host = TestHost::start();
    let (cluster, client, ns, operator) = setup("http", &["--http-allow-cidr", ALLOW_CIDR]).await;
    let n = &ns.name;
    let server = host.address.to_string();
    let api_server_ip = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("the kubernetes Service's ClusterIP");

    let mut objects = String::new();
    objects += &service_with_slice("web", "IPv4", &server, PORT, None);
    objects += &service_with_slice("closed", "IPv4", &server, CLOSED_PORT, None);
    // Names are never resolved: an FQDN slice gives no address to probe.
    objects += &service_with_slice(
        "byname",
        "FQDN",
        "web.kube-system.svc.cluster.local",
        PORT,
        None,
    );
    // Endpoints that claim to be Pods of another namespace, or of this one at addresses the
    // guard refuses whatever the allow flag says about the test hosts' range. The API server
    // itself refuses link-local addresses in EndpointSlices, 169.254.169.254 included, so the
    // cloud metadata service is named by its IPv6 address and its NAT64 form.
    let link_local = cluster
        .try_run(
            "kubectl",
            &["create", "--dry-run=server", "-n", n, "-f", "-"],
            Some(&service_with_slice(
                "imds",
                "IPv4",
                "169.254.169.254",
                80,
                None,
            )),
        )
        .await;
    assert!(
        !link_local.success() && link_local.stderr.contains("link-local"),
        "the API server took 169.254.169.254: {link_local:?}"
    );
    objects += &service_with_slice(
        "foreign",
        "IPv4",
        "203.0.113.7",
        PORT,
        Some(("kube-system", "api-0")),
    );
    objects += &service_with_slice("metadata", "IPv6", "fd00:ec2::254", 80, Some((n, "api-0")));
    objects += &service_with_slice(
        "metadata-nat64",
        "IPv6",
        "64:ff9b::a9fe:a9fe",
        80,
        Some((n, "api-0")),
    );
    objects += &service_with_slice("apiserver", "IPv4", &api_server_ip, 443, Some((n, "api-0")));
    objects += "---\napiVersion: v1\nkind: Service\nmetadata: {name: external}\nspec: {type: ExternalName, externalName: web.kube-system.svc.cluster.local, ports: [{name: http, port: 80}]}\n";
    cluster
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], &objects)
        .await;

    let mut items = String::new();
    items += &http_item("ok", "web", "/status/200", "");
    items += &http_item("twice", "web", "/status/200", ", successThreshold: 2");
    items += &http_item("broken", "web", "/status/500", "");
    items += &http_item("slow", "web", "/slow/30", ", timeoutSeconds: 1");
    items += &http_item("body-ok", "web", "/secret-ok", ", bodyContains: healthy");
    items += &http_item(
        "body-missing",
        "web",
        "/secret-ok",
        ", bodyContains: absent-marker",
    );
    items += &http_item("secret", "web", "/secret", "");
    items += &http_item("garbage", "web", "/garbage", "");
    items += &http_item("redirect", "web", "/redirect", "");
    items += &http_item("closed", "closed", "/status/200", "");
    items += &http_item("nowhere", "nowhere", "/", "");
    items += &http_item("byname", "byname", "/", "");
    items += &http_item("foreign", "foreign", "/", "");
    items += &http_item("external", "external", "/", "");
    items += &http_item("metadata", "metadata", "/latest/meta-data/", "");
    items += &http_item("metadata-nat64", "metadata-nat64", "/latest/meta-data/", "");
    items += &http_item("apiserver", "apiserver", "/api", "");

    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    // A Service of another namespace cannot even be named: the API server refuses the item.
    let other = drs
        .create(
            &pp,
            &readiness(
                "other",
                "api",
                &http_item("other-namespace", "web.kube-system", "/", ""),
            ),
        )
        .await;
    match other {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("http.service")
                    && status.message.contains("web.kube-system"),
                "{}",
                status.message
            );
        }
        other => panic!("an http item naming web.kube-system was not refused: {other:?}"),
    }
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();
    drs.create(&pp, &readiness("api", "api", &items))
        .await
        .unwrap();

    let at = |port: u16| format!("{server}:{port}");
    let started = Instant::now();
    let dr = wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("ok", Pass, "GET http://web:80/status/200 answered 200"),
            ("twice", Pass, "answered 200: 2/2 consecutive successes"),
            ("broken", Fail, "GET http://web:80/status/500 answered 500, expected 200"),
            ("slow", Unknown, "GET http://web:80/slow/30: timed out after 1s"),
            ("body-ok", Pass, "answered 200"),
            ("body-missing", Fail, "answered 200 but the body does not contain \"absent-marker\""),
            ("secret", Fail, "answered 500, expected 200"),
            ("garbage", Unknown, &at(PORT)),
            ("redirect", Fail, "answered 302, expected 200"),
            ("closed", Unknown, &format!("cannot connect to {}", at(CLOSED_PORT))),
            ("nowhere", Fail, &format!("Service nowhere: not found in namespace {n}")),
            ("byname", Unknown, "Service byname has no ready endpoints for port http"),
            ("foreign", Fail, &format!("refused: endpoint 203.0.113.7 of Service foreign is not the IP of any Pod of namespace {n} (a hand-written EndpointSlice; its targetRef claims Pod kube-system/api-0")),
            ("external", Fail, "refused: Service external is an ExternalName Service (web.kube-system.svc.cluster.local)"),
            ("metadata", Fail, "refused: fd00:ec2::254 is the cloud metadata address"),
            ("metadata-nat64", Fail, "refused: 64:ff9b::a9fe:a9fe (NAT64 of 169.254.169.254 is the cloud metadata address"),
            ("apiserver", Fail, &format!("refused: {api_server_ip} is an address of the Kubernetes API server")),
        ],
    )
    .await;
    eprintln!(
        "http: every gate settled {:.1}s after the readiness object was created",
        started.elapsed().as_secs_f64()
    );
    for g in &dr.status.as_ref().unwrap().gates {
        eprintln!("  {} {}: {}", g.result, g.name, g.message);
    }
    assert!(
        !dr.status.as_ref().unwrap().blocking,
        "http gates are PostRollout: they never hold the rollout"
    );

    // Redirects are never followed, and nothing was asked of the server for refused gates.
    let hits = host.hits().expect("the test host answers");
    assert_eq!(
        hits.get("/landed"),
        None,
        "a probe followed a redirect: {hits:?}"
    );
    assert!(hits.get("/status/500").is_some_and(|n| *n >= 1), "{hits:?}");
    assert!(
        !hits.keys().any(|p| p.starts_with("/latest") || p == "/api"),
        "a refused gate reached the server: {hits:?}"
    );

    // Never stuck: the closed endpoint comes up (the slice moves to the listening port).
    cluster
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            &service_with_slice("closed", "IPv4", &server, PORT, None),
        )
        .await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("closed", Pass, "answered 200"),
            ("slow", Unknown, "timed out after 1s"),
        ],
    )
    .await;

    // The secret in status lines, headers and bodies stays inside the prober, while the
    // messages around it do reach the status, the Events and the log.
    let written = written_by_the_operator(cluster, n, "api", "api", &operator).await;
    let events = &written.iter().find(|(what, _)| what == "Events").unwrap().1;
    // One Event per gate that failed, each with its own note.
    for gate in ["broken", "secret", "redirect", "foreign", "metadata"] {
        assert!(
            events.contains(&format!("api: gate {gate} (inline, Required): ")),
            "no GateFailed event for gate {gate}:\n{events}"
        );
    }
    assert!(events.contains("answered 500, expected 200"), "{events}");
    for (what, text) in &written {
        assert!(
            !text.contains("hunter2"),
            "{what} contains the server's secret {SECRET}:\n{text}"
        );
    }
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn without_the_allow_flag_a_hand_written_endpoint_slice_is_refused() {
    let host = TestHost::start();
    let (cluster, client, ns, operator) = setup("http-noflag", &[]).await;
    let n = &ns.name;
    let server = host.address.to_string();
    cluster
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            &service_with_slice("web", "IPv4", &server, PORT, None),
        )
        .await;
    let pp = PostParams::default();
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    drs.create(
        &pp,
        &readiness("api", "api", &http_item("health", "web", "/status/200", "")),
    )
    .await
    .unwrap();
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "health",
            Fail,
            &format!(
                "refused: endpoint {server} of Service web is not the IP of any Pod of namespace {n} (a hand-written EndpointSlice; allow its address with --http-allow-cidr)"
            ),
        )],
    )
    .await;
    // Give the prober two more intervals: still nothing reaches the server.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        host.hits_of("/status/200"),
        0,
        "a refused endpoint was probed"
    );
    operator.assert_no_forbidden();
}

/// A Pod `name` labelled `app: {app}` whose status says it has `ip`: never scheduled (no
/// scheduler has its name, so neither kwok nor the Pod garbage collector touches it), with
/// the address written into its status as a kubelet would.
async fn pod_with_ip(cluster: &Cluster, ns: &str, name: &str, app: &str, ip: &str) {
    cluster
        .kubectl_stdin(
            &["apply", "-n", ns, "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {app}}}}}\nspec:\n  schedulerName: gonogo-e2e-nobody\n  containers: [{{name: c, image: {IMAGE}}}]\n"
            ),
        )
        .await;
    let status = format!(r#"{{"status":{{"podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}]}}}}"#);
    cluster
        .kubectl(&[
            "patch",
            "pod",
            name,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])
        .await;
}

/// A Service `name` selecting `app: {app}` (port `http` 80 → 8080) and a hand-written
/// EndpointSlice for it at `address`, claiming to be Pod `pod` of `ns`.
fn selecting_service_with_slice(
    name: &str,
    app: &str,
    address: &str,
    ns: &str,
    pod: &str,
) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {app}}}
  ports: [{{name: http, port: 80, targetPort: {PORT}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-manual, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: {PORT}, protocol: TCP}}]
endpoints: [{{addresses: ["{address}"], targetRef: {{kind: Pod, namespace: {ns}, name: {pod}}}}}]
"#
    )
}

/// Without `--http-allow-cidr`, an endpoint is probed only at a current IP of a Pod of the
/// namespace that its Service selects. The test host stands in for a Pod: a Pod whose status
/// carries the test host's address. A forged EndpointSlice that names that Pod in its
/// `targetRef` but points elsewhere, or that points at the Pod for a Service that does not
/// select it, is refused, saying why; the legitimate one is probed and passes.
#[tokio::test]
async fn only_addresses_of_pods_the_service_selects_are_probed() {
    let host = TestHost::start();
    let (cluster, client, ns, operator) = setup("http-pods", &[]).await;
    let n = &ns.name;
    let server = host.address.to_string();
    pod_with_ip(cluster, n, "web-0", "web", &server).await;
    // A Pod of the namespace at another address: the forged slice cannot borrow its name.
    pod_with_ip(cluster, n, "other-0", "other", "10.244.200.7").await;

    let mut objects = String::new();
    objects += &selecting_service_with_slice("web", "web", &server, n, "web-0");
    // The targetRef names the selected Pod, the address is somewhere else (another
    // namespace's database, the Internet …).
    objects += &selecting_service_with_slice("forged", "web", "203.0.113.9", n, "web-0");
    // The address is a real Pod's, but the Service does not select it.
    objects += &selecting_service_with_slice("unselected", "other", &server, n, "web-0");
    // No selector: nothing vouches for the hand-written endpoints.
    objects += &service_with_slice("selectorless", "IPv4", &server, PORT, Some((n, "web-0")));
    cluster
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], &objects)
        .await;

    let mut items = String::new();
    items += &http_item("legit", "web", "/status/200", "");
    items += &http_item("forged", "forged", "/forged", "");
    items += &http_item("unselected", "unselected", "/unselected", "");
    items += &http_item("selectorless", "selectorless", "/selectorless", "");
    let pp = PostParams::default();
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    drs.create(&pp, &readiness("api", "api", &items))
        .await
        .unwrap();
    let started = Instant::now();
    let dr = wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("legit", Pass, "GET http://web:80/status/200 answered 200"),
            (
                "forged",
                Fail,
                &format!(
                    "refused: endpoint 203.0.113.9 of Service forged is not the IP of any Pod of namespace {n} (a hand-written EndpointSlice; its targetRef claims Pod {n}/web-0; allow its address with --http-allow-cidr)"
                ),
            ),
            (
                "unselected",
                Fail,
                &format!(
                    "refused: endpoint {server} of Service unselected is Pod web-0, which the Service's selector does not select"
                ),
            ),
            (
                "selectorless",
                Fail,
                &format!(
                    "refused: endpoint {server} of Service selectorless is Pod web-0, but the Service has no selector"
                ),
            ),
        ],
    )
    .await;
    eprintln!(
        "http-pods: every gate settled {:.1}s after the readiness object was created",
        started.elapsed().as_secs_f64()
    );
    for g in &dr.status.as_ref().unwrap().gates {
        eprintln!("  {} {}: {}", g.result, g.name, g.message);
    }
    // When the Pod's address changes, the old address is refused at the next probe.
    pod_with_ip(cluster, n, "web-0", "web", "10.244.200.8").await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "legit",
            Fail,
            &format!(
                "refused: endpoint {server} of Service web is not the IP of any Pod of namespace {n}"
            ),
        )],
    )
    .await;
    // The refused gates never reached the server.
    let hits = host.hits().expect("the test host answers");
    assert!(hits.get("/status/200").is_some_and(|n| *n >= 1), "{hits:?}");
    for path in ["/forged", "/unselected", "/selectorless"] {
        assert_eq!(
            hits.get(path),
            None,
            "a refused gate reached the server: {hits:?}"
        );
    }
    operator.assert_no_forbidden();
}

// ------------------------------------------------------------ tlsCertificate

/// A self-signed certificate for `names`, valid from yesterday until midnight UTC `days`
/// days from today (so, evaluated today, it has `days - 1` whole days left), and its key.
fn certificate(names: &[&str], days: i64) -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let date = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
    };
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = date(today.yesterday().unwrap());
    params.not_after = date(today.checked_add(jiff::Span::new().days(days)).unwrap());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn tls_secret(name: &str, cert: &str, key: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert),
        indent(key)
    )
}

#[tokio::test]
async fn tls_certificate_gates_read_dates_and_names_but_never_keys() {
    let (cluster, client, ns, operator) = setup("tls", &[]).await;
    let n = &ns.name;
    let fresh = certificate(&["api.example.com"], 91);
    let expiring = certificate(&["api.example.com"], 11);
    let wrong_host = certificate(&["api.example.com"], 91);
    let key_of_bad = certificate(&["bad.example.com"], 91).1;

    let mut objects = String::new();
    objects += &tls_secret("tls-fresh", &fresh.0, &fresh.1);
    objects += &tls_secret("tls-expiring", &expiring.0, &expiring.1);
    objects += &tls_secret("tls-shop", &wrong_host.0, &wrong_host.1);
    objects += &tls_secret(
        "tls-bad",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        &key_of_bad,
    );
    // The Ingress routes shop.example.com to a Service selecting the pods.
    objects += r#"---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  tls: [{hosts: [shop.example.com], secretName: tls-shop}]
  rules:
  - host: shop.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}
"#;
    cluster
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], &objects)
        .await;

    let items = "  - {name: fresh, tlsCertificate: {secretName: tls-fresh, minDaysValid: 30, hosts: [api.example.com]}}\n\
                 \x20 - {name: expiring, tlsCertificate: {secretName: tls-expiring, minDaysValid: 30}}\n\
                 \x20 - {name: ingress, tlsCertificate: {minDaysValid: 30}}\n\
                 \x20 - {name: malformed, tlsCertificate: {secretName: tls-bad}}\n";
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    drs.create(&pp, &readiness("api", "api", items))
        .await
        .unwrap();
    deployments
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();

    let dr = wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("fresh", Pass, "Secret tls-fresh valid until"),
            ("fresh", Pass, ", more than 30 days from now, covers api.example.com"),
            ("expiring", Fail, "certificate in Secret tls-expiring expires"),
            ("expiring", Fail, ", less than the 30 days it must stay valid"),
            (
                "ingress",
                Fail,
                "certificate in Secret tls-shop (TLS of Ingress shop) does not cover shop.example.com (it names api.example.com)",
            ),
            ("malformed", Fail, "certificate in Secret tls-bad: tls.crt does not parse: not an X.509 certificate"),
        ],
    )
    .await;
    for g in &dr.status.as_ref().unwrap().gates {
        eprintln!("  {} {}: {}", g.result, g.name, g.message);
    }
    assert!(
        dr.status.as_ref().unwrap().blocking,
        "failing PreRollout certificate gates hold the rollout"
    );
    wait_until(&deployments, "api", "to be held", TIMEOUT, paused).await;

    // Renewed certificates are read from the Secret watch: the gates follow at once.
    let renewed = certificate(&["api.example.com"], 120);
    let shop = certificate(&["shop.example.com", "*.example.com"], 120);
    let mut fixed = tls_secret("tls-expiring", &renewed.0, &renewed.1);
    fixed += &tls_secret("tls-shop", &shop.0, &shop.1);
    fixed += &tls_secret("tls-bad", &renewed.0, &renewed.1);
    cluster
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], &fixed)
        .await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("expiring", Pass, "Secret tls-expiring valid until"),
            ("ingress", Pass, "Secret tls-shop valid until"),
            ("ingress", Pass, "covers shop.example.com"),
            ("malformed", Pass, "Secret tls-bad valid until"),
        ],
    )
    .await;
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;

    // No key material (nor certificate bytes) anywhere the operator writes.
    let pem_lines: Vec<String> = [&fresh, &expiring, &wrong_host, &renewed, &shop]
        .iter()
        .flat_map(|(cert, key)| [cert, key])
        .chain([&key_of_bad])
        .flat_map(|pem| {
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 40)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!pem_lines.is_empty());
    for (what, text) in written_by_the_operator(cluster, n, "api", "api", &operator).await {
        for marker in [
            "PRIVATE KEY",
            "BEGIN CERTIFICATE",
            "bm90IGEgY2VydGlmaWNhdGU",
        ] {
            assert!(
                !text.contains(marker),
                "{what} contains {marker:?}:\n{text}"
            );
        }
        if let Some(line) = pem_lines.iter().find(|l| text.contains(l.as_str())) {
            panic!("{what} contains PEM data {line:?}:\n{text}");
        }
    }
    operator.assert_no_forbidden();
}

// ------------------------------------------------------------------ approval

/// Applies the shipped ValidatingAdmissionPolicy for approvals once per test process and waits
/// until it rejects a forged approval. (tests/chart_e2e.rs checks the chart's copy of it.)
async fn install_approval_policy(cluster: &Cluster, ns: &str) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let policy = repo_root().join("deploy/admission/approval-policy.yaml");
        cluster
            .kubectl(&["apply", "--server-side", "-f", &policy.to_string_lossy()])
            .await;
    })
    .await;
    // Policies take effect a moment after they are created: retry a server-side dry run.
    support::eventually(
        "the approval policy to reject a forged approval",
        TIMEOUT,
        || async {
            let out = forge(cluster, ns, "bob", "alice", true).await;
            if out.success() {
                Err("accepted".to_string())
            } else {
                Ok(out.stderr)
            }
        },
    )
    .await;
}

/// `kubectl create` as `user` of a ReadinessApproval in `approver`'s name.
async fn forge(
    cluster: &Cluster,
    ns: &str,
    user: &str,
    approver: &str,
    dry_run: bool,
) -> support::CmdOutput {
    let approval = format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessApproval\nmetadata: {{generateName: forged-}}\n\
         spec: {{readinessRef: {{name: api}}, item: signoff, approver: {approver}, revision: {{images: [\"api={IMAGE}\"]}}}}\n"
    );
    let mut args = vec!["create", "-n", ns, "-f", "-", "--as", user];
    if dry_run {
        args.push("--dry-run=server");
    }
    cluster.try_run("kubectl", &args, Some(&approval)).await
}

/// What an approver may do in `ns`, and nothing more: read the readiness objects, their
/// checklists and Deployments, record approvals. Bound to alice and bob.
async fn approver_role(cluster: &Cluster, ns: &str) {
    let rbac = format!(
        r#"---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: approver, namespace: {ns}}}
rules:
- apiGroups: [gonogo.dev]
  resources: [deploymentreadinesses, readinesschecklists]
  verbs: [get]
- apiGroups: [gonogo.dev]
  resources: [readinessapprovals]
  verbs: [create]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: approver, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: approver}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}}
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}}
"#
    );
    cluster.kubectl_stdin(&["apply", "-f", "-"], &rbac).await;
}

/// A kubeconfig that acts as `user` (impersonated by the admin credentials).
fn user_kubeconfig(cluster: &Cluster, user: &str) -> PathBuf {
    let admin = std::fs::read_to_string(cluster.kubeconfig()).expect("admin kubeconfig");
    let mut config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&admin).expect("kubeconfig yaml");
    for entry in config["users"].as_sequence_mut().expect("users") {
        entry["user"]["as"] = user.into();
    }
    let path = std::env::temp_dir().join(format!(
        "gonogo-live-{user}-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).expect("write kubeconfig");
    path
}

/// `gonogo approve ARGS` with `kubeconfig`.
async fn gonogo_approve(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gonogo"));
    command
        .arg("approve")
        .args(args)
        .env("KUBECONFIG", kubeconfig);
    tokio::task::spawn_blocking(move || command.output().expect("run gonogo approve"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An operator, the approver Role, the approval policy, and Deployment `api` with a
/// DeploymentReadiness holding the one approval `item`.
async fn approval_scenario(
    prefix: &str,
    item: &str,
) -> (
    &'static Cluster,
    TestNamespace,
    Operator,
    Api<DeploymentReadiness>,
    Api<Deployment>,
) {
    let (cluster, client, ns, operator) = setup(prefix, &[]).await;
    approver_role(cluster, &ns.name).await;
    install_approval_policy(cluster, &ns.name).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    drs.create(&pp, &readiness("api", "api", &format!("  - {item}\n")))
        .await
        .unwrap();
    deployments
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();
    (cluster, ns, operator, drs, deployments)
}

#[tokio::test]
async fn an_approval_releases_the_rollout_until_the_image_changes() {
    let (cluster, ns, operator, drs, deployments) = approval_scenario(
        "approve",
        "{name: signoff, description: release sign-off, approval: {}}",
    )
    .await;
    let n = &ns.name;
    wait_gates(&drs, "api", TIMEOUT, &[("signoff", Fail, "no ReadinessApproval for item signoff of DeploymentReadiness api (record one with gonogo approve)")]).await;
    wait_until(
        &deployments,
        "api",
        "to be held for the sign-off",
        TIMEOUT,
        paused,
    )
    .await;

    // Nobody records an approval in someone else's name (the shipped policy; the chart's
    // copy is checked in tests/chart_e2e.rs).
    let forged = forge(cluster, n, "bob", "alice", false).await;
    assert!(
        !forged.success(),
        "bob recorded an approval in alice's name"
    );
    assert!(
        forged
            .stderr
            .contains("spec.approver must be the requesting user bob, not alice"),
        "{}",
        forged.stderr
    );

    let alice = user_kubeconfig(cluster, "alice");
    let approved_at = Instant::now();
    let out = gonogo_approve(
        &alice,
        &[
            "api",
            "--item",
            "signoff",
            "-n",
            n,
            "--comment",
            "load test passed",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "gonogo approve failed: {}{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "created: alice approved signoff of api for images api={IMAGE}"
        )),
        "{stdout}"
    );
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "signoff",
            Pass,
            &format!("approved by alice for images api={IMAGE}"),
        )],
    )
    .await;
    wait_until(
        &deployments,
        "api",
        "to be released by the approval",
        TIMEOUT,
        |d| !paused(d),
    )
    .await;
    eprintln!(
        "approval: rollout released {:.1}s after gonogo approve",
        approved_at.elapsed().as_secs_f64()
    );

    // A new image is a new revision: the approval no longer counts, and the rollout is held.
    let newer = "registry.k8s.io/pause:3.9";
    cluster
        .kubectl(&[
            "set",
            "image",
            "deployment/api",
            &format!("api={newer}"),
            "-n",
            n,
        ])
        .await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "signoff",
            Fail,
            &format!("approval by alice was for api={IMAGE}, the template now runs api={newer}"),
        )],
    )
    .await;
    wait_until(
        &deployments,
        "api",
        "to be held again for the new image",
        TIMEOUT,
        paused,
    )
    .await;

    // Approving the new image releases it again.
    let out = gonogo_approve(&alice, &["api", "--item", "signoff", "-n", n]).await;
    assert!(
        out.status.success(),
        "gonogo approve failed: {}",
        text(&out.stderr)
    );
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "signoff",
            Pass,
            &format!("approved by alice for images api={newer}"),
        )],
    )
    .await;
    wait_until(
        &deployments,
        "api",
        "to be released for the new image",
        TIMEOUT,
        |d| !paused(d),
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn expired_approvals_and_approvals_by_others_do_not_count() {
    let (cluster, client, ns, operator) = setup("expiry", &[]).await;
    let n = &ns.name;
    approver_role(cluster, n).await;
    install_approval_policy(cluster, n).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    let items =
        "  - {name: signoff, approval: {}}\n  - {name: owner, approval: {approvers: [alice]}}\n";
    drs.create(&pp, &readiness("api", "api", items))
        .await
        .unwrap();
    ns.api::<Deployment>(&client)
        .create(&pp, &deployment("api", IMAGE))
        .await
        .unwrap();
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("signoff", Fail, "no ReadinessApproval"),
            ("owner", Fail, "no ReadinessApproval"),
        ],
    )
    .await;

    let bob = user_kubeconfig(cluster, "bob");
    // An expiry must lie ahead.
    let out = gonogo_approve(
        &bob,
        &[
            "api",
            "--item",
            "signoff",
            "-n",
            n,
            "--expires",
            "2020-01-01T00:00:00Z",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not in the future"),
        "{}",
        text(&out.stderr)
    );

    // A short-lived approval counts until it expires, then says so on its own.
    let lifetime = Duration::from_secs(20);
    let out = gonogo_approve(
        &bob,
        &["api", "--item", "signoff", "-n", n, "--expires", "20s"],
    )
    .await;
    let expires_at = Instant::now() + lifetime;
    assert!(
        out.status.success(),
        "gonogo approve failed: {}",
        text(&out.stderr)
    );
    // An approval by someone the gate does not name is recorded (with a warning) but does not count.
    let out = gonogo_approve(&bob, &["api", "--item", "owner", "-n", n]).await;
    assert!(
        out.status.success(),
        "gonogo approve failed: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("the gate counts approvals by alice only"),
        "{}",
        text(&out.stderr)
    );
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[
            ("signoff", Pass, "approved by bob for images"),
            ("signoff", Pass, ", until "),
            (
                "owner",
                Fail,
                "approval by bob does not count: not one of the approvers (alice)",
            ),
        ],
    )
    .await;

    // One recorded with an expiry in the past (the CLI refuses that; kubectl does not).
    let past = format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessApproval\nmetadata: {{name: owner-alice-old}}\n\
         spec: {{readinessRef: {{name: api}}, item: owner, approver: alice, expires: \"2020-01-01T00:00:00Z\", revision: {{images: [\"api={IMAGE}\"]}}}}\n"
    );
    cluster
        .run(
            "kubectl",
            &["create", "-n", n, "-f", "-", "--as", "alice"],
            Some(&past),
        )
        .await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "owner",
            Fail,
            "approval by alice expired 2020-01-01T00:00:00Z",
        )],
    )
    .await;

    // The controller wakes up for the expiry itself (nothing else changes meanwhile).
    let dr = wait_gates(
        &drs,
        "api",
        lifetime + TIMEOUT,
        &[("signoff", Fail, "approval by bob expired")],
    )
    .await;
    let late = Instant::now().saturating_duration_since(expires_at);
    eprintln!(
        "approval expiry noticed {:.1}s after it passed",
        late.as_secs_f64()
    );
    assert!(
        late < Duration::from_secs(10),
        "the expiry was noticed {late:?} late"
    );
    assert!(dr.status.as_ref().unwrap().blocking);
    operator.assert_no_forbidden();
}

/// `bindTo: Template` binds the whole pod template, not the Deployment generation: gonogo's
/// own pause and unpause (each a generation bump) leave the approval standing, while any
/// template change (here an env var) needs a new one.
#[tokio::test]
async fn a_template_approval_survives_gonogos_own_pause_but_not_a_template_change() {
    let (cluster, ns, operator, drs, deployments) =
        approval_scenario("template", "{name: signoff, approval: {bindTo: Template}}").await;
    let n = &ns.name;
    wait_until(
        &deployments,
        "api",
        "to be held for the sign-off",
        TIMEOUT,
        paused,
    )
    .await;
    let held_generation = deployments.get("api").await.unwrap().metadata.generation;

    let alice = user_kubeconfig(cluster, "alice");
    let out = gonogo_approve(&alice, &["api", "--item", "signoff", "-n", n]).await;
    assert!(
        out.status.success(),
        "gonogo approve failed: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("(pod template sha256:"),
        "{}",
        text(&out.stdout)
    );
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "signoff",
            Pass,
            "approved by alice for pod template sha256:",
        )],
    )
    .await;
    let released = wait_until(
        &deployments,
        "api",
        "to be released by the approval",
        TIMEOUT,
        |d| !paused(d),
    )
    .await;
    // The unpause bumped the generation after the approval was recorded; it still counts.
    assert!(
        released.metadata.generation > held_generation,
        "{:?} -> {:?}",
        held_generation,
        released.metadata.generation
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dr = wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[("signoff", Pass, "approved by alice")],
    )
    .await;
    assert!(!dr.status.as_ref().unwrap().blocking);

    cluster
        .kubectl(&["set", "env", "deployment/api", "FEATURE_X=on", "-n", n])
        .await;
    wait_gates(
        &drs,
        "api",
        TIMEOUT,
        &[(
            "signoff",
            Fail,
            "approval by alice was for pod template sha256:",
        )],
    )
    .await;
    wait_until(
        &deployments,
        "api",
        "to be held for the changed template",
        TIMEOUT,
        paused,
    )
    .await;
    operator.assert_no_forbidden();
}
