//! `gonogo run`: the operator.

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::controller::{self, CertificateConfig, RunConfig, WebhookConfig};
use crate::probe::{self, ProbeConfig};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (default: every namespace). Repeatable, or comma-separated
    /// (`--namespace shop,blog`, also in the environment variable): each namespace is watched
    /// on its own, so RBAC can be a Role in each (chart value `watchNamespaces`).
    /// Cluster-scoped kinds (ClusterReadinessChecklists, StorageClasses, `resource` gates'
    /// cluster-scoped kinds) are still read cluster-wide.
    #[arg(long, alias = "namespaces", env = "GONOGO_NAMESPACE", value_delimiter = ',', value_parser = parse_namespace)]
    pub namespace: Vec<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "GONOGO_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// DeploymentReadiness objects reconciled at once.
    #[arg(long, env = "GONOGO_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Elect one writer among replicas through a Lease.
    #[arg(long, env = "GONOGO_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    #[arg(long, env = "GONOGO_LEASE_NAME", default_value = "gonogo-controller")]
    pub lease_name: String,
    /// Namespace of the Lease (normally the operator's own, from the downward API).
    #[arg(long, env = "POD_NAMESPACE", default_value = "gonogo-system")]
    pub lease_namespace: String,
    /// This replica's identity (normally the pod name, from the downward API).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// List and watch Secrets (values are dropped as each one arrives, but the permission
    /// returns them). `--read-secrets=false`: no Secret is read, and gates that need them
    /// (`secrets`, `tlsCertificate`, a `cel` expression reading `secrets`) are Unknown, saying
    /// why; the chart's `readSecrets: false` also drops the RBAC rule.
    #[arg(long, env = "GONOGO_READ_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub read_secrets: bool,
    /// As `--read-secrets`, for ConfigMaps (`configMaps` gates, `configMaps` in `cel`).
    #[arg(long, env = "GONOGO_READ_CONFIG_MAPS", default_value_t = true, action = clap::ArgAction::Set)]
    pub read_config_maps: bool,
    /// Probes (`http`, `prometheus` gates) in flight at once.
    #[arg(long, env = "GONOGO_PROBE_CONCURRENCY", default_value_t = 16)]
    pub probe_concurrency: u16,
    /// Probes in flight at once for the gates of one namespace (of --probe-concurrency):
    /// one tenant's unanswering targets cannot take every permit.
    #[arg(long, env = "GONOGO_PROBE_NAMESPACE_CONCURRENCY", default_value_t = 4)]
    pub probe_namespace_concurrency: u16,
    /// Probes in flight at once for the gates of one DeploymentReadiness.
    #[arg(long, env = "GONOGO_PROBE_OBJECT_CONCURRENCY", default_value_t = 2)]
    pub probe_object_concurrency: u16,
    /// The longest one probe may take, whatever a gate's timeoutSeconds says.
    #[arg(long, env = "GONOGO_PROBE_MAX_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub probe_max_timeout_seconds: u64,
    /// The Prometheus that `prometheus` gates query (e.g. http://prometheus-operated.monitoring:9090).
    /// DeploymentReadiness objects cannot name addresses; without this flag those gates fail.
    #[arg(long, env = "GONOGO_PROMETHEUS_URL", value_parser = probe::prometheus::parse_url)]
    pub prometheus_url: Option<reqwest::Url>,
    /// Let `http` gates reach this address range even where the default guard refuses
    /// (loopback, link-local, the API server, endpoints that are not Pods of the namespace).
    /// Repeatable; comma-separated in the environment variable.
    #[arg(long, env = "GONOGO_HTTP_ALLOW_CIDR", value_delimiter = ',', value_parser = probe::ssrf::parse_cidr)]
    pub http_allow_cidr: Vec<ipnet::IpNet>,
    /// Serve the mutating admission webhook that holds new pod templates, over HTTPS on this
    /// port (for clusters without MutatingAdmissionPolicy, Kubernetes < 1.36). Off by default.
    #[arg(long, env = "GONOGO_ADMISSION_WEBHOOK_PORT")]
    pub admission_webhook_port: Option<u16>,
    /// The Secret, in the operator's namespace (POD_NAMESPACE), that holds the webhook's CA and
    /// serving certificate; created when absent.
    #[arg(
        long,
        env = "GONOGO_ADMISSION_WEBHOOK_SECRET",
        default_value = "gonogo-webhook-tls"
    )]
    pub admission_webhook_secret: String,
    /// The MutatingWebhookConfiguration whose caBundle the operator keeps current.
    #[arg(
        long,
        env = "GONOGO_ADMISSION_WEBHOOK_CONFIGURATION",
        default_value = "gonogo-hold-rollouts"
    )]
    pub admission_webhook_configuration: String,
    /// The Service in front of the webhook: its DNS names go into the serving certificate.
    #[arg(
        long,
        env = "GONOGO_ADMISSION_WEBHOOK_SERVICE",
        default_value = "gonogo"
    )]
    pub admission_webhook_service: String,
    /// A further DNS name or IP address for the serving certificate. Repeatable;
    /// comma-separated in the environment variable.
    #[arg(long, env = "GONOGO_ADMISSION_WEBHOOK_HOST", value_delimiter = ',')]
    pub admission_webhook_host: Vec<String>,
    /// Lifetime of the webhook's certificate (e.g. 2160h); renewed when a third is left.
    #[arg(
        long,
        env = "GONOGO_ADMISSION_WEBHOOK_CERTIFICATE_LIFETIME",
        default_value = "2160h",
        value_parser = parse_lifetime
    )]
    pub admission_webhook_certificate_lifetime: std::time::Duration,
    /// Log format.
    #[arg(long, env = "GONOGO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// A namespace name: a DNS label (what the API server accepts as a namespace).
fn parse_namespace(value: &str) -> Result<String, String> {
    let value = value.trim();
    let label = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if label {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{value:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
        ))
    }
}

fn parse_lifetime(value: &str) -> Result<std::time::Duration, String> {
    let lifetime = value
        .parse::<jiff::SignedDuration>()
        .map_err(|e| format!("not a duration like 2160h or 30m: {e}"))?;
    std::time::Duration::try_from(lifetime)
        .ok()
        .filter(|d| *d >= std::time::Duration::from_secs(3))
        .ok_or_else(|| format!("{value} is too short: at least 3s"))
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

/// kube-client logs a whole response body when it cannot decode it (at WARN) and API error
/// bodies (at DEBUG): annotations included, where `last-applied-configuration` may hold a
/// Secret's values. Off unless `GONOGO_LOG` names `kube_client` itself; gonogo logs an
/// unreadable object by kind, name and field instead.
const NO_BODY_DUMPS: &str = "kube_client::client=error";

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let mut filter =
        EnvFilter::try_from_env("GONOGO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let names_kube_client = std::env::var("GONOGO_LOG").is_ok_and(|v| v.contains("kube_client"));
    if let (false, Ok(directive)) = (names_kube_client, NO_BODY_DUMPS.parse()) {
        filter = filter.add_directive(directive);
    }
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    init_tracing(args.log_format);
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let webhook = args.admission_webhook_port.map(|port| {
        let service = &args.admission_webhook_service;
        let namespace = &args.lease_namespace;
        let mut hosts = vec![
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
            format!("{service}.{namespace}"),
        ];
        hosts.extend(args.admission_webhook_host.iter().cloned());
        WebhookConfig {
            address: SocketAddr::from(([0, 0, 0, 0], port)),
            certificates: CertificateConfig {
                namespace: namespace.clone(),
                secret_name: args.admission_webhook_secret.clone(),
                configuration_name: args.admission_webhook_configuration.clone(),
                hosts,
                lifetime: args.admission_webhook_certificate_lifetime,
            },
        }
    });
    let config = RunConfig {
        namespaces: {
            let mut namespaces = args.namespace;
            namespaces.sort();
            namespaces.dedup();
            namespaces
        },
        metrics_address: args.metrics_address,
        concurrency: args.concurrency.max(1),
        leader_election: args.leader_election,
        lease_name: args.lease_name,
        lease_namespace: args.lease_namespace,
        identity,
        unread: [
            (
                !args.read_secrets,
                "Secret",
                "gonogo runs with --read-secrets=false, chart value readSecrets: false",
            ),
            (
                !args.read_config_maps,
                "ConfigMap",
                "gonogo runs with --read-config-maps=false, chart value readConfigMaps: false",
            ),
        ]
        .into_iter()
        .filter(|(off, _, _)| *off)
        .map(|(_, kind, why)| (kind, why.to_string()))
        .collect(),
        probe: ProbeConfig {
            concurrency: usize::from(args.probe_concurrency.max(1)),
            namespace_concurrency: usize::from(args.probe_namespace_concurrency.max(1)),
            object_concurrency: usize::from(args.probe_object_concurrency.max(1)),
            max_timeout: std::time::Duration::from_secs(args.probe_max_timeout_seconds),
            allow_cidrs: args.http_allow_cidr,
            prometheus_url: args.prometheus_url,
            ..ProbeConfig::default()
        },
        webhook,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(controller::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gonogo run failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn namespaces(args: &[&str]) -> Result<Vec<String>, String> {
        let cli =
            Cli::try_parse_from(["gonogo", "run"].iter().chain(args)).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Run(run) => Ok(run.namespace),
            _ => unreachable!(),
        }
    }

    #[test]
    fn namespaces_are_repeatable_or_comma_separated() {
        assert_eq!(namespaces(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(namespaces(&["--namespace", "shop"]).unwrap(), ["shop"]);
        assert_eq!(
            namespaces(&["--namespace", "shop,blog", "--namespace=wiki"]).unwrap(),
            ["shop", "blog", "wiki"]
        );
        assert_eq!(
            namespaces(&["--namespaces", "shop,blog"]).unwrap(),
            ["shop", "blog"]
        );
        assert!(namespaces(&["--namespace", "Shop"]).is_err());
        assert!(namespaces(&["--namespace", "shop,,blog"]).is_err());
    }
}
