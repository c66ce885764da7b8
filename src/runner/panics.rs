//! A panic inside a simulated node becomes a failure of that seed, not of the process.
//!
//! While [`catch`] runs, the panic hook records the panic's message and location for the
//! report instead of printing it; any other panic goes to the previous hook as usual. Each
//! sweep job runs on its own thread, so the records are per thread.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::check::Violation;
use crate::sim::Instant;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A caught panic: what it said and where.
#[derive(Debug)]
pub struct NodePanic {
    pub message: String,
}

impl NodePanic {
    /// The panic as a violation at simulated time `time`.
    pub fn into_violation(self, time: Instant) -> Violation {
        Violation { invariant: "node-panic", time, detail: self.message }
    }
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CATCHING.get() {
                return previous(info);
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".to_string());
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
            let text = format!("{message}{}", location.unwrap_or_default());
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
        }));
    });
}

/// Runs `f`, turning a panic into `Err`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, NodePanic> {
    install_hook();
    let was_catching = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(was_catching);
    result.map_err(|_| {
        let message = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "panic (message not captured)".to_string());
        NodePanic { message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_violation_with_its_location() {
        let caught = catch(|| -> u32 { panic!("replica log out of order") });
        let violation = caught.expect_err("the panic is caught").into_violation(Instant::ZERO);
        assert_eq!(violation.invariant, "node-panic");
        assert!(
            violation.detail.starts_with("replica log out of order at "),
            "{}",
            violation.detail
        );
        assert!(violation.detail.contains("panics.rs"), "{}", violation.detail);
    }

    #[test]
    fn no_panic_passes_the_value_through() {
        assert_eq!(catch(|| 7).expect("no panic"), 7);
        assert!(!CATCHING.get(), "catching flag left set");
    }
}
