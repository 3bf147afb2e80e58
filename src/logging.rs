//! tracing setup: `RUST_LOG`-style filtering (default `info`), text or JSON
//! on standard error. Under journald (`$JOURNAL_STREAM` set) the text format
//! drops its own timestamps (journald stamps every line) and prefixes each
//! line with its syslog priority (`<3>` error ... `<7>` debug), which journald
//! turns into the entry's PRIORITY. Message bodies are only ever logged at
//! `debug`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Prefixes each event with its syslog priority for journald.
struct Priority<F>(F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let prio = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{prio}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Log format on standard error (`--log-format`).
#[derive(Copy, Clone, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `level` is the default (`info` for the daemon, `warn` for a verb, more
/// with -v); `RUST_LOG` overrides it.
pub fn init(format: LogFormat, level: &str) {
    // matrix-sdk logs routine answers (a 404 for account data never set)
    // as errors and its key backups as warnings: the errors that matter
    // reach embargo's own log lines, so it is quiet unless RUST_LOG names
    // it (the unit sets RUST_LOG=info).
    let quiet = "matrix_sdk=off,matrix_sdk_crypto=off,matrix_sdk_base=off,matrix_sdk_common=off";
    let default = format!("{level},{quiet}");
    let filter = || match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            let v = if v.contains("matrix_sdk") {
                v
            } else {
                format!("{v},{quiet}")
            };
            EnvFilter::try_new(&v).unwrap_or_else(|_| EnvFilter::new(&default))
        }
        _ => EnvFilter::new(&default),
    };
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // No colours: every line passes `text::printable`, which shows an
    // escape sequence instead of sending it, and a mail's From, Message-ID
    // or subject must never steer the operator's terminal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(|| Printable(std::io::stderr()))
        .with_ansi(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text if journald => {
            let inner = tracing_subscriber::fmt::format()
                .without_time()
                .with_level(false)
                .with_ansi(false);
            builder.event_format(Priority(inner)).try_init()
        }
        LogFormat::Text => builder.try_init(),
    };
}

/// Standard error through [`crate::text::printable`]: a log line is
/// formatted whole and written at once, so no control character from mail
/// (ESC, C1, bidi overrides) reaches the terminal or the journal.
struct Printable<W>(W);

impl<W: std::io::Write> std::io::Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::text::printable(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
