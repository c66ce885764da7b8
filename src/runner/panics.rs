//! A panic inside a simulated node becomes a failure of that seed, not of the process.
//!
//! The panic hook records the message and location of the panic in the panicking thread,
//! so the violation can say where the node broke; each sweep job runs on its own thread.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::check::Violation;
use crate::sim::Instant;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A caught panic: what it said and where.
#[derive(Debug)]
pub struct NodePanic {
    pub message: String,
}

impl NodePanic {
    pub fn into_violation(self) -> Violation {
        Violation { invariant: "node-panic", time: Instant::ZERO, detail: self.message }
    }
}

/// Replaces the default hook (which prints to stderr) with one that records the panic
/// for [`catch`] to report.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".to_string());
            let text = format!("{message}{}", location.unwrap_or_default());
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
        }));
    });
}

/// Runs `f`, turning a panic into `Err`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, NodePanic> {
    install_hook();
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let message = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "panic (message not captured)".to_string());
        NodePanic { message }
    })
}
