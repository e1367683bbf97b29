//! Where a field path (`spec.template.spec.volumes[0].secret.defaultMode`) is written in a
//! document's text, so a type error can say `file:line:column` rather than the document's first
//! line. Best effort, on the error path only: block-style YAML is followed key by key and item
//! by item; flow style (`{replicas: three}`) is searched on the lines that follow. When the
//! path cannot be followed, `None`, and the document's line stands.

/// 1-based (line, column) of the last key of `path` in `text`, whose first line is `first_line`.
pub fn locate(text: &str, first_line: usize, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0; // line index to search from
    let mut floor: Option<usize> = None; // keys of the current mapping are deeper than this
    let mut found = None;
    for segment in segments(path)? {
        match segment {
            Segment::Key(key) => {
                let (line, column) = find_key(&lines, at, floor, key)?;
                found = Some((line, column));
                at = line;
                floor = Some(column);
            }
            Segment::Index(n) => {
                // The items of a block sequence under the last key: `- ` at one column.
                let parent = floor?;
                let mut seen = 0;
                let mut dash_column = None;
                let mut hit = None;
                for (i, l) in lines.iter().enumerate().skip(at + 1) {
                    let indent = indent(l);
                    let t = l.trim_start();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    if indent < parent || (indent == parent && !t.starts_with("- ")) {
                        break;
                    }
                    if t.starts_with("- ") || t == "-" {
                        let column = *dash_column.get_or_insert(indent);
                        if indent != column {
                            continue;
                        }
                        if seen == n {
                            hit = Some((i, indent + 2));
                            break;
                        }
                        seen += 1;
                    }
                }
                let (line, item_column) = hit?;
                // The item's keys start after `- ` on its first line, or below it.
                at = line;
                floor = Some(item_column.saturating_sub(1));
                found = Some((line, item_column));
            }
        }
    }
    let (line, column) = found?;
    Some((first_line + line, column + 1))
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            out.push(Segment::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(out)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The next `key:` at or after line `at` (on the dash line of an item too), deeper than
/// `floor`; block style first, then flow style on the same lines.
fn find_key(lines: &[&str], at: usize, floor: Option<usize>, key: &str) -> Option<(usize, usize)> {
    let patterns = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    for (i, l) in lines.iter().enumerate().skip(at) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = indent(l);
        if i > at && floor.is_some_and(|f| indent <= f) && !t.starts_with("- ") {
            return None; // left the mapping
        }
        // Block style: the key starts the line, possibly after `- ` markers.
        let mut column = indent;
        let mut rest = t;
        while let Some(r) = rest.strip_prefix("- ") {
            rest = r.trim_start_matches(' ');
            column = l.len() - rest.len();
        }
        if floor.is_none_or(|f| column > f) && patterns.iter().any(|p| rest.starts_with(p.as_str()))
        {
            return Some((i, column));
        }
        // Flow style: `{a: 1, key: x}` on this line.
        for p in &patterns {
            let mut from = 0;
            while let Some(pos) = l[from..].find(p.as_str()) {
                let start = from + pos;
                let before = l[..start].chars().last();
                if floor.is_none_or(|f| start > f)
                    && matches!(before, Some('{' | ',' | ' '))
                    && l[..start].contains('{')
                {
                    return Some((i, start));
                }
                from = start + p.len();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: three
  template:
    spec:
      containers:
        - name: a
          image: a:1
        - name: b
          image: b:1
          ports:
            - containerPort: http
      volumes:
        - name: v
          secret: {secretName: s, defaultMode: rw}
";

    #[test]
    fn block_keys_and_items_are_followed() {
        assert_eq!(locate(DEPLOYMENT, 10, "spec.replicas"), Some((15, 3)));
        assert_eq!(
            locate(
                DEPLOYMENT,
                1,
                "spec.template.spec.containers[1].ports[0].containerPort"
            ),
            Some((15, 15))
        );
        assert_eq!(
            locate(DEPLOYMENT, 1, "spec.template.spec.containers[1].image"),
            Some((13, 11))
        );
    }

    #[test]
    fn flow_keys_are_found_on_their_line() {
        assert_eq!(
            locate(
                DEPLOYMENT,
                1,
                "spec.template.spec.volumes[0].secret.defaultMode"
            ),
            Some((18, 35))
        );
        assert_eq!(
            locate(
                "spec: {items: [{name: p, probes: {readness: false}}]}\n",
                1,
                "spec.items[0].probes.readness"
            ),
            None,
            "flow sequences are not followed"
        );
    }

    #[test]
    fn a_path_that_is_not_there_is_none() {
        assert_eq!(locate(DEPLOYMENT, 1, "spec.strategy.type"), None);
        assert_eq!(
            locate(DEPLOYMENT, 1, "spec.template.spec.containers[5].image"),
            None
        );
    }
}
