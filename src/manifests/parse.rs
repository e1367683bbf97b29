//! Splitting and parsing multi-document YAML with positions, so errors say file:line:column.

use serde_json::Value;

/// One YAML document of an input stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub file: String,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// The `# Source: chart/templates/x.yaml` comment `helm template` writes, if any.
    pub helm_source: Option<String>,
    pub value: Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LoadError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
}

/// Parse a stream of YAML (or JSON) documents. Empty documents are dropped; `kind: List`
/// documents are expanded into their items (which keep the List's position).
pub fn parse_stream(file: &str, text: &str) -> Result<Vec<Document>, LoadError> {
    let mut documents = Vec::new();
    for (start_line, body) in split_documents(text) {
        if body.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            continue;
        }
        let helm_source = body
            .lines()
            .find_map(|l| l.trim().strip_prefix("# Source: "))
            .map(|s| s.trim().to_string());
        let value: Value = serde_yaml_ng::from_str(body).map_err(|e| {
            let (line, column) = e.location().map_or((start_line, 1), |loc| (start_line + loc.line() - 1, loc.column()));
            LoadError::Syntax { file: file.to_string(), line, column, message: strip_location(&e.to_string()) }
        })?;
        if value.is_null() {
            continue;
        }
        let is_list = value.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List"))
            && value.get("items").is_some_and(Value::is_array);
        if is_list {
            if let Some(Value::Array(items)) = value.get("items") {
                for item in items {
                    documents.push(Document { file: file.to_string(), line: start_line, helm_source: helm_source.clone(), value: item.clone() });
                }
            }
        } else {
            documents.push(Document { file: file.to_string(), line: start_line, helm_source, value });
        }
    }
    Ok(documents)
}

/// Split on `---` document markers at column 0, keeping each document's first line number.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        let is_marker = content == "---" || content.starts_with("--- ") || content == "...";
        if is_marker {
            docs.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = index + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs
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
        assert_eq!(docs[0].line, 1);
        assert_eq!(docs[0].helm_source.as_deref(), Some("app/templates/a.yaml"));
        assert_eq!(docs[1].line, 5);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = "kind: A\n---\nkind: B\nmetadata:\n  name: [unclosed\n";
        let err = parse_stream("bad.yaml", text).unwrap_err();
        match err {
            LoadError::Syntax { file, line, .. } => {
                assert_eq!(file, "bad.yaml");
                assert!(line >= 5, "line {line}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lists_are_expanded_and_empty_documents_dropped() {
        let text = "---\n# only a comment\n---\nkind: List\napiVersion: v1\nitems:\n- kind: A\n- kind: B\n";
        let docs = parse_stream("l.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["kind"], "B");
    }

    #[test]
    fn json_is_accepted() {
        let docs = parse_stream("x.json", r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#).unwrap();
        assert_eq!(docs[0].value["kind"], "Secret");
    }
}
