//! A graceful stop on SIGTERM or SIGINT. Slurm sends SIGTERM at a time limit or on preemption
//! and SIGKILL `KillWait` (30 s by default) later; Kubernetes does the same on eviction. The first
//! signal asks every stage to stop: no new input is taken, every document and failure already
//! finished is committed, the inputs in flight are left for the rerun, and the process exits
//! with 128 + the signal's number (143 for SIGTERM, 130 for SIGINT). A second signal exits at
//! once with the same status; what was committed before stays, and the rerun finishes the job.
//!
//! Failures noticed after the stop are not recorded: the signal reaches FFmpeg children too (a
//! terminal's Ctrl-C and Slurm signal the whole process group), and their deaths are not the
//! inputs' fault.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Set by the first signal.
static STOPPING: OnceLock<(Arc<AtomicBool>, Arc<AtomicUsize>)> = OnceLock::new();

/// Installs the handlers (once; later calls do nothing).
pub fn install() -> std::io::Result<()> {
    if STOPPING.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [SIGTERM, SIGINT] {
        // Handlers run in the order registered: a second signal finds the flag set and exits.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&flag))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    let _ = STOPPING.set((flag, which));
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOPPING
        .get()
        .is_some_and(|(flag, _)| flag.load(Ordering::SeqCst))
}

/// The signal that asked for the stop, if one did.
pub fn signal() -> Option<i32> {
    let (flag, which) = STOPPING.get()?;
    flag.load(Ordering::SeqCst)
        .then(|| which.load(Ordering::SeqCst) as i32)
        .filter(|&s| s > 0)
}

/// The signal's name, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// Ends the process with `status` without running exit handlers or destructors (`_exit`).
pub fn exit(status: i32) -> ! {
    signal_hook::low_level::exit(status)
}
