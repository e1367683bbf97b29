//! The SSRF guard: which addresses an `http` gate may reach.
//!
//! A DeploymentReadiness names only a Service of its own namespace, and the prober resolves it
//! through that Service's EndpointSlices, so a gate cannot name an address. EndpointSlices can
//! still be written by hand, though, so every endpoint is checked before connecting: its
//! address must be a current Pod IP of a Pod of the namespace that the Service selects
//! ([`super::http::resolve`]), or inside a range the cluster admin allows with
//! `--http-allow-cidr`; and whatever that says, addresses that reach the node or the cloud
//! (loopback, link-local, the metadata services) and the API server's own addresses are
//! refused here. IPv6 addresses that embed an IPv4 address (IPv4-mapped and -compatible,
//! SIIT, NAT64, 6to4, Teredo) are judged by the IPv4 address too. The metadata services and
//! the API server stay refused inside an allowed range: only an entry naming exactly that
//! address (a /32 or /128) opens them, so allowing `10.0.0.0/8` does not open `10.96.0.1`.
//! Until the API server's addresses are known, every probe is refused.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use tracing::{info, warn};

/// Cloud metadata and host agent services, refused even inside an allowed range.
const METADATA: [(IpAddr, &str); 8] = [
    // AWS, GCP (metadata.google.internal), Azure IMDS, OpenStack, Oracle, DigitalOcean …
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
        "the cloud metadata address",
    ),
    // AWS IMDS on IPv6.
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
        "the cloud metadata address",
    ),
    // AWS ECS task metadata and credentials.
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
        "the ECS task metadata address",
    ),
    // AWS EKS Pod Identity agent, IPv4 and IPv6.
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
        "the EKS Pod Identity address",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0023)),
        "the EKS Pod Identity address",
    ),
    // Alibaba Cloud.
    (
        IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
        "the Alibaba Cloud metadata address",
    ),
    // Azure WireServer (host agent, also serves metadata).
    (
        IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
        "the Azure WireServer address",
    ),
    // GCP's metadata server on IPv6.
    (
        IpAddr::V6(Ipv6Addr::new(0xfd20, 0x00ce, 0, 0, 0, 0, 0, 0x0254)),
        "the cloud metadata address",
    ),
];

/// The API server's addresses as the guard knows them: `None` until first read.
type ApiServer = Arc<RwLock<Option<BTreeSet<IpAddr>>>>;

/// What the prober may connect to. Cheap to clone; clones share the API server's addresses.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Ranges the cluster admin allows even where the defaults refuse (`--http-allow-cidr`).
    allow: Vec<IpNet>,
    /// The Kubernetes API server's addresses: a probe must not become an API client.
    api_server: ApiServer,
}

impl Default for Guard {
    /// Nothing allowed, and no API server address (known to be none).
    fn default() -> Self {
        Guard::new(Vec::new(), [])
    }
}

impl Guard {
    /// A guard with the API server's addresses known.
    pub fn new(allow: Vec<IpNet>, api_server: impl IntoIterator<Item = IpAddr>) -> Self {
        let guard = Guard::awaiting(allow);
        guard.set_api_server(api_server);
        guard
    }

    /// A guard that refuses every probe until [`Guard::set_api_server`] is called.
    pub fn awaiting(allow: Vec<IpNet>) -> Self {
        Guard {
            allow,
            api_server: Arc::new(RwLock::new(None)),
        }
    }

    /// Replace the API server's addresses (they are read again periodically).
    pub fn set_api_server(&self, addresses: impl IntoIterator<Item = IpAddr>) {
        let addresses = addresses.into_iter().map(canonical).collect();
        if let Ok(mut known) = self.api_server.write() {
            *known = Some(addresses);
        }
    }

    /// Whether the API server's addresses have been read.
    pub fn knows_api_server(&self) -> bool {
        self.api_server.read().is_ok_and(|known| known.is_some())
    }

    /// Whether the admin allowed this address explicitly.
    pub fn allowed_by_flag(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Whether the admin allowed exactly this one address.
    fn allowed_exactly(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|net| net.prefix_len() == net.max_prefix_len() && canonical(net.addr()) == ip)
    }

    /// `Err(reason)` when the address may not be probed.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let api_server = match self.api_server.read() {
            Ok(known) => known.clone(),
            Err(_) => None,
        };
        let Some(api_server) = api_server else {
            return Err(format!(
                "{ip} not probed: the Kubernetes API server's addresses are not known yet (gonogo refuses http probes until it has read them)"
            ));
        };
        self.check_with(canonical(ip), &api_server)
    }

    fn check_with(&self, ip: IpAddr, api_server: &BTreeSet<IpAddr>) -> Result<(), String> {
        // An IPv6 address that carries an IPv4 address may reach it (NAT64, 6to4, Teredo,
        // SIIT): it is refused when the IPv4 address is, unless named exactly.
        if let IpAddr::V6(v6) = ip
            && !self.allowed_exactly(ip)
        {
            for (embedded, how) in embedded_v4(v6) {
                self.check_with(IpAddr::V4(embedded), api_server)
                    .map_err(|reason| format!("{ip} ({how} of {reason})"))?;
            }
        }
        let single = |ip: IpAddr| {
            if ip.is_ipv4() {
                format!("{ip}/32")
            } else {
                format!("{ip}/128")
            }
        };
        if !self.allowed_exactly(ip) {
            if let Some((_, what)) = METADATA.iter().find(|(m, _)| *m == ip) {
                return Err(format!(
                    "{ip} is {what} (only --http-allow-cidr {} opens it)",
                    single(ip)
                ));
            }
            if api_server.contains(&ip) {
                return Err(format!(
                    "{ip} is an address of the Kubernetes API server (only --http-allow-cidr {} opens it)",
                    single(ip)
                ));
            }
        }
        if self.allowed_by_flag(ip) {
            return Ok(());
        }
        let refused = |what: &str| Err(format!("{ip} is {what} (allow it with --http-allow-cidr)"));
        match ip {
            IpAddr::V4(v4) => {
                if v4.is_loopback() {
                    return refused("a loopback address");
                }
                if v4.is_link_local() {
                    return refused("a link-local address");
                }
                // 0.0.0.0/8 means "this host" to the kernel.
                if v4.octets()[0] == 0 {
                    return refused("the unspecified address");
                }
                if v4.is_broadcast() || v4.is_multicast() {
                    return refused("a broadcast or multicast address");
                }
            }
            IpAddr::V6(v6) => {
                if v6.is_loopback() {
                    return refused("a loopback address");
                }
                if v6.is_unicast_link_local() {
                    return refused("a link-local address");
                }
                if v6.is_unspecified() {
                    return refused("the unspecified address");
                }
                if v6.is_multicast() {
                    return refused("a multicast address");
                }
            }
        }
        Ok(())
    }
}

/// An address in one form for comparisons: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The IPv4 addresses an IPv6 address carries, with the mechanism's name: IPv4-compatible
/// `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and the local-use
/// `64:ff9b:1::/48` (every RFC 6052 prefix length that fits in it), 6to4 `2002::/16`, and
/// Teredo `2001::/32` (its server and, obfuscated, its client). IPv4-mapped addresses are
/// made IPv4 by [`canonical`] before this.
pub fn embedded_v4(v6: Ipv6Addr) -> Vec<(Ipv4Addr, &'static str)> {
    let s = v6.segments();
    let o = v6.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| Ipv4Addr::new(a, b, c, d);
    let mut found = Vec::new();
    match s {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, high, low] if (high, low) != (0, 0) && (high, low) != (0, 1) => {
            found.push((v4(o[12], o[13], o[14], o[15]), "IPv4-compatible form"));
        }
        [0, 0, 0, 0, 0xffff, 0, _, _] => {
            found.push((v4(o[12], o[13], o[14], o[15]), "SIIT form"));
        }
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            found.push((v4(o[12], o[13], o[14], o[15]), "NAT64"));
        }
        [0x64, 0xff9b, 1, ..] => {
            // The prefix length is the operator's choice; RFC 6052 §2.2 places the IPv4
            // address by it: /48 (octets 6-7, 9-10), /56 (7, 9-11), /64 (9-12), /96 (12-15).
            // A reading that gives 0.0.0.0/8 is zero padding, not an address.
            for (a, b, c, d) in [
                (o[6], o[7], o[9], o[10]),
                (o[7], o[9], o[10], o[11]),
                (o[9], o[10], o[11], o[12]),
                (o[12], o[13], o[14], o[15]),
            ] {
                if a != 0 {
                    found.push((v4(a, b, c, d), "NAT64"));
                }
            }
        }
        [0x2002, ..] => {
            found.push((v4(o[2], o[3], o[4], o[5]), "6to4"));
        }
        [0x2001, 0, ..] => {
            found.push((v4(o[4], o[5], o[6], o[7]), "Teredo server"));
            found.push((v4(!o[12], !o[13], !o[14], !o[15]), "Teredo client"));
        }
        _ => {}
    }
    found
}

/// Parse `--http-allow-cidr` values: CIDRs, or single addresses (a /32 or /128).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR such as 10.0.0.0/8 or 127.0.0.1/32"))
}

/// How often the API server's addresses are read again (they change with control plane
/// replacements); until the first full read, every few seconds.
const API_SERVER_REFRESH: Duration = Duration::from_secs(60);
const API_SERVER_RETRY: Duration = Duration::from_secs(5);

/// Keep the guard's API server addresses current, for as long as the prober lives: read them
/// now, then every minute. A read that fails keeps the addresses last known; until one
/// succeeds, http probes are refused.
pub async fn keep_api_server_current(guard: Guard, client: Client, config: kube::Config) {
    loop {
        let next = match api_server_addresses(&client, &config).await {
            Ok(found) => {
                if guard
                    .api_server
                    .read()
                    .is_ok_and(|known| known.as_ref() != Some(&found))
                {
                    info!(addresses = ?found, "http probes refuse the API server's addresses");
                }
                guard.set_api_server(found);
                API_SERVER_REFRESH
            }
            Err(reason) if guard.knows_api_server() => {
                warn!(error = %reason, "cannot read the API server's addresses again; keeping the ones last read");
                API_SERVER_REFRESH
            }
            Err(reason) => {
                warn!(error = %reason, "cannot read the API server's addresses; http probes are refused until they are known");
                API_SERVER_RETRY
            }
        };
        tokio::time::sleep(next).await;
    }
}

/// The API server's addresses: the host of the client's cluster URL (resolved if it is a
/// name), the `kubernetes` Service in `default`, and its EndpointSlice. `Err` unless every one
/// of them could be read: a partial answer must not open what it missed.
pub async fn api_server_addresses(
    client: &Client,
    config: &kube::Config,
) -> Result<BTreeSet<IpAddr>, String> {
    let mut found = BTreeSet::new();
    let cluster_url = &config.cluster_url;
    if let Some(host) = cluster_url.host() {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                found.insert(ip);
            }
            Err(_) => {
                let port = cluster_url.port_u16().unwrap_or(443);
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::lookup_host((host, port)),
                )
                .await
                {
                    Ok(Ok(addresses)) => found.extend(addresses.map(|a| a.ip())),
                    Ok(Err(e)) => {
                        return Err(format!("cannot resolve the API server's host {host}: {e}"));
                    }
                    Err(_) => {
                        return Err(format!("resolving the API server's host {host} timed out"));
                    }
                }
            }
        }
    }
    let lookup = async {
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        match services.get_opt("kubernetes").await {
            Ok(Some(service)) => {
                let spec = service.spec.unwrap_or_default();
                found.extend(
                    spec.cluster_ips
                        .into_iter()
                        .flatten()
                        .chain(spec.cluster_ip)
                        .filter_map(|ip| ip.parse::<IpAddr>().ok()),
                );
            }
            Ok(None) => {}
            Err(e) => return Err(format!("cannot read Service default/kubernetes: {e}")),
        }
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
        // The API server maintains one EndpointSlice named `kubernetes`; RBAC grants exactly it.
        match slices.get_opt("kubernetes").await {
            Ok(slice) => found.extend(
                slice
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .flat_map(|e| e.addresses.iter())
                    .filter_map(|a| a.parse::<IpAddr>().ok()),
            ),
            Err(e) => return Err(format!("cannot read EndpointSlice default/kubernetes: {e}")),
        }
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(10), lookup).await {
        Ok(Ok(())) => Ok(found),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err("reading the API server's addresses timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn refused(guard: &Guard, address: &str) -> String {
        match guard.check(ip(address)) {
            Err(reason) => reason,
            Ok(()) => panic!("{address} was allowed"),
        }
    }

    #[test]
    fn defaults_refuse_node_and_cloud_addresses() {
        let guard = Guard::new(vec![], [ip("10.96.0.1"), ip("172.18.0.2")]);
        for (address, reason) in [
            ("169.254.169.254", "the cloud metadata address"),
            ("::ffff:169.254.169.254", "the cloud metadata address"),
            ("fd00:ec2::254", "the cloud metadata address"),
            ("169.254.1.1", "a link-local address"),
            ("fe80::1", "a link-local address"),
            ("127.0.0.1", "a loopback address"),
            ("127.1.2.3", "a loopback address"),
            ("::1", "a loopback address"),
            ("0.0.0.0", "the unspecified address"),
            ("::", "the unspecified address"),
            ("0.1.2.3", "the unspecified address"),
            (
                "64:ff9b::a9fe:a9fe",
                "NAT64 of 169.254.169.254 is the cloud metadata address",
            ),
            ("224.0.0.1", "a broadcast or multicast address"),
            ("10.96.0.1", "an address of the Kubernetes API server"),
            ("172.18.0.2", "an address of the Kubernetes API server"),
        ] {
            let err = refused(&guard, address);
            assert!(
                err.contains(reason) && err.contains("--http-allow-cidr"),
                "{address}: {err}"
            );
        }
        for address in [
            "10.244.1.7",
            "192.168.3.4",
            "fd12::7",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            assert_eq!(guard.check(ip(address)), Ok(()), "{address}");
        }
    }

    /// Every metadata and host agent address, refused by default and inside the widest range.
    #[test]
    fn every_cloud_metadata_address_is_refused_even_inside_an_allowed_range() {
        let wide = Guard::new(
            ["0.0.0.0/0", "::/0"]
                .map(|c| parse_cidr(c).unwrap())
                .to_vec(),
            [],
        );
        for guard in [Guard::default(), wide] {
            for (address, what) in [
                ("169.254.169.254", "the cloud metadata address"),
                ("fd00:ec2::254", "the cloud metadata address"),
                ("fd20:ce::254", "the cloud metadata address"),
                ("169.254.170.2", "the ECS task metadata address"),
                ("169.254.170.23", "the EKS Pod Identity address"),
                ("fd00:ec2::23", "the EKS Pod Identity address"),
                ("100.100.100.200", "the Alibaba Cloud metadata address"),
                ("168.63.129.16", "the Azure WireServer address"),
            ] {
                let err = refused(&guard, address);
                assert!(
                    err.contains(what) && err.contains("only --http-allow-cidr"),
                    "{address}: {err}"
                );
            }
        }
    }

    /// Each IPv6 form that carries 169.254.169.254 (or another refused IPv4 address) is
    /// refused as that address, by default and inside an allowed range.
    #[test]
    fn ipv6_forms_that_embed_an_ipv4_address_are_judged_by_it() {
        let wide = Guard::new(
            ["0.0.0.0/0", "::/0"]
                .map(|c| parse_cidr(c).unwrap())
                .to_vec(),
            [ip("10.96.0.1")],
        );
        let strict = Guard::new(vec![], [ip("10.96.0.1")]);
        for guard in [&strict, &wide] {
            for (address, how) in [
                (
                    "::ffff:169.254.169.254",
                    "169.254.169.254 is the cloud metadata",
                ),
                (
                    "::169.254.169.254",
                    "(IPv4-compatible form of 169.254.169.254",
                ),
                ("::ffff:0:a9fe:a9fe", "(SIIT form of 169.254.169.254"),
                ("64:ff9b::a9fe:a9fe", "(NAT64 of 169.254.169.254"),
                ("64:ff9b::100.100.100.200", "(NAT64 of 100.100.100.200"),
                ("64:ff9b:1::a9fe:a9fe", "(NAT64 of 169.254.169.254"),
                // The local-use NAT64 prefix as a /48: the address sits around octet 8.
                ("64:ff9b:1:a9fe:a9:fea9::", "(NAT64 of 169.254.169.254"),
                ("64:ff9b:1:ffa8:3f:8110::", "(NAT64 of 168.63.129.16"),
                ("2002:a9fe:a9fe::1", "(6to4 of 169.254.169.254"),
                ("2002:a9fe:aa02::", "(6to4 of 169.254.170.2"),
                // Teredo: the client address is stored inverted.
                ("2001:0:a9fe:a9fe::", "(Teredo server of 169.254.169.254"),
                (
                    "2001:0:4136:e378:8000:63bf:5601:5601",
                    "(Teredo client of 169.254.169.254",
                ),
                (
                    "64:ff9b::a60:1",
                    "(NAT64 of 10.96.0.1 is an address of the Kubernetes API server",
                ),
                (
                    "2002:a60:1::",
                    "(6to4 of 10.96.0.1 is an address of the Kubernetes API server",
                ),
            ] {
                let err = refused(guard, address);
                assert!(err.contains(how), "{address}: {err}");
            }
        }
        // By default, the node's own addresses in IPv6 dress are refused too.
        for (address, how) in [
            (
                "::127.0.0.1",
                "IPv4-compatible form of 127.0.0.1 is a loopback address",
            ),
            (
                "64:ff9b::7f00:1",
                "NAT64 of 127.0.0.1 is a loopback address",
            ),
            ("2002:7f00:1::", "6to4 of 127.0.0.1 is a loopback address"),
            (
                "::ffff:0:a9fe:101",
                "SIIT form of 169.254.1.1 is a link-local address",
            ),
        ] {
            assert!(refused(&strict, address).contains(how), "{address}");
        }
        // Ordinary addresses in those ranges pass, and naming the IPv6 address exactly opens it.
        for address in ["64:ff9b::a00:5", "2002:a00:5::1", "::ffff:10.0.0.5"] {
            assert_eq!(strict.check(ip(address)), Ok(()), "{address}");
        }
        let exact = Guard::new(vec![parse_cidr("64:ff9b::a9fe:a9fe").unwrap()], []);
        assert_eq!(exact.check(ip("64:ff9b::a9fe:a9fe")), Ok(()));
    }

    #[test]
    fn embedded_addresses_are_found_where_each_mechanism_puts_them() {
        let v4 = |t: &str| t.parse::<Ipv4Addr>().unwrap();
        let of = |t: &str| {
            embedded_v4(t.parse().unwrap())
                .into_iter()
                .map(|(a, _)| a)
                .collect::<Vec<_>>()
        };
        assert_eq!(of("::a9fe:a9fe"), [v4("169.254.169.254")]);
        assert_eq!(of("::ffff:0:a9fe:a9fe"), [v4("169.254.169.254")]);
        assert_eq!(of("64:ff9b::a9fe:a9fe"), [v4("169.254.169.254")]);
        assert_eq!(of("2002:a9fe:a9fe::"), [v4("169.254.169.254")]);
        assert_eq!(
            of("2001:0:a9fe:a9fe:0:0:5601:5601"),
            [v4("169.254.169.254"), v4("169.254.169.254")]
        );
        assert!(of("::").is_empty() && of("::1").is_empty() && of("fd12::7").is_empty());
    }

    #[test]
    fn until_the_api_server_is_known_every_probe_is_refused() {
        let guard = Guard::awaiting(vec![parse_cidr("0.0.0.0/0").unwrap()]);
        assert!(!guard.knows_api_server());
        let err = refused(&guard, "10.244.1.7");
        assert!(
            err.contains("the Kubernetes API server's addresses are not known yet"),
            "{err}"
        );
        // Clones share what is learnt later, and a refresh replaces it.
        let prober_side = guard.clone();
        guard.set_api_server([ip("10.96.0.1")]);
        assert_eq!(prober_side.check(ip("10.244.1.7")), Ok(()));
        assert!(refused(&prober_side, "10.96.0.1").contains("Kubernetes API server"));
        guard.set_api_server([ip("10.96.0.2")]);
        assert_eq!(prober_side.check(ip("10.96.0.1")), Ok(()));
        assert!(refused(&prober_side, "::ffff:10.96.0.2").contains("Kubernetes API server"));
    }

    #[test]
    fn the_flag_widens_exactly_its_ranges() {
        let guard = Guard::new(
            vec![
                parse_cidr("127.0.0.1/32").unwrap(),
                parse_cidr("fe80::/10").unwrap(),
            ],
            [],
        );
        assert_eq!(guard.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(guard.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert!(guard.check(ip("127.0.0.2")).is_err());
        assert_eq!(guard.check(ip("fe80::9")), Ok(()));
        assert!(guard.check(ip("169.254.169.254")).is_err());
    }

    #[test]
    fn a_wide_range_does_not_open_the_metadata_service_or_the_api_server() {
        let wide = Guard::new(
            ["0.0.0.0/0", "::/0"]
                .map(|c| parse_cidr(c).unwrap())
                .to_vec(),
            [ip("10.96.0.1")],
        );
        for (address, reason) in [
            (
                "169.254.169.254",
                "only --http-allow-cidr 169.254.169.254/32 opens it",
            ),
            (
                "fd00:ec2::254",
                "only --http-allow-cidr fd00:ec2::254/128 opens it",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "NAT64 of 169.254.169.254 is the cloud metadata address",
            ),
            (
                "10.96.0.1",
                "an address of the Kubernetes API server (only --http-allow-cidr 10.96.0.1/32 opens it)",
            ),
        ] {
            let err = wide.check(ip(address)).unwrap_err();
            assert!(err.contains(reason), "{address}: {err}");
        }
        // Everything else in the range is open, loopback included.
        assert_eq!(wide.check(ip("10.96.0.2")), Ok(()));
        assert_eq!(wide.check(ip("127.0.0.1")), Ok(()));
        // Naming the exact address is a deliberate choice and is honoured.
        let exact = Guard::new(
            vec![
                parse_cidr("10.96.0.1").unwrap(),
                parse_cidr("169.254.169.254").unwrap(),
            ],
            [ip("10.96.0.1")],
        );
        assert_eq!(exact.check(ip("10.96.0.1")), Ok(()));
        assert_eq!(exact.check(ip("169.254.169.254")), Ok(()));
    }

    #[test]
    fn cidr_flags_parse() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("localhost").unwrap_err().contains("not a CIDR"));
    }
}
