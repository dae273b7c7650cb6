//! The Alertmanager delivery's metrics, registered when
//! `--alertmanager-url` is given: what got through and what did not, so
//! that a rule can see alerts going nowhere (as Prometheus's own
//! `prometheus_notifications_{sent,errors}_total`).

use prometheus::{IntCounter, Registry};

/// Counted by `alert::deliver`.
#[derive(Clone)]
pub struct DeliveryMetrics {
    /// POSTs Alertmanager accepted (re-sends of a firing alert included).
    pub sent: IntCounter,
    /// POSTs that failed: refused, unanswered, or no TLS handshake.
    pub errors: IntCounter,
}

impl DeliveryMetrics {
    /// Not registered anywhere (tests).
    pub fn unregistered() -> prometheus::Result<Self> {
        Ok(DeliveryMetrics {
            sent: IntCounter::new(
                "pxe_alert_notifications_sent_total",
                "Alerts of the agent's own (PxeBootFailureSpike) Alertmanager accepted, re-sends included.",
            )?,
            errors: IntCounter::new(
                "pxe_alert_notifications_errors_total",
                "Attempts to deliver the agent's own alert that failed (refused, unanswered, TLS); each is retried.",
            )?,
        })
    }

    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self::unregistered()?;
        registry.register(Box::new(m.sent.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        Ok(m)
    }
}
