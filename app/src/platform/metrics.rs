//! Prometheus metrics: requests by route and status, and a latency histogram.
//! One registry per application instance (no global recorder), so several servers
//! can run in one process, as the tests do.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::state::AppState;

/// `gatehouse_partner_calls_total{organisation, environment, outcome}`, counted by
/// the usage roll-up (`oversight::rollup`).
#[derive(Clone, Default)]
pub struct PartnerCalls {
    pub family: Family<PartnerLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabels {
    pub organisation: String,
    pub environment: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    /// Request-log entries lost (queue full, or a batch that failed every retry).
    pub request_log_dropped: Counter,
    /// Partner calls by organisation, environment and outcome, from the usage roll-up.
    pub partner_calls: PartnerCalls,
    /// Alerts not resolved, by severity, as of the last rule evaluation.
    pub alerts_open: Family<SeverityLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    pub severity: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        registry.register(
            "gatehouse_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "gatehouse_http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let request_log_dropped = Counter::default();
        registry.register(
            "gatehouse_request_log_dropped",
            "Request-log entries lost: the queue was full, or a batch failed every retry",
            request_log_dropped.clone(),
        );
        let partner_calls = PartnerCalls::default();
        registry.register(
            "gatehouse_partner_calls",
            "Partner calls (token requests and API calls) by organisation, environment and outcome, as rolled up",
            partner_calls.family.clone(),
        );
        let alerts_open = Family::<SeverityLabels, Gauge>::default();
        registry.register(
            "gatehouse_alerts_open",
            "Anomaly alerts not yet resolved, by severity",
            alerts_open.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            request_log_dropped,
            partner_calls,
            alerts_open,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The matched route template, not the raw path: ids would explode the label set.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&LatencyLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}
