//! The `to-markdown` transform: documents to Markdown, so that AI agents read them cheaply.
//! - HTML: headings, paragraphs, lists, links, emphasis, code and tables (`htmd`, a port of
//!   turndown over html5ever);
//! - CSV and TSV: a Markdown table (the first row is the header; `|` escaped);
//! - JSON: an array of flat objects becomes a table, anything else a fenced block;
//! - plain text and Markdown: kept as they are.
//!
//! The kind comes from the content type, else the key's extension. The output key is the
//! input's with `.md` in place of its extension.

#[cfg(target_arch = "wasm32")]
mod component;

/// The largest object converted: documents, not data sets.
pub const MAX_INPUT_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Csv,
    Tsv,
    Json,
    Text,
}

/// What an object is, from its content type or else its key.
pub fn kind_of(key: &str, content_type: Option<&str>) -> Option<Kind> {
    let media = content_type.map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let by_type = match media.as_deref() {
        Some("text/html" | "application/xhtml+xml") => Some(Kind::Html),
        Some("text/csv") => Some(Kind::Csv),
        Some("text/tab-separated-values") => Some(Kind::Tsv),
        Some("application/json") => Some(Kind::Json),
        Some("text/plain" | "text/markdown") => Some(Kind::Text),
        _ => None,
    };
    by_type.or_else(|| {
        let extension = key.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "html" | "htm" | "xhtml" => Some(Kind::Html),
            "csv" => Some(Kind::Csv),
            "tsv" | "tab" => Some(Kind::Tsv),
            "json" => Some(Kind::Json),
            "txt" | "md" | "markdown" | "text" => Some(Kind::Text),
            _ => None,
        }
    })
}

/// The key of the Markdown made from `key`: `.md` in place of its extension.
pub fn output_key(key: &str) -> String {
    let (directory, name) = key.rsplit_once('/').map_or(("", key), |(directory, name)| (directory, name));
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    if directory.is_empty() { format!("{stem}.md") } else { format!("{directory}/{stem}.md") }
}

/// Converts a document of `kind`.
pub fn convert(kind: Kind, bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|error| format!("not UTF-8 text: {error}"))?;
    match kind {
        Kind::Html => html(text),
        Kind::Csv => delimited(text, b','),
        Kind::Tsv => delimited(text, b'\t'),
        Kind::Json => json(text),
        Kind::Text => Ok(text.to_owned()),
    }
}

/// The page's content: what is not shown (head, scripts, styles) is dropped.
fn html(text: &str) -> Result<String, String> {
    let converter = htmd::HtmlToMarkdown::builder().skip_tags(vec!["head", "script", "style", "noscript", "template"]).build();
    converter.convert(text).map(|markdown| markdown.trim().to_owned() + "\n").map_err(|error| format!("HTML: {error}"))
}

/// A cell as Markdown table text: pipes escaped, line breaks as `<br>`.
fn cell(text: &str) -> String {
    text.trim().replace('|', "\\|").replace("\r\n", "<br>").replace('\n', "<br>")
}

fn table(rows: &[Vec<String>]) -> String {
    let Some(header) = rows.first() else { return String::new() };
    let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let line = |row: &[String]| {
        let cells: Vec<String> = (0..width).map(|index| row.get(index).map(|text| cell(text)).unwrap_or_default()).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut markdown = line(header);
    markdown.push_str(&format!("|{}\n", " --- |".repeat(width)));
    for row in &rows[1..] {
        markdown.push_str(&line(row));
    }
    markdown
}

fn delimited(text: &str, delimiter: u8) -> Result<String, String> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let rows = reader
        .records()
        .map(|record| record.map(|record| record.iter().map(str::to_owned).collect::<Vec<String>>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("CSV: {error}"))?;
    Ok(table(&rows))
}

fn json(text: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| format!("JSON: {error}"))?;
    // An array of objects whose values are all scalars reads best as a table.
    if let serde_json::Value::Array(items) = &value
        && !items.is_empty()
        && items
            .iter()
            .all(|item| item.as_object().is_some_and(|object| object.values().all(|value| !value.is_object() && !value.is_array())))
    {
        let mut columns: Vec<String> = Vec::new();
        for item in items {
            for name in item.as_object().into_iter().flat_map(|object| object.keys()) {
                if !columns.contains(name) {
                    columns.push(name.clone());
                }
            }
        }
        let scalar = |value: Option<&serde_json::Value>| match value {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        let mut rows = vec![columns.clone()];
        rows.extend(items.iter().map(|item| columns.iter().map(|column| scalar(item.get(column))).collect()));
        return Ok(table(&rows));
    }
    let pretty = serde_json::to_string_pretty(&value).map_err(|error| format!("JSON: {error}"))?;
    Ok(format!("```json\n{pretty}\n```\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_structure() {
        let html = r#"<html><head><title>t</title></head><body><h1>Report</h1><p>Some <em>emphasis</em>, <strong>bold</strong> and <a href="https://example.com/a">a link</a>.</p>
            <h2>Items</h2><ul><li>first</li><li>second</li></ul><ol><li>one</li></ol>
            <table><tr><th>name</th><th>qty</th></tr><tr><td>apple</td><td>3</td></tr></table></body></html>"#;
        let markdown = convert(Kind::Html, html.as_bytes()).unwrap();
        for expected in [
            "# Report",
            "*emphasis*",
            "**bold**",
            "[a link](https://example.com/a)",
            "## Items",
            "*   first",
            "1.  one",
            "| name",
            "| apple",
        ] {
            assert!(markdown.contains(expected), "{expected:?} missing from:\n{markdown}");
        }
        assert!(markdown.starts_with("# Report"), "the head is not content:\n{markdown}");
        assert!(!markdown.contains("<p>") && !markdown.contains("<table>"));
    }

    #[test]
    fn csv_and_tsv_become_tables() {
        let csv = "name,comment\nann,\"likes, commas\"\nbob,\"a | pipe\"\n";
        assert_eq!(
            convert(Kind::Csv, csv.as_bytes()).unwrap(),
            "| name | comment |\n| --- | --- |\n| ann | likes, commas |\n| bob | a \\| pipe |\n"
        );
        assert_eq!(convert(Kind::Tsv, b"a\tb\n1\t2\n").unwrap(), "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
        assert_eq!(convert(Kind::Csv, b"").unwrap(), "");
    }

    #[test]
    fn json_tables_and_blocks() {
        let rows = br#"[{"id": 1, "name": "ann"}, {"id": 2, "name": "bob", "admin": true}]"#;
        assert_eq!(convert(Kind::Json, rows).unwrap(), "| id | name | admin |\n| --- | --- | --- |\n| 1 | ann |  |\n| 2 | bob | true |\n");
        let nested = convert(Kind::Json, br#"{"a": {"b": [1, 2]}}"#).unwrap();
        assert!(nested.starts_with("```json\n{") && nested.ends_with("```\n"));
        assert!(convert(Kind::Json, b"{broken").unwrap_err().starts_with("JSON:"));
    }

    #[test]
    fn kinds_and_keys() {
        assert_eq!(kind_of("docs/a.HTML", None), Some(Kind::Html));
        assert_eq!(kind_of("x", Some("text/csv; charset=utf-8")), Some(Kind::Csv));
        assert_eq!(kind_of("a.json", Some("application/octet-stream")), Some(Kind::Json));
        assert_eq!(kind_of("photo.jpg", Some("image/jpeg")), None);
        assert_eq!(output_key("docs/report.html"), "docs/report.md");
        assert_eq!(output_key("docs/v1.2/data.csv"), "docs/v1.2/data.md");
        assert_eq!(output_key("README"), "README.md");
        assert_eq!(output_key(".hidden"), ".hidden.md");
        assert!(convert(Kind::Text, &[0xff, 0xfe]).is_err());
    }
}
