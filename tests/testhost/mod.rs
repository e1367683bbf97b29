//! A test host for `http` gates: a network namespace joined to this machine by a veth pair,
//! with a small HTTP server of ours running inside it.
//!
//! The API server refuses loopback and link-local addresses in EndpointSlices, so a probe
//! target on 127.0.0.1 cannot be described to the operator. A network namespace gives the
//! server its own address in TEST-NET-2 (198.51.100.0/24, RFC 5737): the host side of the veth
//! pair is 198.51.100.(4k+1)/30 and the server listens on 198.51.100.(4k+2), one /30 per host
//! so tests (and test processes) run side by side. A selector-less Service with a hand-written
//! EndpointSlice then points at the server, and the operator reaches it when started with
//! `--http-allow-cidr 198.51.100.0/24` ([`ALLOW_CIDR`]). (Not TEST-NET-1: the CI machine's own
//! network is 192.0.2.0/24. A range already routed on the machine is refused, not shadowed.)
//!
//! The server is this very test binary, run again inside the namespace (`ip netns exec`) as
//! the ignored test `testhost::server_entry`, so no other program is needed. It serves:
//! - `/status/N`: status N;
//! - `/slow/S`: 200 after S seconds;
//! - `/secret`: 500 whose reason phrase, headers and body carry [`SECRET`];
//! - `/secret-ok`: 200 with [`SECRET`] and `healthy` in the body;
//! - `/garbage`: [`SECRET`] instead of an HTTP answer;
//! - `/redirect`: 302 to `/landed` (which a probe must never follow);
//! - `/_hits`: the number of requests per path so far, as `path count` lines.
//!
//! Besides, [`TestHost::serving`] gives it [`Route`]s: fixed answers (status and body) to a
//! request target on a port of the test's choosing, so one host can stand for several
//! Services, each answering what a system's endpoint would. A route's hits are counted as
//! `:port/path` ([`Route::hits_key`]).
//!
//! Creating a network namespace needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN); without it the
//! tests fail saying so. Namespaces are named `gonogo-test-<pid>-<n>`: each host removes its
//! own on drop, and leftovers of processes that are gone are removed by the next run.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the operator must allow (`--http-allow-cidr`) to reach test hosts.
pub const ALLOW_CIDR: &str = "198.51.100.0/24";
const NET: [u8; 3] = [198, 51, 100];
/// The port the server listens on; nothing listens on [`CLOSED_PORT`].
pub const PORT: u16 = 8080;
pub const CLOSED_PORT: u16 = 8081;
/// A secret-looking string the server puts in answers: it must never leave the prober.
pub const SECRET: &str = "password=hunter2-SECRET";

const NETNS_PREFIX: &str = "gonogo-test-";
/// Tells the re-run test binary to serve on this address.
const SERVE_ENV: &str = "GONOGO_TESTHOST_SERVE";
/// The re-run test binary's [`Route`]s, as JSON.
const ROUTES_ENV: &str = "GONOGO_TESTHOST_ROUTES";

/// A fixed answer of the server: `status` and `body` to any request for `path` (the request
/// target as sent, query included) on `port`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub port: u16,
    pub path: String,
    pub status: u16,
    pub body: String,
}

impl Route {
    /// How [`TestHost::hits`] names this route's requests.
    pub fn hits_key(&self) -> String {
        format!(":{}{}", self.port, self.path)
    }
}

pub struct TestHost {
    netns: String,
    /// The host side of the veth pair (its address is `gateway`).
    pub gateway: Ipv4Addr,
    /// The server's address, inside the namespace.
    pub address: Ipv4Addr,
    server: Option<Child>,
}

fn ip_tool() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the live gates tests need iproute2 (`ip`, e.g. apt-get install iproute2) to create a test network namespace"))
}

/// Runs `ip args`; `Err(stderr)` when it fails.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new(ip_tool())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn need_root(error: String) -> ! {
    panic!(
        "cannot create the test network namespace: {error}\n\
         The http gate tests (tests/live_gates_e2e.rs, tests/seed_http_gates_e2e.rs) run an HTTP \
         server in a network namespace joined by a veth pair, which needs root (CAP_NET_ADMIN and \
         CAP_SYS_ADMIN): run them as root, as CI does (sudo -E cargo test --test live_gates_e2e)."
    )
}

/// Removes the namespaces of test processes that are gone (a crashed or killed run).
fn remove_leftovers() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = ip(&["netns", "delete", name]);
        }
    }
}

/// Whether an address or prefix (`a.b.c.d[/len]`) overlaps [`NET`]; a default route does not count.
fn overlaps_net(prefix: &str) -> bool {
    let (address, len) = match prefix.split_once('/') {
        Some((a, len)) => (a, len.parse::<u32>().unwrap_or(32)),
        None => (prefix, 32),
    };
    let Ok(address) = address.parse::<Ipv4Addr>() else {
        return false;
    };
    let bits = len.min(24);
    bits > 0
        && (u32::from(address) ^ u32::from(Ipv4Addr::new(NET[0], NET[1], NET[2], 0))) >> (32 - bits)
            == 0
}

/// The addresses of [`NET`] in use on this machine by our test hosts (interfaces `gn…`);
/// panics when anything else routes the range, rather than shadow it.
fn used_addresses() -> BTreeSet<Ipv4Addr> {
    const ROUTE_TYPES: [&str; 10] = [
        "unicast",
        "local",
        "broadcast",
        "multicast",
        "anycast",
        "unreachable",
        "blackhole",
        "prohibit",
        "throw",
        "nat",
    ];
    for route in ip(&["-o", "-4", "route", "show", "table", "all"])
        .unwrap_or_default()
        .lines()
    {
        let words: Vec<&str> = route.split_whitespace().collect();
        let ours = words
            .windows(2)
            .any(|w| w[0] == "dev" && w[1].starts_with("gn"));
        let destination = words
            .iter()
            .find(|w| !ROUTE_TYPES.contains(w))
            .copied()
            .unwrap_or_default();
        let via_or_src = words
            .windows(2)
            .any(|w| matches!(w[0], "via" | "src") && overlaps_net(w[1]));
        if !ours && (overlaps_net(destination) || via_or_src) {
            panic!(
                "{}.0/24 is in use on this machine ({route}); the live gates test hosts need that range unrouted",
                NET.map(|o| o.to_string()).join(".")
            );
        }
    }
    ip(&["-o", "-4", "addr", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse::<Ipv4Addr>().ok()
        })
        .filter(|a| a.octets()[..3] == NET)
        .collect()
}

impl TestHost {
    /// Creates the namespace and veth pair and starts the server; panics with what is needed
    /// when that is not possible.
    pub fn start() -> TestHost {
        TestHost::serving(&[])
    }

    /// [`TestHost::start`], the server also answering `routes` (on their ports, before its
    /// own paths on [`PORT`]).
    pub fn serving(routes: &[Route]) -> TestHost {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let netns = format!("{NETNS_PREFIX}{pid}-{n}");
        // Interface names have at most 15 characters.
        let veth = format!("gn{pid}h{n}");
        let peer = format!("gn{pid}n{n}");

        remove_leftovers();
        if let Err(e) = ip(&["netns", "add", &netns]) {
            need_root(e);
        }
        let mut host = TestHost {
            netns: netns.clone(),
            gateway: Ipv4Addr::UNSPECIFIED,
            address: Ipv4Addr::UNSPECIFIED,
            server: None,
        };
        if let Err(e) = ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &netns,
        ]) {
            need_root(e);
        }

        // One /30 per host: choose a free one under a lock shared by every test process.
        let lock_path = std::env::temp_dir().join("gonogo-testhost.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .expect("testhost lock file");
        lock.lock().expect("locking the testhost lock file");
        let used = used_addresses();
        let at = |k: u8, n: u8| Ipv4Addr::new(NET[0], NET[1], NET[2], 4 * k + n);
        let slot = (0u8..64)
            .find(|k| !used.contains(&at(*k, 1)) && !used.contains(&at(*k, 2)))
            .expect("every /30 of the test hosts' range is in use on this machine");
        host.gateway = at(slot, 1);
        host.address = at(slot, 2);
        let setup = [
            vec![
                "addr".to_string(),
                "add".into(),
                format!("{}/30", host.gateway),
                "dev".into(),
                veth.clone(),
            ],
            vec!["link".into(), "set".into(), veth.clone(), "up".into()],
            vec![
                "-n".into(),
                netns.clone(),
                "addr".into(),
                "add".into(),
                format!("{}/30", host.address),
                "dev".into(),
                peer.clone(),
            ],
            vec![
                "-n".into(),
                netns.clone(),
                "link".into(),
                "set".into(),
                peer.clone(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                netns.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        for args in setup {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(e) = ip(&args) {
                need_root(e);
            }
        }
        drop(lock);

        let exe = std::env::current_exe().expect("the test binary's path");
        let server = Command::new(ip_tool())
            .args(["netns", "exec", &netns])
            .arg(exe)
            .args([
                "testhost::server_entry",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVE_ENV, format!("{}:{PORT}", host.address))
            .env(
                ROUTES_ENV,
                serde_json::to_string(routes).expect("routes as JSON"),
            )
            // The server exits when this pipe closes, i.e. when this process is gone.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the test host's server: {e}"));
        host.server = Some(server);
        let deadline = Instant::now() + Duration::from_secs(30);
        while host.hits().is_none() {
            assert!(
                Instant::now() < deadline,
                "the test host's server on {}:{PORT} did not answer within 30s",
                host.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        host
    }

    /// The requests the server saw, by path (`None` when it does not answer).
    pub fn hits(&self) -> Option<BTreeMap<String, u64>> {
        let addr = SocketAddr::from((self.address, PORT));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"GET /_hits HTTP/1.0\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (_, body) = response.split_once("\r\n\r\n")?;
        Some(
            body.lines()
                .filter_map(|l| l.rsplit_once(' '))
                .filter_map(|(path, count)| Some((path.to_string(), count.parse().ok()?)))
                .collect(),
        )
    }

    pub fn hits_of(&self, path: &str) -> u64 {
        self.hits()
            .unwrap_or_default()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = ip(&["netns", "delete", &self.netns]);
    }
}

// ------------------------------------------------------------------ server

/// Not a test: the entry point of the test host's server, which [`TestHost::start`] runs in
/// its network namespace by running this test binary again. Does nothing when run otherwise.
#[test]
#[ignore = "the test host's HTTP server, started by TestHost inside its network namespace"]
fn server_entry() {
    let Some(address) = std::env::var_os(SERVE_ENV) else {
        return;
    };
    let address = address.to_string_lossy().into_owned();
    let routes: Vec<Route> = std::env::var(ROUTES_ENV)
        .ok()
        .map(|json| serde_json::from_str(&json).expect("test host routes"))
        .unwrap_or_default();
    serve(&address, routes);
}

fn serve(address: &str, routes: Vec<Route>) {
    let bind = |address: &str| {
        TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("test host server: cannot listen on {address}: {e}"))
    };
    let hits: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let routes = Arc::new(routes);
    // The routes' ports listen before the main one answers, so a host that answers `/_hits`
    // answers its routes too.
    let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
    let ports: BTreeSet<u16> = routes
        .iter()
        .map(|r| r.port)
        .filter(|p| *p != PORT)
        .collect();
    for port in ports {
        let listener = bind(&format!("{ip}:{port}"));
        let (hits, routes) = (hits.clone(), routes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (hits, routes) = (hits.clone(), routes.clone());
                std::thread::spawn(move || answer(stream, port, &routes, &hits));
            }
        });
    }
    let listener = bind(address);
    // Exit when the test process is gone (its end of the stdin pipe closes).
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    for stream in listener.incoming().flatten() {
        let (hits, routes) = (hits.clone(), routes.clone());
        std::thread::spawn(move || answer(stream, PORT, &routes, &hits));
    }
}

fn answer(mut stream: TcpStream, port: u16, routes: &[Route], hits: &Mutex<BTreeMap<String, u64>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Headers, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let route = routes.iter().find(|r| r.port == port && r.path == path);
    let key = match route {
        Some(route) => Some(route.hits_key()),
        None if port != PORT => Some(format!(":{port}{path}")),
        None => Some(path.clone()).filter(|p| p != "/_hits"),
    };
    if let Some(key) = key {
        *hits.lock().unwrap().entry(key).or_default() += 1;
    }
    let response = |status: &str, headers: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    };
    if let Some(route) = route {
        let text = response(&format!("{} Test", route.status), "", &route.body);
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.flush();
        return;
    }
    if port != PORT {
        let _ = stream.write_all(response("404 Not Found", "", "no route\n").as_bytes());
        let _ = stream.flush();
        return;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let text = match segments.as_slice() {
        ["status", code] => response(&format!("{code} Test"), "", &format!("status {code}\n")),
        ["slow", seconds] => {
            std::thread::sleep(Duration::from_secs(seconds.parse().unwrap_or(30)));
            response("200 OK", "", "slow\n")
        }
        ["secret"] => response(
            &format!("500 {SECRET}"),
            &format!("x-debug: {SECRET}\r\nset-cookie: session={SECRET}\r\n"),
            &format!("internal error, {SECRET}\n"),
        ),
        ["secret-ok"] => response("200 OK", "", &format!("healthy; config dump: {SECRET}\n")),
        ["garbage"] => format!("{SECRET}\r\n\r\n{SECRET}"),
        ["redirect"] => response("302 Found", "location: /landed\r\n", ""),
        ["_hits"] => {
            let body: String = hits
                .lock()
                .unwrap()
                .iter()
                .map(|(p, n)| format!("{p} {n}\n"))
                .collect();
            response("200 OK", "", &body)
        }
        _ => response("404 Not Found", "", "not found\n"),
    };
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}
