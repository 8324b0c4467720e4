//! W3C trace context (`traceparent`, `tracestate`) in and out of `tracing`
//! spans, so one AMI event is one trace across processes: the ingestor puts
//! the current span's context in the NATS headers, the state service makes its
//! apply span a child of it, and so on through gRPC and HTTP metadata.
//!
//! The helpers take plain strings or header getter/setter closures, so the
//! bus's `Headers`, `http::HeaderMap` and `tonic::metadata::MetadataMap` all
//! work without this crate knowing them:
//!
//! ```
//! use std::collections::HashMap;
//! // publish: the current span's context into the message headers
//! let mut headers: HashMap<&str, String> = HashMap::new();
//! ringside_telemetry::inject_context(&tracing::Span::current(), |name, value| {
//!     headers.insert(name, value);
//! });
//! // consume: the handling span becomes a child of the producer's
//! let span = tracing::info_span!("apply");
//! let _ = ringside_telemetry::set_parent_from_headers(&span, |name| {
//!     headers.get(name).map(String::as_str)
//! });
//! let _entered = span.enter();
//! ```
//!
//! They only carry a context when trace export is configured in this process
//! (the OpenTelemetry layer is what gives spans trace ids); otherwise they are
//! cheap no-ops. Configure OTLP on every service, or none.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

use crate::TraceContextError;

/// The W3C `traceparent` header name (the same as the bus's `TRACEPARENT`).
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `tracestate` header name (the same as the bus's `TRACESTATE`).
pub const TRACESTATE: &str = "tracestate";

/// Longest header value echoed back in an error message.
const ECHO_MAX: usize = 80;

/// The trace context of the current span: `(traceparent, tracestate)`, or
/// `None` when the span has none (export off, or no span).
pub fn current_traceparent() -> Option<(String, Option<String>)> {
    traceparent_of(&Span::current())
}

/// The trace context of `span` (see [`current_traceparent`]).
pub fn traceparent_of(span: &Span) -> Option<(String, Option<String>)> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let traceparent = carrier.remove(TRACEPARENT)?;
    let tracestate = carrier.remove(TRACESTATE).filter(|s| !s.is_empty());
    Some((traceparent, tracestate))
}

/// Writes `span`'s trace context with `set(name, value)`: `traceparent`, and
/// `tracestate` when there is one. Writes nothing when the span has no
/// context.
pub fn inject_context(span: &Span, mut set: impl FnMut(&'static str, String)) {
    if let Some((traceparent, tracestate)) = traceparent_of(span) {
        set(TRACEPARENT, traceparent);
        if let Some(tracestate) = tracestate {
            set(TRACESTATE, tracestate);
        }
    }
}

/// Makes `span` a child of the remote context `traceparent` (+ `tracestate`).
/// Call it before the span is first entered.
///
/// # Errors
/// An invalid `traceparent`, a span already started or disabled, or no
/// OpenTelemetry layer in this process. Callers usually log and go on: a
/// broken trace must never stop a message.
pub fn set_parent_from(
    span: &Span,
    traceparent: &str,
    tracestate: Option<&str>,
) -> Result<(), TraceContextError> {
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert(TRACEPARENT.to_owned(), traceparent.trim().to_owned());
    if let Some(tracestate) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), tracestate.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    if !cx.span().span_context().is_valid() {
        return Err(TraceContextError::InvalidTraceparent(echo(traceparent)));
    }
    if span.is_disabled() {
        return Err(TraceContextError::SpanDisabled);
    }
    span.set_parent(cx).map_err(|e| match e {
        SetParentError::AlreadyStarted => TraceContextError::AlreadyStarted,
        SetParentError::SpanDisabled => TraceContextError::SpanDisabled,
        _ => TraceContextError::NoLayer,
    })
}

/// [`set_parent_from`] with the values read by `get(name)`. `Ok(false)` when
/// there is no `traceparent` (a message from an untraced producer).
///
/// # Errors
/// As [`set_parent_from`].
pub fn set_parent_from_headers<'a>(
    span: &Span,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<bool, TraceContextError> {
    let Some(traceparent) = get(TRACEPARENT) else {
        return Ok(false);
    };
    set_parent_from(span, traceparent, get(TRACESTATE))?;
    Ok(true)
}

/// The span a server runs one incoming HTTP or gRPC request in, a child of
/// the caller's trace when the request carries `traceparent`: a script's
/// REST call, a browser's or another service's gRPC call and whatever the
/// server does for it (an AMI action over the bus, a snapshot request) are
/// then one trace.
///
/// For `tower_http::trace::TraceLayer::make_span_with` and tonic's
/// `Server::trace_fn`. The query string is left out: it is the caller's.
pub fn server_span<B>(request: &axum::http::Request<B>) -> Span {
    let grpc = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let path = request.uri().path();
    let span = if grpc {
        tracing::info_span!(
            "grpc request",
            otel.kind = "server",
            otel.name = %path,
            rpc.system = "grpc",
        )
    } else {
        tracing::info_span!(
            "http request",
            otel.kind = "server",
            otel.name = %format_args!("{} {}", request.method(), path),
            http.request.method = %request.method(),
            url.path = %path,
        )
    };
    let headers = request.headers();
    if let Err(e) = set_parent_from_headers(&span, |name| {
        headers.get(name).and_then(|v| v.to_str().ok())
    }) && !matches!(
        e,
        TraceContextError::SpanDisabled | TraceContextError::NoLayer
    ) {
        tracing::debug!(error = %e, "request trace context ignored");
    }
    span
}

/// A header value shortened for an error message (it comes from the wire).
fn echo(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(ECHO_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().count() > ECHO_MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_traceparent_is_refused_and_echoed_safely() {
        let span = Span::none();
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(
                matches!(
                    set_parent_from(&span, bad, None),
                    Err(TraceContextError::InvalidTraceparent(_))
                ),
                "{bad:?}"
            );
        }
        let long = format!("00-{}\n", "a".repeat(500));
        let Err(TraceContextError::InvalidTraceparent(echoed)) =
            set_parent_from(&span, &long, None)
        else {
            panic!("expected an invalid traceparent");
        };
        assert!(echoed.chars().count() <= ECHO_MAX + 1);
        assert!(!echoed.contains('\n'));
    }

    #[test]
    fn without_a_layer_there_is_no_context_and_no_headers() {
        // No subscriber in this unit-test thread: spans are disabled.
        let span = tracing::info_span!("no layer");
        assert_eq!(traceparent_of(&span), None);
        let mut written = Vec::new();
        inject_context(&span, |n, v| written.push((n, v)));
        assert!(written.is_empty());
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            set_parent_from(&span, valid, None),
            Err(TraceContextError::SpanDisabled)
        );
        assert_eq!(set_parent_from_headers(&span, |_| None), Ok(false));
    }
}
