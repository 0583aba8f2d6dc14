//! Bindings for `time`: the clock, the venue-clock offset estimator and latency histograms.
//! Converts arguments, calls `crate::time`, maps errors; no logic lives here.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::model::UnixNanos;
use crate::time::{
    encode_compressed, CalibrationReport, Clock, ClockConfig, ClockSource, LatencyConfig,
    LatencyRecorder, LatencyTracker, OffsetEstimate, PercentileTable, RecalibrationThread,
    SourceChoice, VenueClockOffset,
};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyClock>()?;
    m.add_class::<PyVenueClockOffset>()?;
    m.add_class::<PyLatencyTracker>()?;
    m.add_class::<PyLatencyHistogram>()?;
    Ok(())
}

fn seconds_to_ns(s: f64) -> PyResult<u64> {
    if !(s.is_finite() && s >= 0.0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "expected a finite non-negative number of seconds, got {s}"
        )));
    }
    Ok((s * 1e9) as u64)
}

fn report_dict<'py>(py: Python<'py>, r: &CalibrationReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tick_hz", r.tick_hz)?;
    d.set_item("samples", r.samples)?;
    d.set_item("span_ns", r.span_ns)?;
    d.set_item("mono_max_residual_ns", r.mono_max_residual_ns)?;
    d.set_item("mono_rms_residual_ns", r.mono_rms_residual_ns)?;
    d.set_item("realtime_max_residual_ns", r.realtime_max_residual_ns)?;
    d.set_item("mono_phase_error_ns", r.mono_phase_error_ns)?;
    d.set_item("realtime_phase_error_ns", r.realtime_phase_error_ns)?;
    d.set_item("realtime_stepped", r.realtime_stepped)?;
    d.set_item("generation", r.generation)?;
    Ok(d)
}

/// `pymm._native.Clock`: the TSC clock (or its `clock_gettime` fallback).
#[pyclass(name = "Clock", module = "pymm._native")]
pub struct PyClock {
    inner: Arc<Clock>,
    recalibration: Option<RecalibrationThread>,
}

#[pymethods]
impl PyClock {
    #[new]
    #[pyo3(signature = (source = "auto", calibration_s = None, samples = None))]
    fn py_new(
        py: Python<'_>,
        source: &str,
        calibration_s: Option<f64>,
        samples: Option<usize>,
    ) -> PyResult<Self> {
        let defaults = ClockConfig::default();
        let source = match source {
            "auto" => SourceChoice::Auto,
            "tsc" => SourceChoice::Force(ClockSource::Tsc),
            "monotonic_raw" => SourceChoice::Force(ClockSource::MonotonicRaw),
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "source must be 'auto', 'tsc' or 'monotonic_raw', got {other:?}"
                )))
            }
        };
        let config = ClockConfig {
            source,
            initial_calibration_ns: calibration_s
                .map(seconds_to_ns)
                .transpose()?
                .unwrap_or(defaults.initial_calibration_ns),
            samples: samples.unwrap_or(defaults.samples),
            ..defaults
        };
        let clock = py.detach(|| Clock::new(config)).map_err(PyErr::from)?;
        Ok(Self {
            inner: Arc::new(clock),
            recalibration: None,
        })
    }

    /// Monotonic nanoseconds (the `CLOCK_MONOTONIC_RAW` timeline).
    fn now_ns(&self) -> u64 {
        self.inner.now_mono().as_u64()
    }

    /// Realtime nanoseconds since the Unix epoch (`CLOCK_REALTIME` timeline).
    fn realtime_ns(&self) -> u64 {
        self.inner.now().as_u64()
    }

    /// Raw ticks of the source.
    fn ticks(&self) -> u64 {
        self.inner.ticks()
    }

    /// Ticks converted to monotonic nanoseconds.
    fn ticks_to_ns(&self, ticks: u64) -> u64 {
        self.inner.ticks_to_mono(ticks).as_u64()
    }

    /// Ticks converted to realtime nanoseconds.
    fn ticks_to_realtime_ns(&self, ticks: u64) -> u64 {
        self.inner.ticks_to_unix(ticks).as_u64()
    }

    /// Published tick rate in Hz.
    #[getter]
    fn tsc_hz(&self) -> f64 {
        self.inner.tick_hz()
    }

    /// Whether the TSC is invariant (CPUID or kernel flags), whatever the source in use.
    #[getter]
    fn is_invariant(&self) -> bool {
        self.inner.tsc_support().is_invariant()
    }

    /// `"tsc"` or `"monotonic_raw"`.
    #[getter]
    fn source(&self) -> &'static str {
        self.inner.source().as_str()
    }

    /// Parameter sets published so far.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// What detection found: `available`, `cpuid_invariant`, `constant_tsc`, `nonstop_tsc`, `rdtscp`.
    fn tsc_support<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.tsc_support();
        let d = PyDict::new(py);
        d.set_item("available", s.available)?;
        d.set_item("cpuid_invariant", s.cpuid_invariant)?;
        d.set_item("constant_tsc", s.constant_tsc)?;
        d.set_item("nonstop_tsc", s.nonstop_tsc)?;
        d.set_item("rdtscp", s.rdtscp)?;
        Ok(d)
    }

    /// Samples over `duration_s`, fits and publishes; returns the calibration report.
    #[pyo3(signature = (duration_s = 0.2, samples = 32))]
    fn calibrate<'py>(
        &self,
        py: Python<'py>,
        duration_s: f64,
        samples: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ns = seconds_to_ns(duration_s)?;
        let clock = Arc::clone(&self.inner);
        let r = py
            .detach(move || clock.calibrate(ns, samples))
            .map_err(PyErr::from)?;
        report_dict(py, &r)
    }

    /// Starts background re-calibration every `interval_s` (replacing a running one).
    #[pyo3(signature = (interval_s = 1.0))]
    fn start_recalibration(&mut self, interval_s: f64) -> PyResult<()> {
        let every = Duration::from_nanos(seconds_to_ns(interval_s)?);
        self.recalibration = None;
        self.recalibration = Some(self.inner.spawn_recalibration(every).map_err(PyErr::from)?);
        Ok(())
    }

    /// Stops background re-calibration; returns how many re-calibrations failed.
    fn stop_recalibration(&mut self, py: Python<'_>) -> u64 {
        match self.recalibration.take() {
            Some(mut t) => py.detach(move || {
                t.stop();
                t.failures()
            }),
            None => 0,
        }
    }
}

fn estimate_dict<'py>(py: Python<'py>, e: &OffsetEstimate) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("offset_ns", e.offset_ns)?;
    d.set_item("min_delay_ns", e.min_delay_ns)?;
    d.set_item("delay_ns", e.delay_ns)?;
    d.set_item("latency_ns", e.latency_ns)?;
    d.set_item("samples", e.samples)?;
    Ok(d)
}

/// `pymm._native.VenueClockOffset`: minimum-delay estimate of a venue clock's offset.
#[pyclass(name = "VenueClockOffset", module = "pymm._native")]
pub struct PyVenueClockOffset {
    inner: VenueClockOffset,
}

#[pymethods]
impl PyVenueClockOffset {
    #[new]
    #[pyo3(signature = (window = 1024, latency_floor_ns = 0))]
    fn py_new(window: usize, latency_floor_ns: i64) -> Self {
        Self {
            inner: VenueClockOffset::new(window, latency_floor_ns),
        }
    }

    /// Feeds one (venue event time, our receive time) pair; returns the estimate or None.
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        ts_event_ns: u64,
        ts_recv_ns: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .update(UnixNanos(ts_event_ns), UnixNanos(ts_recv_ns))
            .map(|e| estimate_dict(py, &e))
            .transpose()
    }

    /// The latest estimate, or None.
    fn estimate<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .estimate()
            .map(|e| estimate_dict(py, &e))
            .transpose()
    }

    /// Our clock minus the venue's (ns), or None before the first event.
    #[getter]
    fn offset_ns(&self) -> Option<i64> {
        self.inner.estimate().map(|e| e.offset_ns)
    }

    /// A venue timestamp moved onto our clock.
    fn to_local(&self, ts_event_ns: u64) -> u64 {
        self.inner.to_local(UnixNanos(ts_event_ns)).as_u64()
    }

    /// Pairs rejected for an unset (0) timestamp.
    #[getter]
    fn rejected(&self) -> u64 {
        self.inner.rejected()
    }

    /// Window length in events.
    #[getter]
    fn window(&self) -> u64 {
        self.inner.window()
    }
}

fn percentile_dict<'py>(py: Python<'py>, t: &PercentileTable) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in t.rows() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// `pymm._native.LatencyHistogram`: a read-only snapshot of one stage.
#[pyclass(name = "LatencyHistogram", module = "pymm._native", frozen)]
pub struct PyLatencyHistogram {
    inner: Histogram<u64>,
    clamped: u64,
}

#[pymethods]
impl PyLatencyHistogram {
    /// Values recorded.
    #[getter]
    fn count(&self) -> u64 {
        self.inner.len()
    }

    /// Smallest value (0 when empty).
    #[getter]
    fn min(&self) -> u64 {
        if self.inner.is_empty() {
            0
        } else {
            self.inner.min()
        }
    }

    /// Largest value (bucket-equivalent).
    #[getter]
    fn max(&self) -> u64 {
        self.inner.max()
    }

    /// Mean value.
    #[getter]
    fn mean(&self) -> f64 {
        self.inner.mean()
    }

    /// Values above the tracker's `highest_ns`, recorded as `highest_ns`.
    #[getter]
    fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at percentile `p` (0-100).
    fn value_at_percentile(&self, p: f64) -> u64 {
        self.inner.value_at_percentile(p)
    }

    /// `{"p50", "p90", "p99", "p99.9", "p99.99", "max"}` in nanoseconds.
    fn percentiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        percentile_dict(
            py,
            &PercentileTable::from_histogram(&self.inner, self.clamped),
        )
    }

    /// The V2 compressed encoding (base64 it for `hdrh.histogram.HdrHistogram.decode`).
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = encode_compressed(&self.inner).map_err(PyErr::from)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __len__(&self) -> usize {
        self.inner.len() as usize
    }
}

/// `pymm._native.LatencyTracker`: per-stage histograms. A tracker made in Python owns every stage's
/// recorder, so `record` works from Python (tests, Python-side stages).
#[pyclass(name = "LatencyTracker", module = "pymm._native")]
pub struct PyLatencyTracker {
    inner: LatencyTracker,
    recorders: Vec<LatencyRecorder>,
}

impl PyLatencyTracker {
    fn index(&self, stage: &str) -> PyResult<usize> {
        self.inner.stage_index(stage).map_err(PyErr::from)
    }
}

#[pymethods]
impl PyLatencyTracker {
    #[new]
    #[pyo3(signature = (stages, start_ns, *, highest_ns = None, sigfig = None))]
    fn py_new(
        stages: Vec<String>,
        start_ns: u64,
        highest_ns: Option<u64>,
        sigfig: Option<u8>,
    ) -> PyResult<Self> {
        let d = LatencyConfig::default();
        let config = LatencyConfig {
            highest_ns: highest_ns.unwrap_or(d.highest_ns),
            sigfig: sigfig.unwrap_or(d.sigfig),
        };
        let mut inner =
            LatencyTracker::new(config, &stages, UnixNanos(start_ns)).map_err(PyErr::from)?;
        let recorders = (0..stages.len())
            .map(|i| inner.take_recorder(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PyErr::from)?;
        Ok(Self { inner, recorders })
    }

    /// Stage names in order.
    #[getter]
    fn stages(&self) -> Vec<String> {
        self.inner.stage_names().map(str::to_owned).collect()
    }

    /// Records one value (ns) into `stage`.
    fn record(&mut self, stage: &str, ns: u64) -> PyResult<()> {
        let i = self.index(stage)?;
        self.recorders[i].record(ns);
        Ok(())
    }

    /// Records many values (ns) into `stage`.
    fn record_many(&mut self, stage: &str, values: Vec<u64>) -> PyResult<()> {
        let i = self.index(stage)?;
        let r = &mut self.recorders[i];
        values.into_iter().for_each(|v| r.record(v));
        Ok(())
    }

    /// Everything `stage` recorded so far.
    fn histogram(&self, stage: &str) -> PyResult<PyLatencyHistogram> {
        let i = self.index(stage)?;
        Ok(PyLatencyHistogram {
            inner: self.inner.snapshot(i).map_err(PyErr::from)?,
            clamped: self.inner.clamped(i).map_err(PyErr::from)?,
        })
    }

    /// Percentiles of everything `stage` recorded so far.
    fn percentiles<'py>(&self, py: Python<'py>, stage: &str) -> PyResult<Bound<'py, PyDict>> {
        let i = self.index(stage)?;
        percentile_dict(py, &self.inner.percentiles(i).map_err(PyErr::from)?)
    }

    /// Closes the current interval at `end_ns`, appends it to the log, returns `{stage: histogram}`.
    fn end_interval<'py>(&mut self, py: Python<'py>, end_ns: u64) -> PyResult<Bound<'py, PyDict>> {
        let hs = self
            .inner
            .end_interval(UnixNanos(end_ns))
            .map_err(PyErr::from)?;
        let d = PyDict::new(py);
        for (name, (h, clamped)) in self.inner.stage_names().zip(hs) {
            d.set_item(name, PyLatencyHistogram { inner: h, clamped })?;
        }
        Ok(d)
    }

    /// The HdrHistogram interval log (`.hlog` text) so far.
    fn hlog(&self) -> String {
        String::from_utf8_lossy(self.inner.hlog()).into_owned()
    }

    /// A text table of every stage's percentiles, in nanoseconds.
    fn percentile_table(&self) -> PyResult<String> {
        self.inner.percentile_table().map_err(PyErr::from)
    }
}
