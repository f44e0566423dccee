//! Ferrokeeper-only figures recorded through the `metrics` facade (`counter!`, `gauge!`).
//!
//! ZooKeeper's own names are not recorded here: they are read at render time from the
//! counters the server already keeps ([`super::figures`]), so the request path pays nothing
//! for them. What goes through the facade is rare and Ferrokeeper's own (AdminServer
//! commands served, metric scrapes), and renders under the `ferrokeeper_` prefix. The
//! recorder is installed once per process ([`install`]); histograms are not kept (no
//! caller records one) and record nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// A counter or a gauge, as the facade hands it out.
#[derive(Debug, Clone)]
pub enum Cell {
    /// A counter (its value).
    Counter(Arc<AtomicU64>),
    /// A gauge (the bits of its `f64` value).
    Gauge(Arc<AtomicU64>),
}

/// A figure's name and labels.
pub type SeriesKey = (String, Vec<(String, String)>);

/// One recorded figure: name and labels, whether it is a counter, its value.
pub type Sample = (String, Vec<(String, String)>, bool, f64);

/// The registry behind the facade: name and labels → cell.
#[derive(Debug, Default)]
pub struct Registry {
    cells: Mutex<BTreeMap<SeriesKey, Cell>>,
}

impl Registry {
    fn cell(&self, key: &Key, gauge: bool) -> Cell {
        let labels = key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        cells
            .entry((key.name().to_string(), labels))
            .or_insert_with(|| {
                let a = Arc::new(AtomicU64::new(0));
                if gauge {
                    Cell::Gauge(a)
                } else {
                    Cell::Counter(a)
                }
            })
            .clone()
    }

    /// Every recorded figure: (name, labels, is counter, value).
    pub fn samples(&self) -> Vec<Sample> {
        let cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        cells
            .iter()
            .map(|((name, labels), cell)| match cell {
                Cell::Counter(a) => (
                    name.clone(),
                    labels.clone(),
                    true,
                    a.load(Ordering::Relaxed) as f64,
                ),
                Cell::Gauge(a) => (
                    name.clone(),
                    labels.clone(),
                    false,
                    f64::from_bits(a.load(Ordering::Relaxed)),
                ),
            })
            .collect()
    }
}

#[derive(Debug)]
struct FacadeRecorder(&'static Registry);

impl Recorder for FacadeRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.0.cell(key, false) {
            Cell::Counter(a) => Counter::from_arc(a),
            Cell::Gauge(_) => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.0.cell(key, true) {
            Cell::Gauge(a) => Gauge::from_arc(a),
            Cell::Counter(_) => Gauge::noop(),
        }
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

static REGISTRY: OnceLock<&'static Registry> = OnceLock::new();

/// Installs the recorder (once per process; later calls, and a recorder some embedding
/// program installed first, are left alone) and returns the registry it records into.
pub fn install() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        let reg: &'static Registry = Box::leak(Box::default());
        if metrics::set_global_recorder(FacadeRecorder(reg)).is_err() {
            tracing::debug!(
                "a metrics recorder was already installed; ferrokeeper_ figures stay empty"
            );
        }
        reg
    })
}
