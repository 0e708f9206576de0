//! The request a task is serving, for the log lines it writes: its id and trace context, held in
//! a tokio task-local around the application's future (and around the access line), read by
//! [`crate::logging`]'s layer when, and only when, a line is written.
//!
//! Why not a tracing span, which this was: a span per request costs the subscriber's registry a
//! slot (`sharded_slab`), the layer a copy of its four fields as JSON values (the trace and span
//! ids formatted to text up front), and an enter and an exit on every poll of the request's
//! future: about 3,000 instructions a request, 7 % of the gateway's hop
//! (`tools/bench/instructions.sh`), for fields that almost no request writes a line with (at
//! `RUST_LOG=warn` a 200 writes none). A task-local costs a swap of one slot per poll; the ids
//! are turned into text only for a line that is written.
//!
//! What it means for code that logs: an event inside the request's task (the handler, the
//! layers it adds, anything they `.await`) carries `request_id` and the trace fields, as it did
//! inside the span. A task the handler spawns does not, unless its future is wrapped with
//! [`in_current_request`]. Spans of the application's own are untouched, and their fields, and
//! the event's, override the request's (they are nearer to the event).

use std::future::Future;

use serde_json::{Map, Value};

use crate::{RequestId, TraceContext};

tokio::task_local! {
    static CURRENT: RequestScope;
}

/// What a log line says about the request being served.
#[derive(Clone, Debug)]
pub(crate) struct RequestScope {
    pub(crate) request_id: Option<RequestId>,
    pub(crate) trace: Option<TraceContext>,
}

impl RequestScope {
    /// Runs `future` as this request's: its log lines carry the request's fields.
    pub(crate) async fn run<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// Runs `f` as this request's (the access line, written after the future is done).
    pub(crate) fn run_sync<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }

    /// Puts the current request's fields into an event's fields, if a request is being served:
    /// `request_id`, `trace_id` (32 hex digits), `span_id` (16 hex digits) and `trace_sampled`,
    /// the names [`crate::logging`] lifts into Cloud Logging's special keys.
    pub(crate) fn put_current(fields: &mut Map<String, Value>) {
        let _ = CURRENT.try_with(|scope| {
            if let Some(id) = &scope.request_id {
                fields.insert("request_id".into(), id.as_str().into());
            }
            if let Some(trace) = &scope.trace {
                fields.insert("trace_id".into(), trace.trace_id.to_string().into());
                if let Some(span_id) = trace.span_id {
                    fields.insert("span_id".into(), span_id.to_string().into());
                }
                fields.insert("trace_sampled".into(), trace.sampled.into());
            }
        });
    }
}

/// `future`, run as the request the calling task is serving (if any): for a task a handler
/// spawns, so that its log lines carry the request's id and trace like the handler's own.
pub fn in_current_request<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let scope = CURRENT.try_with(RequestScope::clone).ok();
    async move {
        match scope {
            Some(scope) => scope.run(future).await,
            None => future.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_context::{SpanId, TraceId};

    fn scope() -> RequestScope {
        RequestScope {
            request_id: RequestId::parse(&http::HeaderValue::from_static("req-1")),
            trace: Some(TraceContext {
                trace_id: TraceId::new(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).expect("id"),
                span_id: SpanId::new(0x00f0_67aa_0ba9_02b7),
                sampled: true,
            }),
        }
    }

    fn current() -> Map<String, Value> {
        let mut fields = Map::new();
        RequestScope::put_current(&mut fields);
        fields
    }

    #[tokio::test]
    async fn inside_a_request_its_fields_are_put_as_the_log_layer_names_them() {
        let fields = scope().run(async { current() }).await;
        assert_eq!(fields["request_id"], "req-1");
        assert_eq!(fields["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(fields["span_id"], "00f067aa0ba902b7");
        assert_eq!(fields["trace_sampled"], true);
        assert_eq!(scope().run_sync(current).len(), 4);
    }

    #[tokio::test]
    async fn outside_any_request_nothing_is_put() {
        assert!(current().is_empty());
    }

    #[tokio::test]
    async fn a_spawned_task_carries_the_request_only_when_wrapped() {
        let (wrapped, bare) = scope()
            .run(async {
                let wrapped = tokio::spawn(in_current_request(async { current() }));
                let bare = tokio::spawn(async { current() });
                (wrapped.await.expect("task"), bare.await.expect("task"))
            })
            .await;
        assert_eq!(wrapped["request_id"], "req-1");
        assert!(bare.is_empty());
    }
}
