//! Trace context: which distributed trace a request belongs to, read from its headers.
//!
//! Google Cloud services "typically support both" trace headers
//! (<https://cloud.google.com/trace/docs/trace-context>):
//!
//! - W3C `traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`, flag bit 0 = sampled
//!   (<https://www.w3.org/TR/trace-context/#traceparent-header>);
//! - Google's legacy `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS`, a 32-hex trace id, a **decimal**
//!   unsigned 64-bit span id and `o=1` for sampled; the span and options parts may be missing
//!   (`TRACE_ID`, `TRACE_ID/SPAN_ID`, `TRACE_ID;o=1`).
//!
//! **Precedence.** When both headers are present and valid, `traceparent` wins: it is the standard that
//! OpenTelemetry (Google's recommended instrumentation) propagates, its span id is not subject to a
//! decimal round-trip, and Cloud Run keeps the two headers on the same trace id when it forwards a
//! request, so either choice names the same trace. An invalid header is ignored as if absent (never an
//! error, never a panic), so a valid `X-Cloud-Trace-Context` still counts next to a garbled `traceparent`.
//!
//! **Strictness.** `traceparent` follows W3C exactly: lowercase hex, non-zero ids, version `ff` invalid,
//! version `00` has exactly four fields, later versions may append fields. `X-Cloud-Trace-Context`
//! accepts hex of either case (normalised to lowercase) but rejects a zero trace id, a non-decimal or
//! overflowing span id and options other than `o=<decimal>`; span id `0` means "no span".
//!
//! The [`crate::apply_layers`] stack puts a [`TraceContext`] into every request's extensions (a fresh,
//! unsampled root when the request carries none, so the log lines of one request still share a trace id)
//! and the request's scope (`request_scope`) carries it into every log line.

use std::fmt;

use axum::extract::Request;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The W3C header name.
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// Google's legacy header name (header names are case-insensitive; HTTP/2 sends lowercase).
pub static X_CLOUD_TRACE_CONTEXT: HeaderName = HeaderName::from_static("x-cloud-trace-context");

/// A 128-bit trace id; never zero (W3C: all-zero is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

/// A 64-bit span id; never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId(u64);

/// The trace a request belongs to. Handlers get it with `Extension<TraceContext>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The caller's span, the parent of whatever this request does; `None` when the header had none.
    pub span_id: Option<SpanId>,
    /// Whether the caller sampled (recorded) this trace.
    pub sampled: bool,
}

impl TraceId {
    /// A trace id from its number; `None` for zero.
    pub fn new(id: u128) -> Option<Self> {
        (id != 0).then_some(Self(id))
    }

    /// A random trace id.
    pub fn random() -> Self {
        loop {
            // The thread's userspace RNG: an id only has to be unique, and asking the kernel
            // on every request cost a syscall.
            if let Some(id) = Self::new(rand::random()) {
                return id;
            }
        }
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

/// 32 lowercase hex digits, as both headers and Cloud Logging write it.
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex(self.0, &mut [0; 32]))
    }
}

/// The low `buf.len()` nibbles of `n` in lowercase hex, zero-padded (`buf.len()` even, at most
/// 32): what `{:032x}` and `{:016x}` print, without the formatting machinery, which cost a hop
/// more than the rest of its trace handling (callgrind, `tools/bench/instructions.sh`). Two
/// digits per byte.
fn hex(n: u128, buf: &mut [u8]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = n.to_be_bytes();
    let skip = bytes.len().saturating_sub(buf.len() / 2);
    for (pair, byte) in buf.chunks_exact_mut(2).zip(&bytes[skip..]) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    // Every byte is an ASCII hex digit.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// `n` in decimal, written from the end of `buf` (20 digits hold any `u64`).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Every byte from `start` is an ASCII digit.
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

impl SpanId {
    /// A span id from its number; `None` for zero.
    pub fn new(id: u64) -> Option<Self> {
        (id != 0).then_some(Self(id))
    }

    /// A random span id.
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::new(rand::random()) {
                return id;
            }
        }
    }

    /// The id as a number (`X-Cloud-Trace-Context` writes it in decimal).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// 16 lowercase hex digits, as `traceparent` and Cloud Logging's `logging.googleapis.com/spanId` write it.
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex(u128::from(self.0), &mut [0; 16]))
    }
}

impl TraceContext {
    /// A new trace with no parent span, not sampled: what a request without trace headers gets.
    pub fn new_root() -> Self {
        Self {
            trace_id: TraceId::random(),
            span_id: None,
            sampled: false,
        }
    }

    /// The same trace and sampling decision with a fresh span id: the context for a new hop, e.g. the
    /// emulator playing Google's front end toward a service. To pass a request on unchanged, call
    /// [`TraceContext::to_headers`] on the received context instead.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: Some(SpanId::random()),
            sampled: self.sampled,
        }
    }

    /// Reads the context from request headers: a valid `traceparent` first, else a valid
    /// `X-Cloud-Trace-Context`, else `None`. Only the first value of each header is considered.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::from_headers_noting_traceparent(headers).0
    }

    /// [`TraceContext::from_headers`], and whether a `traceparent` header was there at all
    /// (valid or not), from one lookup of it: a proxy that adds a child's `traceparent` only
    /// where the caller sent one asks both on every request.
    pub fn from_headers_noting_traceparent(headers: &HeaderMap) -> (Option<Self>, bool) {
        let traceparent = headers.get(&TRACEPARENT);
        let context = traceparent
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse_traceparent)
            .or_else(|| {
                headers
                    .get(&X_CLOUD_TRACE_CONTEXT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Self::parse_x_cloud_trace_context)
            });
        (context, traceparent.is_some())
    }

    /// Parses a W3C `traceparent` value; `None` if it is not valid.
    pub fn parse_traceparent(value: &str) -> Option<Self> {
        let mut fields = value.trim().split('-');
        let (version, trace, parent, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if !is_hex(version, 2, Case::Lower) || version == "ff" {
            return None;
        }
        // Version 00 has exactly four fields; a later version may append more, which we skip.
        if version == "00" && fields.next().is_some() {
            return None;
        }
        if !(is_hex(trace, 32, Case::Lower)
            && is_hex(parent, 16, Case::Lower)
            && is_hex(flags, 2, Case::Lower))
        {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: TraceId::new(u128::from_str_radix(trace, 16).ok()?)?,
            span_id: Some(SpanId::new(u64::from_str_radix(parent, 16).ok()?)?),
            sampled: flags & 1 == 1,
        })
    }

    /// Parses an `X-Cloud-Trace-Context` value; `None` if it is not valid.
    pub fn parse_x_cloud_trace_context(value: &str) -> Option<Self> {
        let value = value.trim();
        let (ids, options) = match value.split_once(';') {
            Some((ids, options)) => (ids, Some(options)),
            None => (value, None),
        };
        let (trace, span) = match ids.split_once('/') {
            Some((trace, span)) => (trace, Some(span)),
            None => (ids, None),
        };
        if !is_hex(trace, 32, Case::Any) {
            return None;
        }
        let trace_id = TraceId::new(u128::from_str_radix(trace, 16).ok()?)?;
        let span_id = match span {
            None => None,
            Some(span) => SpanId::new(parse_decimal(span)?),
        };
        let sampled = match options {
            None => false,
            Some(options) => parse_decimal(options.strip_prefix("o=")?)? & 1 == 1,
        };
        Some(Self {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The `traceparent` value, if there is a span id to name as parent.
    pub fn traceparent(&self) -> Option<String> {
        let span = self.span_id?;
        // Written piece by piece, not with `format!` (see `hex`).
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        out.push_str(hex(self.trace_id.0, &mut [0; 32]));
        out.push('-');
        out.push_str(hex(u128::from(span.0), &mut [0; 16]));
        out.push_str(if self.sampled { "-01" } else { "-00" });
        Some(out)
    }

    /// The `X-Cloud-Trace-Context` value: `TRACE_ID/SPAN_ID;o=1`, or `TRACE_ID;o=1` without a span.
    pub fn x_cloud_trace_context(&self) -> String {
        // Written piece by piece, not with `format!` (see `hex`).
        let mut out = String::with_capacity(57);
        out.push_str(hex(self.trace_id.0, &mut [0; 32]));
        if let Some(span) = self.span_id {
            out.push('/');
            out.push_str(decimal(span.as_u64(), &mut [0; 20]));
        }
        out.push_str(if self.sampled { ";o=1" } else { ";o=0" });
        out
    }

    /// Both headers for an outgoing request (`traceparent` only when there is a span id; call
    /// [`TraceContext::child`] first to get one).
    pub fn to_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        // Both values are hex, digits, '-', '/', ';' and '=': always valid header values.
        if let Some(Ok(value)) = self.traceparent().map(HeaderValue::try_from) {
            headers.insert(TRACEPARENT.clone(), value);
        }
        if let Ok(value) = HeaderValue::try_from(self.x_cloud_trace_context()) {
            headers.insert(X_CLOUD_TRACE_CONTEXT.clone(), value);
        }
        headers
    }

    /// The value of Cloud Logging's `logging.googleapis.com/trace` field: `projects/P/traces/ID` when the
    /// project is known (the form that links a log line to Cloud Trace), else the bare id.
    /// <https://cloud.google.com/logging/docs/structured-logging#special-payload-fields>
    pub fn cloud_logging_trace(&self, project_id: Option<&str>) -> String {
        cloud_logging_trace(&self.trace_id.to_string(), project_id)
    }
}

pub(crate) fn cloud_logging_trace(trace_id: &str, project_id: Option<&str>) -> String {
    match project_id {
        Some(project) => format!("projects/{project}/traces/{trace_id}"),
        None => trace_id.to_owned(),
    }
}

/// Puts the request's [`TraceContext`] into its extensions, a new root if it has none.
pub(crate) fn settle(request: &mut Request) {
    let context =
        TraceContext::from_headers(request.headers()).unwrap_or_else(TraceContext::new_root);
    request.extensions_mut().insert(context);
}

#[derive(Clone, Copy)]
enum Case {
    Lower,
    Any,
}

fn is_hex(s: &str, len: usize, case: Case) -> bool {
    s.len() == len
        && s.bytes().all(|b| match case {
            Case::Lower => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Case::Any => b.is_ascii_hexdigit(),
        })
}

/// Digits only: `str::parse` alone would also accept a leading `+`.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn ids_print_as_zero_padded_lowercase_hex() {
        for n in [
            1u128,
            0xf,
            0xabc,
            u128::from(u64::MAX),
            u128::MAX,
            0x4bf9 << 100,
        ] {
            let trace = TraceId::new(n).expect("non-zero");
            assert_eq!(trace.to_string(), format!("{n:032x}"));
        }
        for n in [1u64, 0xa0, 0x00f0_67aa_0ba9_02b7, u64::MAX] {
            let span = SpanId::new(n).expect("non-zero");
            assert_eq!(span.to_string(), format!("{n:016x}"));
        }
    }

    #[test]
    fn both_headers_read_as_format_would_write_them() {
        for (trace, span, sampled) in [
            (1u128, Some(1u64), false),
            (
                0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                Some(0x00f0_67aa_0ba9_02b7),
                true,
            ),
            (u128::MAX, Some(u64::MAX), true),
            (0xabc, None, false),
        ] {
            let context = TraceContext {
                trace_id: TraceId::new(trace).expect("non-zero"),
                span_id: span.and_then(SpanId::new),
                sampled,
            };
            let o = u8::from(sampled);
            let expected = match span {
                Some(span) => format!("{trace:032x}/{span};o={o}"),
                None => format!("{trace:032x};o={o}"),
            };
            assert_eq!(context.x_cloud_trace_context(), expected);
            assert_eq!(
                context.traceparent(),
                span.map(|span| format!("00-{trace:032x}-{span:016x}-{o:02x}"))
            );
        }
    }

    /// `(trace id, span id as hex, sampled)` or `None` for rejected input.
    type Expected = Option<(&'static str, Option<&'static str>, bool)>;

    fn show(context: Option<TraceContext>) -> Option<(String, Option<String>, bool)> {
        context.map(|c| {
            (
                c.trace_id.to_string(),
                c.span_id.map(|s| s.to_string()),
                c.sampled,
            )
        })
    }

    fn owned(expected: Expected) -> Option<(String, Option<String>, bool)> {
        expected.map(|(t, s, sampled)| (t.to_owned(), s.map(str::to_owned), sampled))
    }

    fn check_traceparent(input: &str, expected: Expected) {
        assert_eq!(
            show(TraceContext::parse_traceparent(input)),
            owned(expected),
            "traceparent {input:?}"
        );
    }

    fn check_x_cloud(input: &str, expected: Expected) {
        assert_eq!(
            show(TraceContext::parse_x_cloud_trace_context(input)),
            owned(expected),
            "X-Cloud-Trace-Context {input:?}"
        );
    }

    #[test]
    fn traceparent_values_are_parsed_or_ignored() {
        let ok = |span, sampled| Some((TRACE, Some(span), sampled));
        let table: &[(&str, Expected)] = &[
            // Valid: the W3C example, sampled and not.
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ok("00f067aa0ba902b7", true),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                ok("00f067aa0ba902b7", false),
            ),
            // Only flag bit 0 means sampled.
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                ok("00f067aa0ba902b7", true),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
                ok("00f067aa0ba902b7", false),
            ),
            // Surrounding whitespace is tolerated.
            (
                " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
                ok("00f067aa0ba902b7", true),
            ),
            // A later version may append fields.
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                ok("00f067aa0ba902b7", true),
            ),
            // Invalid.
            ("", None),
            ("garbage", None),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", None),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                None,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                None,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
        ];
        for (input, expected) in table {
            check_traceparent(input, *expected);
        }
    }

    #[test]
    fn x_cloud_trace_context_values_are_parsed_or_ignored() {
        // 67667974448284343 is 0x00f067aa0ba902b7, the span id of the W3C traceparent example.
        let table: &[(&str, Expected)] = &[
            // Full form, sampled and not.
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343;o=1",
                Some((TRACE, Some("00f067aa0ba902b7"), true)),
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343;o=0",
                Some((TRACE, Some("00f067aa0ba902b7"), false)),
            ),
            // Partial forms.
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343",
                Some((TRACE, Some("00f067aa0ba902b7"), false)),
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736;o=1",
                Some((TRACE, None, true)),
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736",
                Some((TRACE, None, false)),
            ),
            // Span id 0 means no span; the largest u64 is fine.
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/0;o=1",
                Some((TRACE, None, true)),
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/18446744073709551615",
                Some((TRACE, Some("ffffffffffffffff"), false)),
            ),
            // Uppercase hex is normalised.
            (
                "4BF92F3577B34DA6A3CE929D0E0E4736/1;o=1",
                Some((TRACE, Some("0000000000000001"), true)),
            ),
            // Invalid.
            ("", None),
            ("garbage", None),
            ("4bf92f3577b34da6a3ce929d0e0e473/1;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e47366/1;o=1", None),
            ("00000000000000000000000000000000/1;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e473z/1;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/abc;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/+5;o=1", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/-5;o=1", None),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736/18446744073709551616",
                None,
            ),
            ("4bf92f3577b34da6a3ce929d0e0e4736/1;o=", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/1;o=yes", None),
            ("4bf92f3577b34da6a3ce929d0e0e4736/1;sampled=1", None),
        ];
        for (input, expected) in table {
            check_x_cloud(input, *expected);
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn traceparent_wins_when_both_headers_are_valid() {
        let both = headers(&[
            (
                "traceparent",
                "00-11111111111111111111111111111111-2222222222222222-01",
            ),
            (
                "x-cloud-trace-context",
                "33333333333333333333333333333333/4;o=0",
            ),
        ]);
        let context = TraceContext::from_headers(&both).expect("valid");
        assert_eq!(
            context.trace_id.to_string(),
            "11111111111111111111111111111111"
        );
        assert!(context.sampled);
    }

    #[test]
    fn x_cloud_trace_context_is_used_when_traceparent_is_invalid_or_absent() {
        for pairs in [
            &[
                ("traceparent", "00-zz-zz-01"),
                (
                    "x-cloud-trace-context",
                    "33333333333333333333333333333333/4;o=1",
                ),
            ][..],
            &[(
                "x-cloud-trace-context",
                "33333333333333333333333333333333/4;o=1",
            )][..],
        ] {
            let context = TraceContext::from_headers(&headers(pairs)).expect("valid");
            assert_eq!(
                context.trace_id.to_string(),
                "33333333333333333333333333333333"
            );
            assert_eq!(context.span_id.map(SpanId::as_u64), Some(4));
        }
        assert_eq!(TraceContext::from_headers(&headers(&[])), None);
    }

    #[test]
    fn to_headers_writes_both_formats_and_they_parse_back() {
        let context = TraceContext::parse_x_cloud_trace_context(
            "4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343;o=1",
        )
        .expect("valid");
        let out = context.to_headers();
        assert_eq!(
            out.get(&TRACEPARENT).and_then(|v| v.to_str().ok()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(
            out.get(&X_CLOUD_TRACE_CONTEXT)
                .and_then(|v| v.to_str().ok()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736/67667974448284343;o=1")
        );
        assert_eq!(TraceContext::from_headers(&out), Some(context));
    }

    #[test]
    fn a_context_without_span_writes_only_the_legacy_header() {
        let context =
            TraceContext::parse_x_cloud_trace_context("4bf92f3577b34da6a3ce929d0e0e4736;o=0")
                .expect("valid");
        let out = context.to_headers();
        assert!(out.get(&TRACEPARENT).is_none());
        assert_eq!(
            out.get(&X_CLOUD_TRACE_CONTEXT)
                .and_then(|v| v.to_str().ok()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736;o=0")
        );
    }

    #[test]
    fn child_keeps_trace_and_sampling_with_a_new_span() {
        let parent = TraceContext::parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .expect("valid");
        let child = parent.child();
        assert_eq!(child.trace_id, parent.trace_id);
        assert!(child.sampled);
        assert!(child.span_id.is_some());
        assert_ne!(child.span_id, parent.span_id);
        assert!(child.traceparent().is_some());
    }

    #[test]
    fn a_new_root_is_unsampled_without_span() {
        let root = TraceContext::new_root();
        assert!(!root.sampled);
        assert_eq!(root.span_id, None);
        assert_eq!(root.trace_id.to_string().len(), 32);
        assert_ne!(root.trace_id, TraceContext::new_root().trace_id);
    }

    #[test]
    fn cloud_logging_trace_names_the_project_when_known() {
        let context = TraceContext::parse_x_cloud_trace_context(TRACE).expect("valid");
        assert_eq!(
            context.cloud_logging_trace(Some("my-project")),
            format!("projects/my-project/traces/{TRACE}")
        );
        assert_eq!(context.cloud_logging_trace(None), TRACE);
    }
}
