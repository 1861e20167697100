//! What broke when a run fails. Timely's connection threads panic when a peer's socket closes,
//! and the workers then panic on the poisoned queues; their payloads say little. While a solve
//! runs, a panic hook records the panics of timely's threads (their thread names say which
//! process a connection led to) instead of printing them, so the error can name the peer.
//! Other panics go to the hook that was installed before.

use crate::{ClusterError, Layout};
use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex};

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// A panic of one of timely's threads: its name and what it said.
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    thread: String,
    message: String,
}

/// The hook installed for a solve, and the one it replaced.
pub(crate) struct Faults {
    seen: Arc<Mutex<Vec<Fault>>>,
    previous: Arc<Hook>,
}

fn message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

impl Faults {
    pub(crate) fn install() -> Faults {
        let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
        let seen: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let (hook_seen, hook_previous) = (Arc::clone(&seen), Arc::clone(&previous));
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            if thread.starts_with("timely:") {
                if let Ok(mut seen) = hook_seen.lock() {
                    seen.push(Fault {
                        thread,
                        message: message(info),
                    });
                }
            } else {
                hook_previous(info);
            }
        }));
        Faults { seen, previous }
    }

    /// What was seen so far.
    pub(crate) fn seen(&self) -> Vec<Fault> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// Puts the previous hook back.
    pub(crate) fn uninstall(self) {
        let _ = std::panic::take_hook();
        let previous = self.previous;
        std::panic::set_hook(Box::new(move |info| previous(info)));
    }
}

/// The error to report: a broken connection names its peer; a worker's own panic says what it
/// said.
pub(crate) fn explain(error: ClusterError, seen: &[Fault], layout: &Layout) -> ClusterError {
    let peer_of = |thread: &str| {
        let index = thread
            .strip_prefix("timely:recv-")
            .or_else(|| thread.strip_prefix("timely:send-"))?;
        let process: usize = index.parse().ok()?;
        match layout {
            Layout::Processes { addresses, .. } => addresses
                .get(process)
                .map(|address| format!("process {process} ({address})")),
            Layout::Threads { .. } => None,
        }
    };
    if let Some((peer, fault)) = seen
        .iter()
        .find_map(|fault| peer_of(&fault.thread).map(|peer| (peer, fault)))
    {
        let reason = fault
            .message
            .strip_prefix("timely communication error: ")
            .unwrap_or(&fault.message)
            .to_owned();
        return ClusterError::Lost { peer, reason };
    }
    match (error, seen.first()) {
        (ClusterError::Worker(_), Some(fault)) => {
            ClusterError::Worker(format!("{}: {}", fault.thread, fault.message))
        }
        (error, _) => error,
    }
}
