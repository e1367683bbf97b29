//! `crds/` is generated from the API types; this fails when they drift apart.
//! Regenerate with `cargo run -- crds --output-dir crds`.

use std::path::Path;

#[test]
fn committed_crds_match_the_api_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let generated = gonogo::api::crd_files().expect("CRDs serialize");
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    committed.sort();
    let mut expected: Vec<String> = generated.iter().map(|(f, _)| f.clone()).collect();
    expected.sort();
    assert_eq!(
        committed, expected,
        "crds/ holds other files than the generator writes; run `cargo run -- crds --output-dir crds`"
    );
    for (file, yaml) in generated {
        let on_disk = std::fs::read_to_string(dir.join(&file)).unwrap();
        assert!(
            on_disk == yaml,
            "crds/{file} is stale; run `cargo run -- crds --output-dir crds`"
        );
    }
}

/// kubectl and Helm read YAML 1.1, where a bare `on`, `off`, `yes`, `no`, `y` or `n` is a
/// boolean: a field of that name would turn into `true` in the schema's `required` list.
#[test]
fn no_field_name_is_a_yaml_1_1_boolean() {
    const WORDS: [&str; 6] = ["on", "off", "yes", "no", "y", "n"];
    for (file, yaml) in gonogo::api::crd_files().unwrap() {
        for line in yaml.lines() {
            let t = line.trim();
            let word = t.strip_prefix("- ").unwrap_or(t).trim_end_matches(':');
            assert!(
                !WORDS.contains(&word.to_ascii_lowercase().as_str()),
                "{file}: `{t}` reads as a boolean in YAML 1.1"
            );
        }
    }
}

/// Check parameters are strict (`#[serde(deny_unknown_fields)]` offline); the schema must not
/// keep unknown fields either, so a misspelled parameter is refused (kubectl's strict field
/// validation) rather than kept and ignored.
#[test]
fn no_schema_keeps_unknown_fields() {
    for (file, yaml) in gonogo::api::crd_files().unwrap() {
        assert!(
            !yaml.contains("x-kubernetes-preserve-unknown-fields: true"),
            "{file} keeps unknown fields somewhere"
        );
    }
}
