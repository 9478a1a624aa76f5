//! The pipeline's clock from the CPU's time-stamp counter, as DPDK
//! calibrated it at start-up: a read is an `rdtsc`, never a
//! system call. `Instant::now` is a vDSO call where the kernel's
//! clocksource allows one (tsc, kvm-clock), but a real system call where
//! it does not (hpet, acpi_pm, some hypervisors' clocks), and then it is
//! paid once per poll.

use super::eal::EalToken;
use crate::worker::Clock;

/// TSC cycles since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct TscClock {
    start: u64,
    cycles_per_ms: u64,
}

impl TscClock {
    /// A clock starting now. The EAL must be up (the token says so): it
    /// measured the TSC's frequency.
    pub fn new(_eal: EalToken<'_>) -> TscClock {
        // SAFETY: both read state the initialised EAL set up (the token
        // exists only while it is); neither has preconditions beyond that.
        let (start, hz) = unsafe { (dpdk_sys::rte_rdtsc(), dpdk_sys::rte_get_tsc_hz()) };
        TscClock {
            start,
            cycles_per_ms: (hz / 1000).max(1),
        }
    }
}

impl Clock for TscClock {
    #[inline]
    fn ticks(&mut self) -> u64 {
        // SAFETY: reads the time-stamp counter; no preconditions.
        let now = unsafe { dpdk_sys::rte_rdtsc() };
        now.wrapping_sub(self.start)
    }

    fn ticks_per_ms(&self) -> u64 {
        self.cycles_per_ms
    }
}
