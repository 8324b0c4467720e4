//! Spans reach a real OTLP/gRPC receiver (the collector's `TraceService`, as
//! generated from the same protos the exporter uses), with the service name,
//! and a context carried in `traceparent` links two spans into one trace.
//!
//! One process, one `init`: this file holds the tests that need the exporter
//! pointed at the receiver.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use ringside_telemetry::{TelemetrySettings, current_traceparent, set_parent_from};
use tokio::sync::mpsc;

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// (service.name, span) for every span in the requests received so far.
fn spans(requests: &[ExportTraceServiceRequest]) -> Vec<(String, OtlpSpan)> {
    let mut out = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push((service.clone(), span.clone()));
                }
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_at_the_collector_with_the_service_name_and_linked_by_traceparent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let settings = TelemetrySettings {
        otlp_endpoint: Some(format!("http://{addr}")),
        service_name: Some("ringside-test-exporter".into()),
        log_filter: Some("info".into()),
        ..TelemetrySettings::default()
    };
    let telemetry = ringside_telemetry::init(&settings, "test").unwrap();
    assert!(telemetry.is_installed());
    assert!(telemetry.exports_traces());
    assert_eq!(telemetry.service_name(), "ringside-test-exporter");

    // "Ingestor": a span whose context goes into message headers.
    let (traceparent, tracestate) = {
        let publish = tracing::info_span!("publish", pbx = "sim-1");
        let _entered = publish.enter();
        current_traceparent().expect("a span under the OpenTelemetry layer has a context")
    };
    assert!(traceparent.starts_with("00-"), "{traceparent}");
    let trace_id = traceparent.split('-').nth(1).unwrap().to_owned();
    let publish_span_id = traceparent.split('-').nth(2).unwrap().to_owned();

    // "State service": a span made a child of the received context.
    let apply = tracing::info_span!("apply");
    set_parent_from(&apply, &traceparent, tracestate.as_deref()).unwrap();
    let (child_traceparent, _) = {
        let _entered = apply.enter();
        current_traceparent().unwrap()
    };
    drop(apply);
    assert_eq!(
        child_traceparent.split('-').nth(1),
        Some(trace_id.as_str()),
        "same trace across the hop"
    );
    assert_ne!(
        child_traceparent.split('-').nth(2),
        Some(publish_span_id.as_str())
    );

    // Export is batched: flush from a blocking thread, then read what came.
    let flush = tokio::task::spawn_blocking(move || {
        telemetry.flush();
        telemetry
    });
    let telemetry = flush.await.unwrap();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while spans(&received).len() < 2 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(request)) => received.push(request),
            _ => panic!("spans did not arrive: {:?}", spans(&received)),
        }
    }
    telemetry.shutdown().await;

    let spans = spans(&received);
    let publish = spans.iter().find(|(_, s)| s.name == "publish").unwrap();
    let apply = spans.iter().find(|(_, s)| s.name == "apply").unwrap();
    assert_eq!(publish.0, "ringside-test-exporter");
    assert_eq!(apply.0, "ringside-test-exporter");
    assert_eq!(hex(&publish.1.trace_id), trace_id);
    assert_eq!(hex(&apply.1.trace_id), trace_id);
    assert_eq!(hex(&publish.1.span_id), publish_span_id);
    assert_eq!(hex(&apply.1.parent_span_id), publish_span_id);
    assert_eq!(
        Some(hex(&apply.1.span_id).as_str()),
        child_traceparent.split('-').nth(2)
    );
    // The exporter's own gRPC machinery is never traced.
    assert!(
        spans
            .iter()
            .all(|(_, s)| s.name == "publish" || s.name == "apply"),
        "{:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
}
