//! What the CLI prints: aligned tables for people, the API's JSON for
//! scripts (`--json`), a secret once with its warning, and confirmations.
//!
//! Everything goes through [`out`], which treats a closed stdout (`keyward
//! apps list | head -1`) as the reader having seen enough rather than a
//! panic. Text from the API passes [`printable`] before it reaches a
//! terminal, so a name cannot carry escape sequences into it.

use comfy_table::{Table, presets};
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// Writes `text` and a newline to stdout, ignoring a reader that left.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// The API's answer for scripts: its JSON, members in the API's order.
pub fn json(value: &Value) {
    out(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// `text` with control characters (escape sequences, carriage returns,
/// new lines) written as escapes, so a value shows as one harmless line.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A JSON value as a table cell: `-` for nothing, lists joined by commas,
/// objects as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => printable(s),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => printable(&other.to_string()),
    }
}

/// `object[name]` as a cell (`-` when absent).
pub fn field(object: &Value, name: &str) -> String {
    cell(object.get(name).unwrap_or(&Value::Null))
}

/// A table with no borders, columns two spaces apart, as `gh` and
/// `kubectl` print them.
fn render(header: Option<&[&str]>, rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    if let Some(header) = header {
        table.set_header(header.to_vec());
    }
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
}

/// A list answer: as JSON for `--json`, else a table of `row`s under
/// `header` (or `empty` when there are none).
pub fn list(
    as_json: bool,
    answer: &Value,
    header: &[&str],
    row: fn(&Value) -> Vec<String>,
    empty: &str,
) {
    if as_json {
        json(answer);
        return;
    }
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if items.is_empty() {
        out(empty);
        return;
    }
    out(&render(Some(header), items.iter().map(row).collect()));
}

/// One object, a line per fact: what `get`, `create` and the lifecycle
/// verbs print.
#[derive(Default)]
pub struct Details(Vec<(&'static str, String)>);

impl Details {
    pub fn new() -> Self {
        Details::default()
    }

    pub fn row(mut self, label: &'static str, value: String) -> Self {
        self.0.push((label, value));
        self
    }

    /// A row only when there is something to say (optional facts such as
    /// `revoked at` stay out of an active object's view).
    pub fn row_if(self, label: &'static str, value: String) -> Self {
        if value == "-" {
            self
        } else {
            self.row(label, value)
        }
    }

    pub fn print(self) {
        let rows = self
            .0
            .into_iter()
            .map(|(label, value)| vec![label.to_owned(), value])
            .collect();
        out(&render(None, rows));
    }
}

/// The warning that goes with a secret, on stderr so that stdout stays
/// the answer alone.
pub fn warn_secret(what: &str) {
    eprintln!(
        "Store this {what}'s secret now: it is shown once, and keyward keeps nothing that can show it again."
    );
}

/// A secret shown once, after its object: the warning on stderr, the
/// secret's line on stdout.
pub fn secret(what: &str, secret: &str) {
    warn_secret(what);
    out(&format!("Secret: {}", printable(secret)));
}

/// Whether to go ahead with something that cannot be undone. Only a person
/// at a terminal is asked; a script (no terminal on stdin) or `--yes` goes
/// ahead, as the API itself would.
pub fn confirm(question: &str, yes: bool) -> bool {
    if yes || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return true;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_say_nothing_as_a_dash_and_join_lists() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!([])), "-");
        assert_eq!(cell(&json!(["a:read", "b"])), "a:read, b");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(field(&json!({"a": true}), "a"), "true");
        assert_eq!(field(&json!({}), "missing"), "-");
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(printable("ok name"), "ok name");
        assert_eq!(printable("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\nc");
    }

    #[test]
    fn tables_align_columns_without_borders() {
        let text = render(
            Some(&["ID", "NAME"]),
            vec![vec!["1".into(), "a".into()], vec!["22".into(), "b".into()]],
        );
        assert_eq!(text, "ID  NAME\n1   a\n22  b");
    }
}
