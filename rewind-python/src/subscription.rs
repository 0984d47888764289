//! `rewind.Subscription`: a subscription to the log, from `Store.subscribe`
//! (served by the embedded store) or `Client.subscribe` (served by a
//! server), one Python class over either kind; and `rewind.CAUGHT_UP`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use rewind_core::{EventSubscription, SubscriptionItem, SubscriptionStop};

use crate::errors::IntoPy;
use crate::types::{PyCaughtUp, PyEvent};

/// What `rewind.Subscription` needs of a subscription of the core, in a
/// form that can be boxed: both kinds ([`EventSubscription`]) have it.
trait AnySubscription: Send {
    fn next_timeout(&mut self, timeout: Duration) -> rewind_core::Result<Option<SubscriptionItem>>;
    fn position(&self) -> u64;
}

impl<S: EventSubscription> AnySubscription for S {
    fn next_timeout(&mut self, timeout: Duration) -> rewind_core::Result<Option<SubscriptionItem>> {
        EventSubscription::next_timeout(self, timeout)
    }
    fn position(&self) -> u64 {
        EventSubscription::position(self)
    }
}

/// A stop handle of either kind ([`SubscriptionStop`]), boxed.
trait AnyStop: Send + Sync {
    fn stop(&self);
    fn is_stopped(&self) -> bool;
}

impl<H: SubscriptionStop> AnyStop for H {
    fn stop(&self) {
        SubscriptionStop::stop(self);
    }
    fn is_stopped(&self) -> bool {
        SubscriptionStop::is_stopped(self)
    }
}

/// The one `rewind.CAUGHT_UP`.
pub fn caught_up(py: Python<'_>) -> PyResult<Py<PyCaughtUp>> {
    static CAUGHT_UP: PyOnceLock<Py<PyCaughtUp>> = PyOnceLock::new();
    CAUGHT_UP
        .get_or_try_init(py, || Py::new(py, PyCaughtUp))
        .map(|c| c.clone_ref(py))
}

/// How long a blocking `__next__` waits between two looks at the
/// interpreter's signals (so that Ctrl-C interrupts it).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// A live subscription to the log, made by `Store.subscribe` or
/// `Client.subscribe` (the same class, the same behaviour).
///
/// Iterating over it yields `Event`s and, once, `rewind.CAUGHT_UP`; it
/// waits for new commits as long as it takes (with the GIL released) and
/// ends when the subscription is stopped. `next(timeout)` waits at most
/// `timeout` seconds and returns `None` when nothing came (or the
/// subscription is stopped). `stop()` may be called from any thread: it
/// wakes a waiting `next`. Once the store is closed and everything
/// committed before was handed out, `next` raises `ClosedError` (for a
/// client's subscription: once the client is closed). A client's
/// subscription survives reconnects and server restarts: it resubscribes
/// from its position, so nothing is missed or handed out twice; the caller
/// sees only a pause. Usable as a context manager, which stops it on exit.
#[pyclass(module = "rewind", name = "Subscription", frozen)]
pub struct PySubscription {
    sub: Mutex<Box<dyn AnySubscription>>,
    stop: Box<dyn AnyStop>,
    /// The position to resume from, as of the last item handed out.
    position: AtomicU64,
}

impl PySubscription {
    /// Wraps a subscription of the core, of either kind.
    pub fn new<S: EventSubscription + 'static>(sub: S) -> Self {
        PySubscription {
            stop: Box::new(sub.stop_handle()),
            position: AtomicU64::new(sub.position()),
            sub: Mutex::new(Box::new(sub)),
        }
    }

    fn next_item(&self, py: Python<'_>, timeout: Duration) -> PyResult<Option<Py<PyAny>>> {
        let item = py
            .detach(|| {
                let mut sub = self.sub.lock().unwrap_or_else(|e| e.into_inner());
                let item = sub.next_timeout(timeout);
                self.position.store(sub.position(), Ordering::Release);
                item
            })
            .py_err()?;
        Ok(match item {
            None => None,
            Some(SubscriptionItem::Event(e)) => Some(Py::new(py, PyEvent::new(py, &e))?.into_any()),
            Some(SubscriptionItem::CaughtUp) => Some(caught_up(py)?.into_any()),
        })
    }
}

#[pymethods]
impl PySubscription {
    /// The next event (or `rewind.CAUGHT_UP`), waiting at most `timeout`
    /// seconds (`None`: as long as it takes); `None` if nothing came in time
    /// or the subscription is stopped.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        match timeout {
            Some(t) => {
                let t = Duration::try_from_secs_f64(t.max(0.0)).map_err(|_| {
                    PyValueError::new_err("timeout must be a finite number of seconds")
                })?;
                self.next_item(py, t)
            }
            None => loop {
                if let Some(item) = self.next_item(py, SIGNAL_CHECK)? {
                    return Ok(Some(item));
                }
                if self.stop.is_stopped() {
                    return Ok(None);
                }
                py.check_signals()?;
            },
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next(py, None)
    }

    /// Stops the subscription, from any thread: a waiting `next` returns
    /// `None` (the iteration ends). Stopping twice is harmless.
    fn stop(&self) {
        self.stop.stop();
    }

    /// Whether the subscription has been stopped.
    #[getter]
    fn stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// The position to resume from: every event before it has been handed
    /// out or skipped by the filter.
    #[getter]
    fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        self.stop();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<rewind.Subscription position={}{}>",
            self.position(),
            if self.stopped() { " stopped" } else { "" }
        )
    }
}
