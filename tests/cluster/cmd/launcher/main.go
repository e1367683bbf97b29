// Command launcher runs a throwaway Kubernetes control plane on loopback for
// gonogo's integration tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (fake nodes whose pods become Running and Ready).
//
// It generates a CA, serving and client certificates and service-account
// keys, picks free ports, writes an admin kubeconfig to <dir>/kubeconfig,
// waits until /readyz passes, the fake nodes are Ready and the controller
// manager has created the default ServiceAccount, then prints
//
//	READY kubeconfig=<dir>/kubeconfig server=https://127.0.0.1:<port>
//
// on stdout. It tears everything down (children first, then <dir>) when its
// stdin reaches EOF, when its parent dies, on SIGTERM, SIGINT or SIGHUP, and
// when any component exits on its own. Children get PR_SET_PDEATHSIG=SIGKILL,
// so not even a SIGKILL of the launcher leaves them running.
//
// The other binaries are looked up next to the launcher (see --bin).
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed stages.yaml
var kwokStages []byte

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1" // first address of serviceCIDR: the kubernetes Service
	podCIDR     = "10.244.0.0/16"
	issuer      = "https://kubernetes.default.svc.cluster.local"
)

func init() {
	// PR_SET_PDEATHSIG fires when the *thread* that forked a child exits.
	// Pinning the main goroutine to the main thread and starting every child
	// from it ties the children's lives to the process, not to a Go thread.
	runtime.LockOSThread()
}

type options struct {
	dir        string
	bin        string
	nodes      int
	zones      []string
	keep       bool
	watchStdin bool
	verbose    bool
	timeout    time.Duration
}

func main() {
	var o options
	var zones string
	flag.StringVar(&o.dir, "dir", "", "working directory (certs, etcd data, logs, kubeconfig); default: a new temporary directory, removed on exit")
	flag.StringVar(&o.bin, "bin", "", "directory holding etcd, kube-apiserver, ... (default: the launcher's own directory)")
	flag.IntVar(&o.nodes, "nodes", 3, "number of kwok fake nodes")
	flag.StringVar(&zones, "zones", "zone-a,zone-b,zone-c", "comma-separated zones; node i gets zone i mod len(zones)")
	flag.BoolVar(&o.keep, "keep", os.Getenv("GONOGO_CLUSTER_KEEP") != "", "keep the working directory on exit (also: env GONOGO_CLUSTER_KEEP=1)")
	flag.BoolVar(&o.watchStdin, "watch-stdin", true, "shut down when stdin reaches EOF (set false when stdin is /dev/null)")
	flag.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up if the control plane is not ready by then")
	flag.Parse()
	o.zones = strings.Split(zones, ",")

	// Die with the parent even if it never closes our stdin. The launcher
	// itself may be started from a short-lived thread (e.g. a test thread):
	// callers should start it from a thread that lives as long as they do.
	ppid := os.Getppid()
	_ = setPdeathsig(syscall.SIGTERM)
	if os.Getppid() != ppid {
		os.Exit(1) // parent already gone
	}

	os.Exit(run(o))
}

func run(o options) int {
	start := time.Now()
	logf := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, "launcher [%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "launcher: %s\n", fmt.Sprintf(format, args...))
	}

	if o.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			fail("cannot find my own executable: %v", err)
			return 1
		}
		o.bin = filepath.Dir(exe)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			fail("%s not found in %s: build the control plane with tests/cluster/build.sh", b, o.bin)
			return 1
		}
	}

	removeDir := !o.keep
	if o.dir == "" {
		d, err := os.MkdirTemp("", "gonogo-cluster-")
		if err != nil {
			fail("%v", err)
			return 1
		}
		o.dir = d
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		fail("%v", err)
		return 1
	} else {
		o.dir, _ = filepath.Abs(o.dir)
	}

	sup := newSupervisor(o.dir, logf)
	// Everything that should end the launcher funnels into done.
	done := make(chan string, 8)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() { s := <-sigs; done <- "signal " + s.String() }()
	if o.watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			done <- "stdin closed"
		}()
	}
	go func() { done <- <-sup.exited }()

	code := 0
	if err := startCluster(o, sup, logf, done); err != nil {
		signal.Reset()
		fail("%v", err)
		code = 1
	} else {
		logf("ready in %.1fs", time.Since(start).Seconds())
		fmt.Printf("READY kubeconfig=%s server=%s\n", filepath.Join(o.dir, "kubeconfig"), sup.server)
		os.Stdout.Sync()
		reason := <-done
		// A second signal during teardown ends the launcher at once; the
		// children still die through their PR_SET_PDEATHSIG.
		signal.Reset()
		logf("shutting down: %s", reason)
		if strings.HasPrefix(reason, "exited ") {
			fail("%s", reason)
			code = 1
		}
	}
	sup.stopAll()
	if code != 0 {
		sup.dumpLogs(os.Stderr)
		if removeDir {
			fmt.Fprintf(os.Stderr, "launcher: rerun with GONOGO_CLUSTER_KEEP=1 to keep %s\n", o.dir)
		}
	}
	if removeDir {
		_ = os.RemoveAll(o.dir)
	} else {
		fmt.Fprintf(os.Stderr, "launcher: kept %s\n", o.dir)
	}
	return code
}

// startCluster brings the control plane up step by step; it returns early
// with an error if anything arrives on done (a signal, stdin EOF, a crash).
func startCluster(o options, sup *supervisor, logf func(string, ...any), done <-chan string) error {
	deadline := time.Now().Add(o.timeout)
	pki := filepath.Join(o.dir, "pki")
	for _, d := range []string{pki, filepath.Join(o.dir, "logs"), filepath.Join(o.dir, "etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	sup.server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	ca, err := writePKI(pki)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	p := func(name string) string { return filepath.Join(pki, name) }
	kubeconfigs := map[string][2]string{ // file -> client cert pair
		"kubeconfig":                         {"admin.crt", "admin.key"},
		"kube-controller-manager.kubeconfig": {"kube-controller-manager.crt", "kube-controller-manager.key"},
		"kube-scheduler.kubeconfig":          {"kube-scheduler.crt", "kube-scheduler.key"},
	}
	for file, pair := range kubeconfigs {
		if err := writeKubeconfig(filepath.Join(o.dir, file), sup.server, ca.certPEM, p(pair[0]), p(pair[1])); err != nil {
			return err
		}
	}
	stages := filepath.Join(o.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(o.bin, name) }

	logf("starting etcd on %s", etcdClient)
	if err := sup.start("etcd", bin("etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(o.dir, "etcd"),
		"--listen-client-urls="+etcdClient,
		"--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer,
		"--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=default="+etcdPeer,
		"--unsafe-no-fsync",
		"--snapshot-count=100000",
		"--log-level=warn",
	); err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitFor("etcd /health", deadline, done, func() (bool, error) {
		return httpOK(plain, etcdClient+"/health")
	}); err != nil {
		return err
	}

	logf("starting kube-apiserver on %s", sup.server)
	if err := sup.start("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers="+etcdClient,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+pki,
		"--tls-cert-file="+p("apiserver.crt"),
		"--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--service-account-issuer="+issuer,
		"--service-account-key-file="+p("sa.pub"),
		"--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--v=1",
	); err != nil {
		return err
	}
	admin, err := adminClient(pki)
	if err != nil {
		return err
	}
	if err := waitFor("kube-apiserver /readyz", deadline, done, func() (bool, error) {
		return httpOK(admin, sup.server+"/readyz")
	}); err != nil {
		return err
	}

	logf("starting kube-controller-manager, kube-scheduler, kwok")
	if err := sup.start("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+filepath.Join(o.dir, "kube-controller-manager.kubeconfig"),
		"--secure-port=0",
		"--leader-elect=false",
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+p("sa.key"),
		"--root-ca-file="+p("ca.crt"),
		"--cluster-signing-cert-file="+p("ca.crt"),
		"--cluster-signing-key-file="+p("ca.key"),
		"--service-cluster-ip-range="+serviceCIDR,
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--pvclaimbinder-sync-period=5s",
		"--profiling=false",
		"--v=1",
	); err != nil {
		return err
	}
	if err := sup.start("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+filepath.Join(o.dir, "kube-scheduler.kubeconfig"),
		"--secure-port=0",
		"--leader-elect=false",
		"--profiling=false",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--v=1",
	); err != nil {
		return err
	}
	if err := sup.start("kwok", bin("kwok"),
		"--kubeconfig="+filepath.Join(o.dir, "kubeconfig"),
		"--config="+stages,
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40",
		"--cidr="+podCIDR,
		"--node-ip=127.0.0.1",
	); err != nil {
		return err
	}

	for i := 0; i < o.nodes; i++ {
		if err := createNode(admin, sup.server, i, o.zones[i%len(o.zones)]); err != nil {
			return err
		}
	}
	if err := waitFor(fmt.Sprintf("%d kwok node(s) Ready", o.nodes), deadline, done, func() (bool, error) {
		return nodesReady(admin, sup.server, o.nodes)
	}); err != nil {
		return err
	}
	// The controller manager is working once it has created the default
	// ServiceAccount; pods cannot be admitted before that.
	return waitFor("ServiceAccount default/default", deadline, done, func() (bool, error) {
		return httpOK(admin, sup.server+"/api/v1/namespaces/default/serviceaccounts/default")
	})
}

// ---------------------------------------------------------------- processes

type supervisor struct {
	dir    string
	server string
	logf   func(string, ...any)
	mu     sync.Mutex
	procs  []*proc
	exited chan string
	// stopping is closed once teardown starts, so deaths caused by it are
	// not reported as crashes.
	stopping chan struct{}
	crashed  string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func newSupervisor(dir string, logf func(string, ...any)) *supervisor {
	return &supervisor{dir: dir, logf: logf, exited: make(chan string, 16), stopping: make(chan struct{})}
}

func (s *supervisor) start(name, path string, args ...string) error {
	logPath := filepath.Join(s.dir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "HOME="+s.dir) // kwok and friends write caches under $HOME
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true, // own process group: teardown signals the whole group
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	logFile.Close()
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		close(p.done)
		select {
		case <-s.stopping:
		default:
			s.mu.Lock()
			if s.crashed == "" {
				s.crashed = name
			}
			s.mu.Unlock()
			s.exited <- fmt.Sprintf("exited %s: %v (log: %s)", name, err, logPath)
		}
	}()
	return nil
}

// stopAll kills every component's process group, newest first, and waits
// for them to exit. SIGKILL, not SIGTERM: the cluster is thrown away, and a
// graceful kube-apiserver shutdown can hang once etcd is gone.
func (s *supervisor) stopAll() {
	close(s.stopping)
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = syscall.Kill(-procs[i].cmd.Process.Pid, syscall.SIGKILL)
	}
	timeout := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-timeout:
			fmt.Fprintf(os.Stderr, "launcher: %s (pid %d) did not exit after SIGKILL\n", p.name, p.cmd.Process.Pid)
			return
		}
	}
}

// dumpLogs prints the tail of the crashed component's log (or of every log
// when nothing crashed but startup failed).
func (s *supervisor) dumpLogs(w io.Writer) {
	s.mu.Lock()
	crashed := s.crashed
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		if crashed != "" && p.name != crashed {
			continue
		}
		data, err := os.ReadFile(p.log)
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(w, "---- last lines of %s ----\n%s\n", p.name, strings.Join(lines, "\n"))
	}
}

func setPdeathsig(sig syscall.Signal) error {
	const prSetPdeathsig = 1
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(sig), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitFor(what string, deadline time.Time, done <-chan string, check func() (bool, error)) error {
	var last error
	for {
		ok, err := check()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out waiting for %s: %v", what, last)
			}
			return fmt.Errorf("timed out waiting for %s", what)
		}
		select {
		case reason := <-done:
			return fmt.Errorf("while waiting for %s: %s", what, reason)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------- API calls

func httpOK(c *http.Client, url string) (bool, error) {
	resp, err := c.Get(url)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, firstLine(body))
	}
	return true, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func adminClient(pki string) (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
		}},
	}, nil
}

func createNode(c *http.Client, server string, i int, zone string) error {
	name := fmt.Sprintf("kwok-node-%d", i)
	resources := map[string]string{"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
	node := map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name": name,
			"annotations": map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			"labels": map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"topology.kubernetes.io/zone":   zone,
				"topology.kubernetes.io/region": "local",
				"type":                          "kwok",
			},
		},
		"status": map[string]any{"capacity": resources, "allocatable": resources},
	}
	body, _ := json.Marshal(node)
	resp, err := c.Post(server+"/api/v1/nodes", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("creating node %s: %s: %s", name, resp.Status, firstLine(msg))
	}
	return nil
}

func nodesReady(c *http.Client, server string, want int) (bool, error) {
	resp, err := c.Get(server + "/api/v1/nodes")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&list); err != nil {
		return false, err
	}
	ready := 0
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ready++
			}
		}
	}
	if ready < want {
		return false, fmt.Errorf("%d of %d nodes Ready", ready, want)
	}
	return true, nil
}

// ---------------------------------------------------------------- PKI

type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// writePKI writes a CA, the apiserver's serving certificate, client
// certificates for the admin (system:masters) and the two control-plane
// components, and the service-account signing key pair. ECDSA P-256
// throughout: generating it takes microseconds.
func writePKI(dir string) (*keyPair, error) {
	now := time.Now().Add(-time.Hour)
	ca, err := newCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gonogo-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	})
	if err != nil {
		return nil, err
	}
	if err := writePair(dir, "ca", ca); err != nil {
		return nil, err
	}
	serving, err := newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(serviceIP)},
	})
	if err != nil {
		return nil, err
	}
	if err := writePair(dir, "apiserver", serving); err != nil {
		return nil, err
	}
	clients := map[string]pkix.Name{
		"admin":                   {CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		"kube-controller-manager": {CommonName: "system:kube-controller-manager"},
		"kube-scheduler":          {CommonName: "system:kube-scheduler"},
	}
	for file, subject := range clients {
		kp, err := newCert(ca, &x509.Certificate{
			Subject:     subject,
			NotBefore:   now,
			NotAfter:    now.Add(365 * 24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return nil, err
		}
		if err := writePair(dir, file, kp); err != nil {
			return nil, err
		}
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, "sa.key"), sa); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

func newCert(parent *keyPair, tmpl *x509.Certificate) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func writePair(dir, name string, kp *keyPair) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM, 0o644); err != nil {
		return err
	}
	return writeKey(filepath.Join(dir, name+".key"), kp.key)
}

// writeKey writes PKCS#8, which every client (Go, rustls, openssl) reads.
func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeKubeconfig writes a self-contained kubeconfig (certificates inline).
func writeKubeconfig(path, server string, caPEM []byte, certFile, keyFile string) error {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gonogo-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: gonogo-test
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: gonogo-test
  context:
    cluster: gonogo-test
    user: gonogo-test
    namespace: default
current-context: gonogo-test
`, server, b64(caPEM), b64(certPEM), b64(keyPEM))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	return nil
}
