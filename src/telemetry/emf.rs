//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object
//! per line on standard output, which CloudWatch Logs turns into metrics
//! without a single API call (no `PutMetricData`, no extra latency, nothing
//! to grant but the log group the function already writes).
//!
//! Every metric lives in the [`NAMESPACE`] namespace; [`METRICS`] is the
//! list of names the code emits, which the template's dashboard is checked
//! against (`tests/template.rs`). Lines are written only where something
//! reads them: in Lambda, or when `METRICS=emf` is set (`METRICS=off`
//! silences them anywhere).
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write as _;

use serde_json::{Map, Value, json};

use crate::domain::UnixMillis;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "AgolSeatBroker";

/// A sign-up handled (not a replay), by `Code` (its outcome: `provisioned`,
/// `pool_full`, `no_matching_pool`, …) and `Pool` when one was chosen.
pub const SIGN_UPS: &str = "SignUps";
/// Time spent on the portal to create one member, in milliseconds (`Pool`).
pub const PORTAL_MILLIS: &str = "PortalMillis";
/// Per pool (`Pool`), from the scheduled run: the pool's size.
pub const SEATS: &str = "Seats";
/// Seats taken (the ledger's counter).
pub const USED: &str = "Used";
/// Claims still being set up.
pub const RESERVED: &str = "Reserved";
/// Claims with a member.
pub const ACTIVE: &str = "Active";
/// Requests waiting for an approver.
pub const PENDING: &str = "Pending";
/// Requests waiting for a seat.
pub const WAITLISTED: &str = "Waitlisted";
/// Seats left.
pub const FREE: &str = "Free";
/// Used seats as a percentage of the pool's size.
pub const USED_PERCENT: &str = "UsedPercent";

/// Every metric name the code emits.
pub const METRICS: &[&str] = &[
    SIGN_UPS,
    PORTAL_MILLIS,
    SEATS,
    USED,
    RESERVED,
    ACTIVE,
    PENDING,
    WAITLISTED,
    FREE,
    USED_PERCENT,
];

/// A metric's unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// A percentage.
    Percent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Percent => "Percent",
        }
    }
}

/// One EMF line: dimension values and metric values at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    at: UnixMillis,
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
}

impl MetricLine {
    /// An empty line at `at`.
    pub fn at(at: UnixMillis) -> Self {
        MetricLine {
            at,
            dimensions: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// Adds a dimension (`Pool`, `Code`).
    pub fn dimension(mut self, name: &'static str, value: &str) -> Self {
        self.dimensions.push((name, value.to_string()));
        self
    }

    /// Adds a metric value.
    pub fn metric(mut self, name: &'static str, value: f64, unit: Unit) -> Self {
        self.metrics.push((name, value, unit));
        self
    }

    /// The line's JSON: `_aws` metadata naming the namespace, the one
    /// dimension set (all the line's dimensions) and the metrics, then each
    /// dimension and metric value as a top-level member.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.at,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [self.dimensions.iter().map(|(n, _)| *n).collect::<Vec<_>>()],
                    "Metrics": self.metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u.as_str()})).collect::<Vec<_>>(),
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), json!(value));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root)
    }
}

/// Whether metric lines are written: `METRICS=emf` on, `METRICS=off` off,
/// otherwise on in Lambda only. Read from the environment once per process.
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| match std::env::var("METRICS").as_deref() {
        Ok("emf") => true,
        Ok("off") => false,
        _ => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    })
}

/// Writes the line to standard output when [`enabled`] (one write, so
/// lines from concurrent tasks never interleave). A failed write is
/// dropped: metrics never fail a request.
pub fn emit(line: &MetricLine) {
    if !enabled() {
        return;
    }
    let mut text = line.to_json().to_string();
    text.push('\n');
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_namespace_dimensions_and_metrics_and_carries_their_values() {
        let line = MetricLine::at(1_796_256_000_000)
            .dimension("Pool", "acme")
            .dimension("Code", "provisioned")
            .metric(SIGN_UPS, 1.0, Unit::Count)
            .metric(PORTAL_MILLIS, 152.5, Unit::Milliseconds);
        let v = line.to_json();
        let meta = &v["_aws"];
        assert_eq!(meta["Timestamp"], 1_796_256_000_000i64);
        let cw = &meta["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["Pool", "Code"]]));
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "SignUps", "Unit": "Count"}, {"Name": "PortalMillis", "Unit": "Milliseconds"}])
        );
        assert_eq!(v["Pool"], "acme");
        assert_eq!(v["Code"], "provisioned");
        assert_eq!(v["SignUps"], 1.0);
        assert_eq!(v["PortalMillis"], 152.5);
        // Every member the metadata names is present at the top level.
        for d in cw["Dimensions"][0].as_array().unwrap() {
            assert!(v.get(d.as_str().unwrap()).is_some());
        }
    }

    #[test]
    fn metric_names_are_unique_and_cloudwatch_safe() {
        let mut names = METRICS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert!(
            METRICS
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_alphanumeric()))
        );
    }
}
