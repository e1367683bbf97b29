//! Reading `gonogo check` input: files, directories (recursive) and standard input, loaded
//! one stream at a time into a [`ManifestSet`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::manifests::{
    Classified, Document, LoadError, ManifestSet, RawDocument, SetError, classify, locate,
    raw_documents, versions, yaml11,
};

/// The name standard input is reported under.
pub const STDIN: &str = "<stdin>";

/// File name endings read from directories. Files named explicitly are read whatever their name.
const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Errors are collected rather than returned at the first one, so one run reports every
/// broken document; at most this many are kept.
const MAX_ERRORS: usize = 1000;

/// A document (or file) that could not be read: the run goes on with the rest, reports it
/// with the verdicts it reached, and exits 2.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InputError {
    pub file: String,
    /// 1-based; `None` when the whole file is unreadable.
    pub line: Option<usize>,
    /// 1-based; `None` when only the document's line is known.
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl From<LoadError> for InputError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Syntax {
                file,
                line,
                column,
                message,
            } => InputError {
                file,
                line: Some(line),
                column: Some(column),
                message,
            },
            LoadError::Io { file, message } => InputError {
                file,
                line: None,
                column: None,
                message,
            },
        }
    }
}

impl From<SetError> for InputError {
    fn from(e: SetError) -> Self {
        InputError {
            file: e.file,
            line: Some(e.line),
            column: None,
            message: format!("{} {}: {}", e.kind, e.name, e.message),
        }
    }
}

/// What went wrong with the input. Usage errors (a path that does not exist, standard input
/// unreadable) stop the run; document errors do not, but still make the exit code 2.
#[derive(Debug, Default)]
pub struct InputErrors {
    pub usage: Vec<String>,
    pub documents: Vec<InputError>,
    /// Document errors beyond [`MAX_ERRORS`], counted only.
    pub more: usize,
}

impl InputErrors {
    /// A usage error: the run stops before judging.
    pub fn push(&mut self, error: impl Into<String>) {
        self.usage.push(error.into());
    }
    /// A document gonogo cannot read: reported, and the run goes on.
    pub fn document(&mut self, error: InputError) {
        if self.documents.len() < MAX_ERRORS {
            self.documents.push(error);
        } else {
            self.more += 1;
        }
    }
    pub fn is_empty(&self) -> bool {
        self.usage.is_empty() && self.documents.is_empty()
    }
}

/// One input stream, already read.
pub struct Stream {
    pub name: String,
    pub text: String,
}

/// Load every path into `set`. `-` is standard input (read once). `stdin` supplies it (tests
/// and fuzzing pass a string; the CLI reads the process's standard input).
pub fn load(
    paths: &[String],
    default_namespace: &str,
    set: &mut ManifestSet,
    stdin: &mut dyn FnMut() -> std::io::Result<String>,
    errors: &mut InputErrors,
) -> usize {
    let mut streams = 0;
    let mut stdin_read = false;
    for path in paths {
        if path == "-" {
            if stdin_read {
                continue; // `-f - -f -`: standard input is read once
            }
            stdin_read = true;
            match stdin() {
                Ok(text) => {
                    streams += 1;
                    add_stream(
                        &Stream {
                            name: STDIN.into(),
                            text,
                        },
                        default_namespace,
                        set,
                        errors,
                    );
                }
                Err(e) => errors.push(format!("{STDIN}: {e}")),
            }
            continue;
        }
        let files = match expand(Path::new(path)) {
            Ok(files) => files,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for file in files {
            let name = display(&file);
            match read_text(&file) {
                Ok(text) => {
                    streams += 1;
                    add_stream(&Stream { name, text }, default_namespace, set, errors);
                }
                Err(e) => errors.document(InputError {
                    file: name,
                    line: None,
                    column: None,
                    message: e.to_string(),
                }),
            }
        }
    }
    streams
}

/// Parse one stream and add its objects; errors are collected and the stream goes on.
///
/// Documents are split first (cheap), then parsed and typed on every core, a batch at a time
/// (memory stays flat), and inserted in input order, so the result is the same as one by one.
pub fn add_stream(
    stream: &Stream,
    default_namespace: &str,
    set: &mut ManifestSet,
    errors: &mut InputErrors,
) {
    /// Documents per thread and batch.
    const BATCH: usize = 256;
    /// Below this many documents a thread costs more than it saves.
    const PARALLEL_FROM: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let raw: Vec<RawDocument<'_>> = raw_documents(&stream.text).collect();
    let work = |docs: &[RawDocument<'_>]| -> Vec<Result<Typed, InputError>> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            match doc.parse(&stream.name) {
                Ok(parsed) => {
                    let single = parsed.len() == 1;
                    out.extend(parsed.into_iter().map(|mut d| {
                        let warning = versions::upgrade(&mut d);
                        classify_yaml11(d, default_namespace)
                            .map(|object| (object, warning))
                            .map_err(|e| located(e, doc, single))
                    }))
                }
                Err(e) => out.push(Err(e.into())),
            }
        }
        out
    };
    let work = &work;
    for batch in raw.chunks(BATCH * threads) {
        let results: Vec<Vec<Result<Typed, InputError>>> =
            if threads == 1 || batch.len() < PARALLEL_FROM {
                vec![work(batch)]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = batch
                        .chunks(batch.len().div_ceil(threads))
                        .map(|part| scope.spawn(move || work(part)))
                        .collect();
                    // A panic in a worker is a bug: let it surface as one, not as an input error.
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join()
                                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                        })
                        .collect()
                })
            };
        for result in results.into_iter().flatten() {
            match result {
                Ok((object, warning)) => {
                    set.warnings.extend(warning);
                    set.insert(object);
                }
                Err(e) => errors.document(e),
            }
        }
    }
}

/// A typed object, and the warning its API version earned (see [`versions`]).
type Typed = (Classified, Option<String>);

/// [`classify`], reading a string the YAML 1.1 way (`0644`, `yes`) where the field's type
/// wants a number or a boolean, as kubectl does (see [`yaml11`]).
fn classify_yaml11(mut doc: Document, default_namespace: &str) -> Result<Classified, SetError> {
    let mut repairs = 0;
    loop {
        match classify(&doc, default_namespace) {
            Err(e) if repairs < 64 && yaml11::repair(&mut doc.value, &e.message) => repairs += 1,
            result => return result,
        }
    }
}

/// A type error at the line and column of its field when the document's text shows where
/// (`single`: the text holds this one object, not a List or several JSON values).
fn located(e: SetError, doc: &RawDocument<'_>, single: bool) -> InputError {
    let path = e
        .message
        .split_once(": ")
        .map(|(p, _)| p)
        .filter(|p| !p.contains(' '));
    let at = match path {
        Some(path) if single => {
            let (text, line) = doc.text();
            locate(text, line, path)
        }
        _ => None,
    };
    let mut error = InputError::from(e);
    if let Some((line, column)) = at {
        error.line = Some(line);
        error.column = Some(column);
    }
    error
}

/// Read standard input of the process.
pub fn read_stdin() -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error()))
}

fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error()))
}

fn not_utf8(e: std::str::Utf8Error) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ),
    )
}

/// The files a path stands for: itself, or the manifests under a directory (recursively,
/// sorted, hidden entries skipped, symlinked directories followed once).
fn expand(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", display(path)))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    walk(path, &mut files, &mut seen)?;
    if files.is_empty() {
        return Err(format!(
            "{}: no *.yaml, *.yml or *.json files in this directory",
            display(path)
        ));
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, seen: &mut BTreeSet<PathBuf>) -> Result<(), String> {
    // Symlink loops: visit each real directory once.
    if let Ok(real) = std::fs::canonicalize(dir)
        && !seen.insert(real)
    {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", display(dir)))?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, files, seen)?;
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// Paths as the user wrote them, without a leading `./`.
fn display(path: &Path) -> String {
    let s = path.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

/// `--assume-present KIND/NAME`: the Kubernetes kind name for the accepted spellings (kubectl's:
/// kind, plural or short name, any case).
pub fn parse_assumption(value: &str) -> Result<(String, String), String> {
    let Some((kind, name)) = value.split_once('/') else {
        return Err(format!(
            "--assume-present {value:?}: expected KIND/NAME, e.g. secret/api-keys or configmap/*"
        ));
    };
    // The related kinds of the table in `engine/snapshot.rs`, and two kinds outside it.
    let related = crate::engine::related::kinds();
    let kind = match kind.to_ascii_lowercase().as_str() {
        "serviceaccount" | "serviceaccounts" | "sa" => "ServiceAccount",
        "readinessapproval" | "readinessapprovals" | "approval" => "ReadinessApproval",
        other => match related.iter().find(|k| k.is_named(other)) {
            Some(k) => k.kind,
            None => {
                let mut known: Vec<&str> = related
                    .iter()
                    .map(|k| k.short_names.first().copied().unwrap_or(k.plural))
                    .collect();
                known.extend(["serviceaccount", "readinessapproval"]);
                return Err(format!(
                    "--assume-present {value:?}: unknown kind {other:?} (one of {})",
                    known.join(", ")
                ));
            }
        },
    };
    if name.is_empty() || name.contains('/') {
        return Err(format!(
            "--assume-present {value:?}: expected one name after the kind (or * for any)"
        ));
    }
    Ok((kind.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumptions_use_the_kubernetes_kind_name() {
        assert_eq!(
            parse_assumption("secret/api-keys").unwrap(),
            ("Secret".into(), "api-keys".into())
        );
        assert_eq!(
            parse_assumption("PVC/data").unwrap(),
            ("PersistentVolumeClaim".into(), "data".into())
        );
        assert_eq!(
            parse_assumption("ConfigMap/*").unwrap(),
            ("ConfigMap".into(), "*".into())
        );
        assert!(
            parse_assumption("api-keys")
                .unwrap_err()
                .contains("expected KIND/NAME")
        );
        assert!(
            parse_assumption("widget/x")
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!(parse_assumption("secret/").is_err());
    }

    #[test]
    fn directories_are_walked_in_order_and_hidden_entries_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/.hidden")).unwrap();
        std::fs::write(dir.path().join("b/z.yml"), "").unwrap();
        std::fs::write(dir.path().join("b/.hidden/x.yaml"), "").unwrap();
        std::fs::write(dir.path().join("a.json"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let files = expand(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.json", "b/z.yml"]);
        std::fs::remove_file(dir.path().join("a.json")).unwrap();
        std::fs::remove_file(dir.path().join("b/z.yml")).unwrap();
        assert!(expand(dir.path()).unwrap_err().contains("no *.yaml"));
    }
}
