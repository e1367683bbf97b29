//! Argo CD health check of DeploymentReadiness (`deploy/argocd/health.lua`): runs the Go test
//! module `tests/argocd`, which executes the Lua with gopher-lua (as Argo CD does) over the cases
//! of `deploy/argocd/health_test.yaml`.

use std::path::Path;
use std::process::Command;

#[test]
fn argocd_health_lua_passes_its_cases() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argocd");
    let out = match Command::new("go")
        .args(["test", "-count=1", "./..."])
        .current_dir(&module)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`go` is not on PATH: the Argo CD health check tests run in Go (gopher-lua, as Argo CD does). \
             Install Go >= 1.26 (https://go.dev/dl/) or run the suite through tests/run.sh"
        ),
        Err(e) => panic!("cannot run `go test` in {}: {e}", module.display()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`go test ./...` in tests/argocd failed ({}):\n{stdout}{stderr}",
        out.status
    );
}

/// docs/argocd.md shows the script inline for argocd-cm; it must be the shipped one.
#[test]
fn the_documented_argocd_cm_snippet_is_the_shipped_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("deploy/argocd/health.lua")).unwrap();
    let shipped: Vec<&str> = script.lines().skip_while(|l| l.starts_with("--")).collect();
    let docs = std::fs::read_to_string(root.join("docs/argocd.md")).unwrap();
    let key = "resource.customizations.health.gonogo.dev_DeploymentReadiness: |";
    let start = docs
        .find(key)
        .expect("docs/argocd.md has the argocd-cm key")
        + key.len();
    let documented: Vec<String> = docs[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l).to_string())
        .collect();
    let trim = |v: Vec<String>| {
        let mut v = v;
        while v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
        v
    };
    assert_eq!(
        trim(documented),
        trim(shipped.iter().map(|s| s.to_string()).collect()),
        "docs/argocd.md's argocd-cm snippet differs from deploy/argocd/health.lua"
    );
}
