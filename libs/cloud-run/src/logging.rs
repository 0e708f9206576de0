//! Logs as Cloud Logging reads them: one JSON object per line on stdout.
//!
//! Cloud Run ships each stdout line to Cloud Logging and, when the line is a JSON object, lifts a few
//! "special fields" out of it (<https://cloud.google.com/logging/docs/structured-logging#special-payload-fields>).
//! [`CloudLoggingLayer`] writes:
//!
//! | key | from |
//! | --- | --- |
//! | `severity` | the event level: TRACE and DEBUG → `DEBUG`, INFO → `INFO`, WARN → `WARNING`, ERROR → `ERROR` |
//! | `message` | the event message |
//! | `time` | now, RFC 3339 in UTC |
//! | `logging.googleapis.com/sourceLocation` | `file`, `line` (a string, as protobuf JSON writes int64) and `function` (the event's target, a module path) |
//! | `logging.googleapis.com/trace` | a `trace_id` field of the event, an enclosing span or the request being served, as `projects/PROJECT/traces/TRACE_ID` when the project is known, else the bare id |
//! | `logging.googleapis.com/spanId` | a `span_id` field, 16 hex digits |
//! | `logging.googleapis.com/trace_sampled` | a `trace_sampled` field, a boolean |
//! | `httpRequest` | every `httpRequest.NAME` field, nested as `{"NAME": value}` |
//! | anything else | the other fields of the event and of its enclosing spans, flattened (inner spans override outer ones, the event overrides spans) |
//!
//! The request being served (a task-local that [`crate::apply_layers`] sets, module
//! `request_scope`) provides `request_id` and the trace fields, and its access line provides
//! `httpRequest` (module `access_log`).
//!
//! The layer takes any `MakeWriter`, so tests capture lines in a buffer. Each line is written with one
//! `write_all`, so lines from concurrent requests do not interleave. Writing to stdout blocks briefly,
//! as with every `tracing_subscriber::fmt` setup; Cloud Run reads the pipe promptly.

use std::fmt;
use std::io::Write as _;

use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::MakeWriter,
    layer::{Context, SubscriberExt as _},
    registry::LookupSpan,
    util::{SubscriberInitExt as _, TryInitError},
};

use crate::Contract;

/// Installing the process-wide subscriber failed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The contract's log filter did not parse (it was checked when the contract was built, so this
    /// means the contract was built some other way).
    #[error("RUST_LOG is {value:?}; expected tracing filter directives")]
    Filter {
        /// The filter as given.
        value: String,
        /// Why it did not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber is already set: `init_logging` belongs in `main`, once.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[source] TryInitError),
}

/// Installs the process-wide subscriber: the contract's `RUST_LOG` filter (default `info`) and a
/// [`CloudLoggingLayer`] on stdout naming the contract's project in trace fields.
///
/// Call it once, from a binary's `main`. Libraries never call it, and the e2e harness, which runs
/// every component in one process, calls it once for all of them.
pub fn init_logging(contract: &Contract) -> Result<(), LoggingError> {
    let filter =
        EnvFilter::try_new(contract.log_filter()).map_err(|source| LoggingError::Filter {
            value: contract.log_filter().to_owned(),
            source,
        })?;
    tracing_subscriber::registry()
        .with(filter)
        .with(CloudLoggingLayer::new(
            contract.project_id(),
            std::io::stdout,
        ))
        .try_init()
        .map_err(LoggingError::AlreadyInstalled)
}

/// A `tracing_subscriber` layer writing Cloud Logging JSON lines to `W`.
#[derive(Debug)]
pub struct CloudLoggingLayer<W> {
    project_id: Option<String>,
    make_writer: W,
}

impl<W> CloudLoggingLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A layer writing to `make_writer` (e.g. `std::io::stdout`), naming `project_id` in trace fields.
    pub fn new(project_id: Option<&str>, make_writer: W) -> Self {
        Self {
            project_id: project_id.map(str::to_owned),
            make_writer,
        }
    }
}

/// A span's fields, kept in its extensions until the span closes: a short list under the
/// fields' static names, turned into an event's map only when an event is written.
struct SpanFields(Vec<(&'static str, Value)>);

impl<S, W> Layer<S> for CloudLoggingLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields(Vec::with_capacity(attrs.fields().len()));
        attrs.record(&mut JsonVisitor(&mut fields));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Outermost first: the request, then its spans from the root, then the event.
        let mut fields = Map::new();
        crate::request_scope::RequestScope::put_current(&mut fields);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.extend(
                        span_fields
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), v.clone())),
                    );
                }
            }
        }
        event.record(&mut JsonVisitor(&mut fields));

        let entry = self.entry(event.metadata(), fields);
        let Ok(mut line) = serde_json::to_vec(&Value::Object(entry)) else {
            return;
        };
        line.push(b'\n');
        // A log line that cannot be written has nowhere better to go.
        let _ = self
            .make_writer
            .make_writer_for(event.metadata())
            .write_all(&line);
    }
}

impl<W> CloudLoggingLayer<W> {
    /// Turns the merged fields of an event into a log entry with the special keys.
    fn entry(
        &self,
        meta: &tracing::Metadata<'_>,
        mut fields: Map<String, Value>,
    ) -> Map<String, Value> {
        let message = fields.remove("message");
        let trace_id = fields.remove("trace_id");
        let span_id = fields.remove("span_id");
        let sampled = fields.remove("trace_sampled");

        let mut entry = Map::new();
        let mut http_request = Map::new();
        for (key, value) in fields {
            match key.strip_prefix("httpRequest.") {
                Some(name) => {
                    http_request.insert(name.to_owned(), value);
                }
                None => {
                    entry.insert(key, value);
                }
            }
        }

        // The special keys go in last, so a field of the same name cannot replace them.
        entry.insert("severity".into(), severity(meta.level()).into());
        if let Some(message) = message {
            entry.insert("message".into(), message);
        }
        if let Ok(time) = time::OffsetDateTime::now_utc().format(&Rfc3339) {
            entry.insert("time".into(), time.into());
        }
        let mut source = Map::new();
        if let Some(file) = meta.file() {
            source.insert("file".into(), file.into());
        }
        if let Some(line) = meta.line() {
            source.insert("line".into(), line.to_string().into());
        }
        source.insert("function".into(), meta.target().into());
        entry.insert(
            "logging.googleapis.com/sourceLocation".into(),
            source.into(),
        );
        if let Some(Value::String(trace_id)) = trace_id {
            let trace =
                crate::trace_context::cloud_logging_trace(&trace_id, self.project_id.as_deref());
            entry.insert("logging.googleapis.com/trace".into(), trace.into());
        }
        if let Some(span_id @ Value::String(_)) = span_id {
            entry.insert("logging.googleapis.com/spanId".into(), span_id);
        }
        if let Some(sampled @ Value::Bool(_)) = sampled {
            entry.insert("logging.googleapis.com/trace_sampled".into(), sampled);
        }
        if !http_request.is_empty() {
            entry.insert("httpRequest".into(), http_request.into());
        }
        entry
    }
}

/// Cloud Logging's `LogSeverity` names for tracing levels. TRACE has no finer Cloud Logging level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// Where a visitor puts fields: an event's map, or a span's list.
trait Fields {
    /// Sets `name` to `value`, replacing an earlier value of the same name.
    fn put(&mut self, name: &'static str, value: Value);
}

impl Fields for Map<String, Value> {
    fn put(&mut self, name: &'static str, value: Value) {
        self.insert(name.to_owned(), value);
    }
}

impl Fields for SpanFields {
    fn put(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name, value)),
        }
    }
}

/// Records tracing field values as JSON values of the matching type.
struct JsonVisitor<'a, F>(&'a mut F);

impl<F: Fields> JsonVisitor<'_, F> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.put(field.name(), value);
    }
}

impl<F: Fields> Visit for JsonVisitor<'_, F> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number; keep them readable.
        let value = Number::from_f64(value).map_or_else(|| value.to_string().into(), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = i64::try_from(value).map_or_else(|_| value.to_string().into(), Value::from);
        self.put(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = u64::try_from(value).map_or_else(|_| value.to_string().into(), Value::from);
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain, "outer: cause: root cause", since the causes are usually the useful part.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.put(field, text.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}
