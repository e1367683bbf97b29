//! The engine judges; it never fetches. Client, runtime and HTTP crates stay out of it so the
//! controller and the CLI are forced to gather everything into a Snapshot first.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn engine_and_checks_use_no_client_runtime_or_http_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root.join("engine"), &mut files);
    rust_files(&root.join("checks"), &mut files);
    assert!(
        files.len() > 20,
        "expected the engine and check files, found {}",
        files.len()
    );
    let forbidden = [
        "kube::Client",
        "kube::Api",
        "kube::runtime",
        "kube_runtime",
        "kube::api::Api",
        "tokio",
        "reqwest",
        "std::net",
        "std::fs",
        "hyper",
    ];
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden {
                if line.contains(word) {
                    offences.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the engine must stay pure:\n{}",
        offences.join("\n")
    );
}
