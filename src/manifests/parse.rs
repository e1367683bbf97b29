//! Splitting and parsing multi-document YAML with positions, so errors say file:line:column.

use std::collections::VecDeque;

use serde_json::Value;

/// One YAML document of an input stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub file: String,
    /// 1-based line of the document's first content line (after `---` and leading comments);
    /// items of a `kind: List` carry the List's line.
    pub line: usize,
    /// The `# Source: chart/templates/x.yaml` comment `helm template` writes, if any.
    pub helm_source: Option<String>,
    pub value: Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LoadError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
}

/// Parse a stream of YAML (or JSON) documents, stopping at the first error. Empty documents
/// are dropped; `kind: List` documents are expanded into their items.
pub fn parse_stream(file: &str, text: &str) -> Result<Vec<Document>, LoadError> {
    documents(file, text).collect()
}

/// The documents of a stream, one at a time, so a large stream never holds every parsed
/// document at once. A syntax error ends only its own document: the iterator goes on with
/// the next one, so every error of a stream can be reported.
pub fn documents<'a>(file: &'a str, text: &'a str) -> Documents<'a> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Documents {
        file,
        chunks: Chunks {
            text,
            offset: 0,
            line: 1,
            shift: 0,
            done: false,
        },
        pending: VecDeque::new(),
    }
}

pub struct Documents<'a> {
    file: &'a str,
    chunks: Chunks<'a>,
    /// Items of a List document not yet handed out.
    pending: VecDeque<Document>,
}

impl Iterator for Documents<'_> {
    type Item = Result<Document, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(doc) = self.pending.pop_front() {
                return Some(Ok(doc));
            }
            let chunk = self.chunks.next()?;
            match (RawDocument { chunk }).parse(self.file) {
                Ok(docs) => self.pending.extend(docs),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// One document's text, split from the stream but not parsed yet, so that documents can be
/// parsed in parallel (see `gonogo check`'s loader).
pub struct RawDocument<'a> {
    chunk: Chunk<'a>,
}

/// The documents of a stream, unparsed, in order; `first_line` is the line `text` starts on
/// (1, or more for a later part of a stream cut at a document boundary).
pub fn raw_documents(text: &str, first_line: usize) -> impl Iterator<Item = RawDocument<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Chunks {
        text,
        offset: 0,
        line: first_line,
        shift: 0,
        done: false,
    }
    .map(|chunk| RawDocument { chunk })
}

impl RawDocument<'_> {
    /// The document's text and the 1-based line it starts on.
    pub fn text(&self) -> (&str, usize) {
        (self.chunk.body, self.chunk.line)
    }

    /// The document's first content line, its `helm template` Source comment and its text,
    /// when its content is a YAML block mapping (not JSON, not a flow mapping, no merge key):
    /// what the direct reader (`direct.rs`) may read.
    pub fn block_mapping(&self) -> Option<(usize, Option<String>, &str)> {
        let (Some((start, line)), helm_source) = content_start(&self.chunk) else {
            return None;
        };
        let first = self.chunk.body[start..].trim_start().bytes().next()?;
        let plain_key = first.is_ascii_alphanumeric() || first == b'_';
        (plain_key && self.chunk.first_line_shift == 0 && !self.chunk.body.contains("<<"))
            .then_some((line, helm_source, self.chunk.body))
    }

    /// Parse: no document (blank, comments, `null`), one, or the items of a `kind: List`.
    pub fn parse(&self, file: &str) -> Result<Vec<Document>, LoadError> {
        if let Some(values) = parse_json_stream(file, &self.chunk)? {
            let mut docs = Vec::new();
            for (line, helm_source, value) in values {
                docs.extend(expand_list(file, line, helm_source, value));
            }
            return Ok(docs);
        }
        let Some((line, helm_source, value)) = parse_chunk(file, &self.chunk)? else {
            return Ok(Vec::new());
        };
        Ok(expand_list(file, line, helm_source, value))
    }
}

/// One parsed value as documents: itself, or the items of a `kind: List`.
fn expand_list(
    file: &str,
    line: usize,
    helm_source: Option<String>,
    value: Value,
) -> Vec<Document> {
    {
        let is_list = value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && value.get("items").is_some_and(Value::is_array);
        if !is_list {
            return vec![Document {
                file: file.to_string(),
                line,
                helm_source,
                value,
            }];
        }
        let Value::Object(mut map) = value else {
            return Vec::new();
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return Vec::new();
        };
        items
            .into_iter()
            .map(|value| Document {
                file: file.to_string(),
                line,
                helm_source: helm_source.clone(),
                value,
            })
            .collect()
    }
}

/// The leading comments of a document: where its content starts (byte offset in the body and
/// 1-based line) and the `helm template` Source comment. `None` when there is no content.
fn content_start(chunk: &Chunk<'_>) -> (Option<(usize, usize)>, Option<String>) {
    let mut helm_source = None;
    let mut offset = 0;
    for (i, l) in chunk.body.split_inclusive('\n').enumerate() {
        let t = l.trim();
        let here = offset;
        offset += l.len();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            if helm_source.is_none()
                && let Some(source) = comment.trim_start().strip_prefix("Source:")
            {
                helm_source = Some(source.trim().to_string());
            }
            continue;
        }
        return (Some((here, chunk.line + i)), helm_source);
    }
    (None, helm_source)
}

/// JSON values back to back (`{...}{...}` or one per line), as kubectl reads a stream that
/// starts with `{`. `None` when the document is not JSON (a YAML flow mapping such as
/// `{kind: A}` starts with `{` too): the YAML parser reads it then.
#[allow(clippy::type_complexity)]
fn parse_json_stream(
    file: &str,
    chunk: &Chunk<'_>,
) -> Result<Option<Vec<(usize, Option<String>, Value)>>, LoadError> {
    let (Some((start, _)), helm_source) = content_start(chunk) else {
        return Ok(None);
    };
    let body = &chunk.body[start..];
    if !body.trim_start().starts_with('{') {
        return Ok(None);
    }
    // Lines and columns of positions in the body.
    let position = |offset: usize| -> (usize, usize) {
        let before = &chunk.body[..start + offset];
        let line = chunk.line + before.matches('\n').count();
        let mut column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        if line == chunk.line {
            column += chunk.first_line_shift;
        }
        (line, column)
    };
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
    let mut next_start = 0;
    loop {
        let value_start =
            next_start + (body.len() - next_start - body[next_start..].trim_start().len());
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                next_start = stream.byte_offset();
                if !value.is_null() {
                    let (line, _) = position(value_start);
                    let source = if values.is_empty() {
                        helm_source.clone()
                    } else {
                        None
                    };
                    values.push((line, source, value));
                }
            }
            // Not JSON at all: leave it to the YAML parser (and its messages).
            Some(Err(_)) if values.is_empty() => return Ok(None),
            Some(Err(e)) => {
                let (line, column) = if e.line() > 0 {
                    let (l, _) = position(0);
                    (l + e.line() - 1, e.column())
                } else {
                    position(value_start)
                };
                return Err(LoadError::Syntax {
                    file: file.to_string(),
                    line,
                    column,
                    message: strip_location(&e.to_string()),
                });
            }
        }
    }
    Ok(Some(values))
}

/// One document's text and where it starts.
struct Chunk<'a> {
    body: &'a str,
    /// 1-based line of the body's first line.
    line: usize,
    /// Columns to add to errors on the body's first line (content after `--- ` on the marker line).
    first_line_shift: usize,
}

/// Splits on `---` (and `...`) document markers at column 0.
struct Chunks<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
    /// Set when the next document starts after `--- ` on its marker line.
    shift: usize,
    done: bool,
}

fn is_marker(line: &str) -> bool {
    ["---", "..."].iter().any(|m| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        if self.done {
            return None;
        }
        let start = self.offset;
        let start_line = self.line;
        let shift = std::mem::take(&mut self.shift);
        let mut pos = start;
        for (i, raw) in self.text[start..].split_inclusive('\n').enumerate() {
            let line = start_line + i;
            let content = raw.trim_end_matches(['\n', '\r']);
            // The rest of a `--- ` line is content, never a marker of its own.
            if !(i == 0 && shift > 0) && is_marker(content) {
                self.offset = pos + raw.len();
                self.line = line + 1;
                // `--- {kind: A}`: the next document starts on the marker line.
                if let Some(after) = content.strip_prefix("---").filter(|a| !a.is_empty()) {
                    let after = after.trim_start();
                    if !after.is_empty() && !after.starts_with('#') {
                        self.offset = pos + 4;
                        self.line = line;
                        self.shift = 4;
                    }
                }
                return Some(Chunk {
                    body: &self.text[start..pos],
                    line: start_line,
                    first_line_shift: shift,
                });
            }
            pos += raw.len();
        }
        self.done = true;
        Some(Chunk {
            body: &self.text[start..],
            line: start_line,
            first_line_shift: shift,
        })
    }
}

/// Parse one document: `None` when it holds nothing (blank, comments, directives, `null`).
fn parse_chunk(
    file: &str,
    chunk: &Chunk<'_>,
) -> Result<Option<(usize, Option<String>, Value)>, LoadError> {
    let (Some((_, line)), helm_source) = content_start(chunk) else {
        return Ok(None);
    };
    let syntax = |e: serde_yaml_ng::Error| {
        let (line, column) = e.location().map_or((line, 1), |loc| {
            let shift = if loc.line() == 1 {
                chunk.first_line_shift
            } else {
                0
            };
            (
                chunk.line + loc.line().saturating_sub(1),
                loc.column() + shift,
            )
        });
        LoadError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: strip_location(&e.to_string()),
        }
    };
    let value: Value = if chunk.body.contains("<<") {
        // Merge keys (`<<: *defaults`) need the YAML value model to be resolved.
        let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(chunk.body).map_err(syntax)?;
        yaml.apply_merge().map_err(syntax)?;
        serde_json::to_value(yaml).map_err(|e| LoadError::Syntax {
            file: file.to_string(),
            line,
            column: 1,
            message: format!("not representable as JSON: {e}"),
        })?
    } else {
        serde_yaml_ng::from_str(chunk.body).map_err(syntax)?
    };
    Ok((!value.is_null()).then_some((line, helm_source, value)))
}

/// serde_yaml_ng appends " at line X column Y"; we report our own absolute position instead.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_from_the_stream_start() {
        let text = "# Source: app/templates/a.yaml\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n";
        let docs = parse_stream("x.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[0].line, 2,
            "the first content line, after the Source comment"
        );
        assert_eq!(docs[0].helm_source.as_deref(), Some("app/templates/a.yaml"));
        assert_eq!(docs[1].line, 5);
        assert_eq!(docs[1].helm_source, None);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = "kind: A\n---\nkind: B\nmetadata:\n  name: [unclosed\n";
        let err = parse_stream("bad.yaml", text).unwrap_err();
        match err {
            LoadError::Syntax {
                file, line, column, ..
            } => {
                assert_eq!(file, "bad.yaml");
                assert!(line >= 5, "line {line}");
                assert!(column >= 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bad_indent_is_reported_where_it_is() {
        // Line 4 is indented under a scalar: "mapping values are not allowed in this context".
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n    bad: 1\n";
        let err = parse_stream("c.yaml", text).unwrap_err();
        let LoadError::Syntax {
            line,
            column,
            message,
            ..
        } = err
        else {
            panic!()
        };
        assert_eq!((line, column), (5, 8), "{message}");
    }

    #[test]
    fn errors_in_later_documents_keep_absolute_lines_and_the_stream_goes_on() {
        let text =
            "kind: A\n---\n# Source: c/t.yaml\nkind: B\nmetadata: {name: [x}\n---\nkind: C\n";
        let results: Vec<_> = documents("s.yaml", text).collect();
        assert_eq!(results.len(), 3);
        let Err(LoadError::Syntax { line, .. }) = &results[1] else {
            panic!("{results:?}")
        };
        assert_eq!(*line, 5);
        assert_eq!(results[2].as_ref().unwrap().value["kind"], "C");
    }

    #[test]
    fn content_on_the_marker_line_is_kept() {
        let text = "--- {kind: A}\n--- # a comment\nkind: B\n---\n";
        let docs = parse_stream("m.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["kind"], "A");
        assert_eq!(docs[0].line, 1);
        assert_eq!(docs[1].line, 3);
        let err = parse_stream("m.yaml", "--- {kind: [}\n").unwrap_err();
        let LoadError::Syntax { line, column, .. } = err else {
            panic!()
        };
        assert_eq!(line, 1);
        assert!(column > 4, "column {column} counts the marker");
    }

    #[test]
    fn lists_are_expanded_and_empty_documents_dropped() {
        let text = "---\n# only a comment\n---\nkind: List\napiVersion: v1\nitems:\n- kind: A\n- kind: B\n---\nnull\n...\n";
        let docs = parse_stream("l.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["kind"], "B");
        assert_eq!(docs[1].line, 4);
    }

    #[test]
    fn merge_keys_bom_directives_and_crlf() {
        let text = "\u{feff}%YAML 1.2\r\n---\r\nbase: &b {x: 1}\r\nkind: A\r\nmerged:\r\n  <<: *b\r\n  y: 2\r\n";
        let docs = parse_stream("y.yaml", text).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value["merged"]["x"], 1);
        assert_eq!(docs[0].line, 3);
    }

    #[test]
    fn json_is_accepted() {
        let docs = parse_stream(
            "x.json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#,
        )
        .unwrap();
        assert_eq!(docs[0].value["kind"], "Secret");
    }
}
