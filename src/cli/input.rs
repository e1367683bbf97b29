//! Reading `gonogo check` input: files, directories (recursive) and standard input, loaded
//! one stream at a time into a [`ManifestSet`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::manifests::{
    Classified, Document, LoadError, ManifestSet, RawDocument, SetError, classify, classify_direct,
    locate, raw_documents, versions, yaml11,
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

/// Where standard input comes from.
pub enum Stdin<'a> {
    /// The process's standard input, read and parsed a block at a time: the whole text is
    /// never held at once (see [`add_reader`]).
    Process,
    /// A whole text (tests and fuzzing pass a string).
    Whole(&'a mut dyn FnMut() -> std::io::Result<String>),
}

/// Load every path into `set`. `-` is standard input (read once).
pub fn load(
    paths: &[String],
    default_namespace: &str,
    set: &mut ManifestSet,
    stdin: &mut Stdin<'_>,
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
            let read = match stdin {
                Stdin::Process => {
                    let mut stdin = std::io::stdin().lock();
                    add_reader(&mut stdin, BLOCK, default_namespace, set, errors)
                }
                Stdin::Whole(read) => read().map(|text| {
                    let stream = Stream {
                        name: STDIN.into(),
                        text,
                    };
                    add_stream(&stream, default_namespace, set, errors);
                }),
            };
            match read {
                Ok(()) => streams += 1,
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

/// Bytes of standard input read and parsed at a time (see [`add_reader`]).
const BLOCK: u64 = 8 << 20;

/// Standard input as one stream, `block` bytes at a time, each block cut before a `---` line
/// (so no document straddles two) and parsed as its part of the stream: lines count on, and
/// every object, warning and error is what reading the whole text at once gives. A 60 MB
/// stream then costs its objects and one block, not its text besides. When it cannot be read
/// (not UTF-8, an I/O error), what its earlier blocks added is taken back, as if nothing had
/// been read, and the error is returned.
fn add_reader(
    reader: &mut dyn Read,
    block: u64,
    default_namespace: &str,
    set: &mut ManifestSet,
    errors: &mut InputErrors,
) -> std::io::Result<()> {
    let before = (errors.documents.len(), errors.more, set.warnings.len());
    let (mut pending, mut line, mut offset) = (Vec::new(), 1, 0);
    let read = loop {
        let n = match (&mut *reader).take(block).read_to_end(&mut pending) {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        let end = (n as u64) < block;
        let cut = if end {
            pending.len()
        } else {
            match last_marker_line(&pending) {
                Some(cut) => cut,
                None => continue, // one long document: read on
            }
        };
        let rest = pending.split_off(cut);
        let block = std::mem::replace(&mut pending, rest);
        let text = match String::from_utf8(block) {
            Ok(text) => text,
            Err(e) => {
                let at = offset + e.utf8_error().valid_up_to();
                break Err(not_utf8_at(at));
            }
        };
        add_text(STDIN, &text, line, default_namespace, set, errors);
        line += text.bytes().filter(|&b| b == b'\n').count();
        offset += text.len();
        if end {
            break Ok(());
        }
    };
    if read.is_err() {
        errors.documents.truncate(before.0);
        errors.more = before.1;
        set.warnings.truncate(before.2);
    }
    read
}

/// Where the last complete `---` marker line of `buf` starts (after a newline, and followed
/// by what `parse.rs` takes for the end of a marker: a line break, a space or a tab).
fn last_marker_line(buf: &[u8]) -> Option<usize> {
    buf.windows(5)
        .rposition(|w| &w[..4] == b"\n---" && matches!(w[4], b'\n' | b'\r' | b' ' | b'\t'))
        .map(|i| i + 1)
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
    add_text(
        &stream.name,
        &stream.text,
        1,
        default_namespace,
        set,
        errors,
    );
}

/// [`add_stream`] for a stream's text, or a part of it that starts on line `first_line` at a
/// document boundary.
fn add_text(
    name: &str,
    text: &str,
    first_line: usize,
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
    let raw: Vec<RawDocument<'_>> = raw_documents(text, first_line).collect();
    let work = |docs: &[RawDocument<'_>]| -> Vec<Result<Typed, InputError>> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            // Most documents type straight from their text; the rest, and any the direct
            // reader cannot vouch for, go the general way (same objects, same errors).
            if let Some(object) = classify_direct(doc, name, default_namespace) {
                out.push(Ok((object, None)));
                continue;
            }
            match doc.parse(name) {
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

fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|e| not_utf8_at(e.utf8_error().valid_up_to()))
}

fn not_utf8_at(offset: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not UTF-8 text (invalid byte at offset {offset})"),
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

    /// A stream read in blocks gives what the whole text gives: objects, warnings, errors
    /// and their lines.
    #[test]
    fn blocks_of_a_stream_read_as_the_whole_stream() {
        let mut text = String::from("\u{feff}# Source: c/a.yaml\n");
        for i in 0..40 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{}}}\ndata: {{a: b}}\n",
                i % 30
            ));
            if i % 7 == 0 {
                text.push_str("--- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n");
                text.push_str("---\nkind: [broken\n---\nnot: an object\n");
            }
        }
        let whole = |text: &str| {
            let (mut set, mut errors) = (ManifestSet::default(), InputErrors::default());
            let stream = Stream {
                name: STDIN.into(),
                text: text.to_string(),
            };
            add_stream(&stream, "default", &mut set, &mut errors);
            (set.objects, set.warnings, errors.documents)
        };
        let want = whole(&text);
        assert!(!want.1.is_empty() && !want.2.is_empty());
        for block in [16, 64, 100, 1000, 1 << 20] {
            let (mut set, mut errors) = (ManifestSet::default(), InputErrors::default());
            add_reader(
                &mut text.as_bytes(),
                block,
                "default",
                &mut set,
                &mut errors,
            )
            .unwrap();
            assert_eq!(
                (set.objects, set.warnings, errors.documents),
                want,
                "block {block}"
            );
        }
        // Not UTF-8 in a later block: nothing is kept, the offset is the stream's.
        let mut bytes = text.clone().into_bytes();
        bytes.extend(b"---\nkind: \xff\n");
        let (mut set, mut errors) = (ManifestSet::default(), InputErrors::default());
        let e =
            add_reader(&mut bytes.as_slice(), 64, "default", &mut set, &mut errors).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("offset {}", text.len() + 10)),
            "{e}"
        );
        assert!(set.warnings.is_empty() && errors.documents.is_empty());
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
