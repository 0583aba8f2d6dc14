//! Thread placement for hot loops: pin to a core, optional SCHED_FIFO, lock memory, pre-fault stack.
//!
//! Called once per thread at start-up, never on the hot path.
#![allow(unsafe_code)]

use std::io;

/// The cores this process may run on (its affinity mask), ascending.
pub fn allowed_cores() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain data for which all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid, writable `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is initialised and `i < CPU_SETSIZE`.
    Ok((0..max)
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect())
}

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("core {core} out of range"),
        ));
    }
    // SAFETY: all-zero is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core < CPU_SETSIZE` (checked above) and `set` is a valid set.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's timer slack (ns): how late the kernel may wake a sleeping thread. The
/// default 50 µs would dominate a session loop that naps for 20 µs when idle.
pub fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches no user memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs the calling thread under SCHED_FIFO at `priority` (1–99). Needs CAP_SYS_NICE.
pub fn set_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid `sched_param`.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Locks current and future pages in RAM (no page faults on the hot path). Needs CAP_IPC_LOCK or a
/// large enough `RLIMIT_MEMLOCK`.
pub fn lock_memory() -> io::Result<()> {
    // SAFETY: mlockall has no memory-safety preconditions.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Touches `bytes` of the calling thread's stack so its pages are resident before the hot loop.
#[inline(never)]
pub fn prefault_stack<const BYTES: usize>() {
    let mut page = [0u8; BYTES];
    let mut i = 0;
    while i < BYTES {
        page[i] = 1;
        i += 4096;
    }
    std::hint::black_box(&mut page);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_allowed_core() {
        let allowed = allowed_cores().unwrap();
        assert!(!allowed.is_empty());
        let target = *allowed.last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_current_thread(target).unwrap();
            allowed_cores().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, vec![target]);
    }

    #[test]
    fn refuses_an_impossible_core() {
        assert!(pin_current_thread(1 << 20).is_err());
    }

    #[test]
    fn prefaulting_does_not_crash() {
        std::thread::spawn(prefault_stack::<{ 256 * 1024 }>)
            .join()
            .unwrap();
    }
}
