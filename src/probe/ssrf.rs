//! The SSRF guard: which addresses an `http` gate may reach.
//!
//! A DeploymentReadiness names only a Service of its own namespace, and the prober resolves it
//! through that Service's EndpointSlices, so a gate cannot name an address. EndpointSlices can
//! still be written by hand, though, so every address is checked before connecting: addresses
//! that reach the node or the cloud (loopback, link-local, the metadata service), the API
//! server's own addresses, and endpoints that are not Pods of the namespace are refused unless
//! the cluster admin allows their range with `--http-allow-cidr`. The metadata service and the
//! API server stay refused inside an allowed range: only an entry naming exactly that address
//! (a /32 or /128) opens them, so allowing `10.0.0.0/8` does not open `10.96.0.1`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use tracing::{info, warn};

/// The cloud metadata service (AWS, GCP, Azure, OpenStack …) on IPv4, and AWS's on IPv6.
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// What the prober may connect to.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Ranges the cluster admin allows even where the defaults refuse (`--http-allow-cidr`).
    allow: Vec<IpNet>,
    /// The Kubernetes API server's addresses: a probe must not become an API client.
    api_server: BTreeSet<IpAddr>,
}

impl Guard {
    pub fn new(allow: Vec<IpNet>, api_server: impl IntoIterator<Item = IpAddr>) -> Self {
        Guard {
            allow,
            api_server: api_server.into_iter().map(|ip| ip.to_canonical()).collect(),
        }
    }

    /// Whether the admin allowed this address explicitly.
    pub fn allowed_by_flag(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Whether the admin allowed exactly this one address.
    fn allowed_exactly(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|net| net.prefix_len() == net.max_prefix_len() && net.addr().to_canonical() == ip)
    }

    /// `Err(reason)` when the address may not be probed.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        // `::ffff:169.254.169.254` is the metadata address too.
        let ip = ip.to_canonical();
        // So is `64:ff9b::a9fe:a9fe` where a NAT64 gateway translates the well-known prefix.
        if let IpAddr::V6(v6) = ip
            && let [0x64, 0xff9b, 0, 0, 0, 0, high, low] = v6.segments()
            && !self.allowed_exactly(ip)
        {
            let embedded = Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
            return self
                .check(IpAddr::V4(embedded))
                .map_err(|reason| format!("{ip} (NAT64 of {reason})"));
        }
        let single = |ip: IpAddr| {
            if ip.is_ipv4() {
                format!("{ip}/32")
            } else {
                format!("{ip}/128")
            }
        };
        if !self.allowed_exactly(ip) {
            if ip == IpAddr::V4(METADATA_V4) || ip == IpAddr::V6(METADATA_V6) {
                return Err(format!(
                    "{ip} is the cloud metadata address (only --http-allow-cidr {} opens it)",
                    single(ip)
                ));
            }
            if self.api_server.contains(&ip) {
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

/// Parse `--http-allow-cidr` values: CIDRs, or single addresses (a /32 or /128).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR such as 10.0.0.0/8 or 127.0.0.1/32"))
}

/// The API server's addresses, best effort: the host of the client's cluster URL (resolved if
/// it is a name), the `kubernetes` Service in `default`, and its EndpointSlices. Whatever cannot
/// be read is logged and skipped; the other rules still apply.
pub async fn api_server_addresses(client: &Client, config: &kube::Config) -> BTreeSet<IpAddr> {
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
                        warn!(host, error = %e, "cannot resolve the API server's host for the http probe guard")
                    }
                    Err(_) => warn!(host, "resolving the API server's host timed out"),
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
            Err(e) => {
                warn!(error = %e, "cannot read Service default/kubernetes for the http probe guard")
            }
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
            Err(e) => {
                warn!(error = %e, "cannot read EndpointSlice default/kubernetes for the http probe guard")
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), lookup)
        .await
        .is_err()
    {
        warn!("reading the API server's addresses timed out");
    }
    info!(addresses = ?found, "http probes refuse the API server's addresses");
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
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
            let err = guard.check(ip(address)).unwrap_err();
            assert!(
                err.contains(reason) && err.contains("--http-allow-cidr"),
                "{address}: {err}"
            );
        }
        for address in ["10.244.1.7", "192.168.3.4", "fd12::7", "8.8.8.8"] {
            assert_eq!(guard.check(ip(address)), Ok(()), "{address}");
        }
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
