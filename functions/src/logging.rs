//! Log output: one line per event, whatever text a caller sent.
//!
//! Field values often carry caller-supplied text (a user id, a key name, a
//! path). A newline in one would start a forged log line; an ANSI escape
//! sequence would rewrite the operator's terminal. So the local server's
//! human format writes every field value and message through
//! [`EscapeControls`], in the subscriber itself, where no call site can
//! forget it. The Lambda functions' JSON lines need no such step: every
//! value is a JSON string, whose encoding escapes every control character,
//! so a value keeps its exact content and cannot end its line.

use std::fmt::{self, Write as _};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, FormatFields};
use tracing_subscriber::fmt::writer::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter from `KEYWARD_LOG`, `info` by default.
pub fn filter_from_env() -> Result<EnvFilter, String> {
    match std::env::var("KEYWARD_LOG") {
        Err(_) => Ok(EnvFilter::new("info")),
        // A filter that does not parse is an error, not silently `info`:
        // whoever set it expects their level.
        Ok(text) => EnvFilter::try_new(&text)
            .map_err(|e| format!("KEYWARD_LOG={text:?} is not a log filter: {e}")),
    }
}

/// The AWS SDK's orchestrator logs whole requests and responses at
/// `trace`: DynamoDB items, and so key hashes. Those lines are dropped
/// whatever `KEYWARD_LOG` says.
fn no_sdk_wire_bodies<S: Subscriber>() -> impl tracing_subscriber::Layer<S> {
    tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE || !meta.target().starts_with("aws_smithy_runtime")
    })
}

/// The local server's log: human lines on stderr, coloured on a terminal.
pub fn init_local() -> Result<(), String> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = local_subscriber(std::io::stderr, ansi, filter_from_env()?).try_init();
    Ok(())
}

/// The Lambda functions' log: JSON lines on stdout, which Lambda sends to
/// CloudWatch Logs.
pub fn init_json() -> Result<(), String> {
    let _ = json_subscriber(std::io::stdout, filter_from_env()?).try_init();
    Ok(())
}

/// The human format with escaped field values, writing to `writer`.
pub fn local_subscriber<W>(
    writer: W,
    ansi: bool,
    filter: EnvFilter,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .fmt_fields(escaped_fields())
        .finish()
        .with(no_sdk_wire_bodies())
}

/// The JSON-lines format, writing to `writer`.
pub fn json_subscriber<W>(writer: W, filter: EnvFilter) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(no_sdk_wire_bodies())
}

/// Fields as the default format writes them (`name=value`, the message
/// bare, space-separated), each value through [`EscapeControls`].
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer, field, value| {
        let mut out = EscapeControls(writer);
        match field.name() {
            "message" => write!(out, "{value:?}"),
            name => write!(out, "{name}={value:?}"),
        }
    })
    .delimited(" ")
}

/// A `fmt::Write` that passes text on with every character that could end
/// a line, move the cursor or drive a terminal replaced by a visible
/// escape: `\n`, `\r`, `\t`, and `\u{..}` for the other C0 and C1 controls,
/// DEL, the Unicode line and paragraph separators and the bidirectional
/// overrides (which can make a line read differently from its bytes).
/// Backslashes stay as they are: the aim is one honest line per event, not
/// a reversible encoding (the JSON format is that).
pub struct EscapeControls<W>(pub W);

impl<W: fmt::Write> fmt::Write for EscapeControls<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                other => write!(self.0, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes `text` as the local log format does.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = EscapeControls(&mut out).write_str(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Notice;
    use crate::service::{LogPublisher, NoticePublisher};
    use std::sync::{Arc, Mutex};

    /// Caller text meant to forge a line, rewrite the terminal and hide
    /// itself: newline and carriage return, other C0 controls, an ANSI
    /// colour and a title-setting OSC sequence, C1 NEL, DEL, U+2028 and a
    /// right-to-left override.
    const HOSTILE: &str = "alice\n2030-01-01T00:00:00Z  INFO keyward: forged\r\x00\x08\x0b\x0c\x1b[31mred\x1b[0m\x1b]0;pwned\x07\u{85}\x7f\u{2028}\u{202e}evil";

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn hostile_notice() -> Notice {
        Notice {
            id: format!("key_1:{HOSTILE}"),
            kind: Default::default(),
            url: None,
            account: HOSTILE.into(),
            recipient: HOSTILE.into(),
            key_id: HOSTILE.into(),
            key_name: HOSTILE.into(),
            application_id: "app_1".into(),
            expires_at: 0,
            days_left: 3,
            day: "2030-01-01".into(),
            created_at: 0,
        }
    }

    /// Every kind of field a call site can write: the notice publisher's
    /// `%` fields, a `?` field, a plain string, an error, a span's field and
    /// text formatted into the message.
    async fn log_hostile_events() {
        LogPublisher.publish(&hostile_notice()).await.unwrap();
        let error: Box<dyn std::error::Error> = HOSTILE.into();
        let span = tracing::info_span!("request", path = %HOSTILE);
        let _entered = span.enter();
        tracing::warn!(debug = ?HOSTILE, plain = HOSTILE, error = %error, "failed for {HOSTILE}");
    }

    fn assert_one_clean_line_per_event(text: &str, events: usize, ansi: bool) {
        assert_eq!(text.matches('\n').count(), events, "{text:?}");
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            for forbidden in ['\r', '\0', '\x08', '\x0b', '\x0c', '\x07', '\u{85}', '\x7f'] {
                assert!(!line.contains(forbidden), "{forbidden:?} in {line:?}");
            }
            for forbidden in ['\u{2028}', '\u{202e}'] {
                assert!(!line.contains(forbidden), "{forbidden:?} in {line:?}");
            }
            // The formatter's own colours are the only escape sequences.
            assert!(!line.contains("\x1b]0;") && !line.contains("\x1b[31mred"));
            assert_eq!(line.contains('\x1b'), ansi, "{line:?}");
        }
    }

    #[test]
    fn the_sdks_wire_bodies_are_dropped_even_at_trace() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = local_subscriber(move || sink.clone(), false, EnvFilter::new("trace"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "body hash=H1");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "attempt 1");
            tracing::trace!(target: "keyward::store", "own trace");
        });
        let text = captured.text();
        assert!(!text.contains("H1"), "{text}");
        assert!(
            text.contains("attempt 1") && text.contains("own trace"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn local_format_writes_one_line_per_event_whatever_the_fields_hold() {
        for ansi in [false, true] {
            let captured = Captured::default();
            let sink = captured.clone();
            let subscriber = local_subscriber(move || sink.clone(), ansi, EnvFilter::new("info"));
            let _default = tracing::subscriber::set_default(subscriber);
            log_hostile_events().await;
            let text = captured.text();
            assert_one_clean_line_per_event(&text, 2, ansi);
            let notice_line = text.lines().next().unwrap();
            assert!(notice_line.contains(" notice notice="), "{notice_line}");
            assert!(
                notice_line.contains(&format!("recipient={}", escape_controls(HOSTILE))),
                "{notice_line}"
            );
            let warn_line = text.lines().nth(1).unwrap();
            assert!(warn_line.contains(&format!("failed for {}", escape_controls(HOSTILE))));
            assert!(warn_line.contains(&format!("path={}", escape_controls(HOSTILE))));
        }
    }

    #[tokio::test]
    async fn json_format_writes_one_parseable_line_per_event_with_exact_values() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = json_subscriber(move || sink.clone(), EnvFilter::new("info"));
        let _default = tracing::subscriber::set_default(subscriber);
        log_hostile_events().await;
        let text = captured.text();
        assert_eq!(text.matches('\n').count(), 2, "{text:?}");
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|line| {
                assert!(!line.chars().any(|c| c < ' '), "{line:?}");
                serde_json::from_str(line).unwrap()
            })
            .collect();
        assert_eq!(events[0]["fields"]["recipient"], HOSTILE);
        assert_eq!(events[0]["fields"]["key_id"], HOSTILE);
        assert_eq!(
            events[1]["fields"]["message"],
            format!("failed for {HOSTILE}")
        );
        assert_eq!(events[1]["fields"]["plain"], HOSTILE);
        assert_eq!(events[1]["spans"][0]["path"], HOSTILE);
    }

    #[test]
    fn escape_controls_replaces_what_breaks_or_rewrites_a_line() {
        assert_eq!(escape_controls("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(
            escape_controls("\x1b[31m\x00\x7f"),
            "\\u{1b}[31m\\u{0}\\u{7f}"
        );
        assert_eq!(escape_controls("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(
            escape_controls("\u{2028}\u{2029}\u{202e}\u{2067}"),
            "\\u{2028}\\u{2029}\\u{202e}\\u{2067}"
        );
        // Printable text, non-ASCII letters and backslashes pass unchanged.
        assert_eq!(escape_controls("Zoë \\n 名前 ✓"), "Zoë \\n 名前 ✓");
    }
}
