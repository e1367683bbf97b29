//! Argo CD health check of DeploymentReadiness (`deploy/argocd/health.lua`): runs the Go test
//! module `tests/argocd`, which executes the Lua with gopher-lua (as Argo CD does) over the cases
//! of `deploy/argocd/health_test.yaml`.

use std::path::Path;
use std::process::Command;

#[test]
fn argocd_health_lua_passes_its_cases() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argocd");
    let out = match Command::new("go").args(["test", "-count=1", "./..."]).current_dir(&module).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`go` is not on PATH: the Argo CD health check tests run in Go (gopher-lua, as Argo CD does). \
             Install Go >= 1.26 (https://go.dev/dl/) or run the suite through tests/run.sh"
        ),
        Err(e) => panic!("cannot run `go test` in {}: {e}", module.display()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`go test ./...` in tests/argocd failed ({}):\n{stdout}{stderr}", out.status);
}
