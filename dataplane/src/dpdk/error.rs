use std::ffi::CStr;
use std::fmt;

/// A failed DPDK call: what we were doing and DPDK's own reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkError {
    /// What ferrolb was trying to do, e.g. "rte_eal_init".
    pub context: String,
    /// The (positive) errno or rte_errno value DPDK reported.
    pub errno: i32,
}

impl DpdkError {
    pub(crate) fn new(context: impl Into<String>, errno: i32) -> Self {
        DpdkError {
            context: context.into(),
            errno: errno.abs(),
        }
    }

    /// An error from a call that reports failure through `rte_errno`.
    pub(crate) fn from_rte_errno(context: impl Into<String>) -> Self {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let errno = unsafe { dpdk_sys::rte_errno() };
        Self::new(context, errno)
    }

    /// DPDK's text for the error number.
    pub fn reason(&self) -> String {
        // SAFETY: rte_strerror accepts any value and returns a pointer to a
        // NUL-terminated string that lives in static or thread-local storage
        // at least until the next call on this thread; we copy it at once.
        let text = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(self.errno)) };
        text.to_string_lossy().into_owned()
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (errno {})",
            self.context,
            self.reason(),
            self.errno
        )
    }
}

impl std::error::Error for DpdkError {}
