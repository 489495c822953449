//! Giving freed memory back to the operating system.
//!
//! A query over thousands of series allocates tens of megabytes that are freed when its
//! answer is sent; glibc's allocator keeps such memory in its arenas, so the process's
//! resident size would stay at the high-water mark of its largest query. Go's runtime,
//! which Prometheus runs on, returns idle memory in the background; this does the same
//! for Narthex: a second after work that allocated much (queries, compactions), it asks
//! the allocator to release what it no longer uses (`malloc_trim`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bumped by work after which memory is worth releasing.
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// Notes work that freed (or will soon free) much memory.
pub(crate) fn note_activity() {
    ACTIVITY.fetch_add(1, Ordering::Relaxed);
}

/// Releases the allocator's free memory once a second after activity was noted; runs
/// until the runtime stops.
pub(crate) fn spawn_trimmer() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = ACTIVITY.load(Ordering::Relaxed);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = ACTIVITY.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                let _ = tokio::task::spawn_blocking(release).await;
            }
        }
    })
}

/// Returns the allocator's unused memory to the operating system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The one foreign call of the server; see the SAFETY note.
pub(crate) fn release() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: `malloc_trim` is glibc's documented, thread-safe call to release free
    // heap memory; it takes no pointers and only touches the allocator's own state.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release() {}

#[cfg(test)]
mod tests {
    #[test]
    fn releasing_after_freeing_lowers_resident_memory() {
        let rss = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("RssAnon:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                })
                .unwrap_or(0)
        };
        // Many small allocations (below the mmap threshold, so they live in the heap),
        // freed out of order so the heap's top stays in use until the last goes.
        let mut v: Vec<Vec<u8>> = (0..100_000).map(|i| vec![i as u8; 512]).collect();
        let keep = v.pop();
        let before_free = rss();
        drop(v);
        let freed = rss();
        super::release();
        let released = rss();
        drop(keep);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(before_free > 40_000, "{before_free} kB");
            assert!(
                released + 20_000 < freed,
                "release gave back too little: {freed} kB -> {released} kB"
            );
        }
    }
}
