use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use super::DpdkError;

/// Set once `rte_eal_init` has been called in this process, whatever its
/// outcome: DPDK refuses a second call (EALREADY), so we refuse it first with
/// a clearer message.
static EAL_CALLED: AtomicBool = AtomicBool::new(false);

/// `EALREADY` on Linux, the errno DPDK itself gives a second init.
const EALREADY: i32 = 114;

/// EAL command-line arguments, built in order.
#[derive(Clone, Debug, Default)]
pub struct EalArgs {
    args: Vec<String>,
}

impl EalArgs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one argument as given (e.g. `--no-huge`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments as given.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds a virtual device, `--vdev=DEVARGS`.
    pub fn vdev(self, devargs: &str) -> Self {
        self.arg(format!("--vdev={devargs}"))
    }

    /// Allows a PCI device, `-a ADDRESS`.
    pub fn allow_pci(self, address: &str) -> Self {
        self.arg("-a").arg(address)
    }

    /// The arguments as they will be passed (without the program name).
    pub fn as_slice(&self) -> &[String] {
        &self.args
    }

    /// Whether an argument with this exact text or `PREFIX=` form is present.
    pub fn has(&self, name: &str) -> bool {
        self.args.iter().any(|a| {
            a == name
                || a.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    }
}

/// The initialised EAL. Dropping it calls `rte_eal_cleanup`, so it must be
/// dropped last, after every port and mempool.
#[derive(Debug)]
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Eal {
    /// Initialises DPDK's EAL with `args`. Only one call per process can
    /// succeed; later calls return an `EALREADY` error.
    pub fn init(args: &EalArgs) -> Result<Eal, DpdkError> {
        if EAL_CALLED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "rte_eal_init: the EAL can be initialised once per process",
                EALREADY,
            ));
        }
        let mut owned = Vec::with_capacity(args.args.len() + 1);
        owned.push(CString::new("ferrolb").expect("no NUL in a literal"));
        for a in &args.args {
            owned.push(CString::new(a.as_str()).map_err(|_| {
                DpdkError::new(format!("EAL argument {a:?} contains a NUL byte"), 22)
            })?);
        }
        // rte_eal_init may permute argv, so it gets its own pointer array;
        // the strings stay owned by `owned` until after the call.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        let argc = argv.len() as i32;
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive
        // the call (DPDK copies what it keeps); this is the only call in the
        // process (EAL_CALLED above).
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_eal_init"));
        }
        Ok(Eal {
            _not_send: std::marker::PhantomData,
        })
    }

    /// Number of ethdev ports that probed successfully.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised (self exists).
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// DPDK's version string, e.g. "DPDK 22.11.11".
    pub fn version() -> String {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated
        // string; it needs no initialised EAL.
        let v = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_version()) };
        v.to_string_lossy().into_owned()
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: called once, after every DPDK object that borrowed the EAL
        // was dropped (they hold `&Eal` or were created after it and are
        // dropped in reverse order by their owner).
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// A non-EAL thread registered with DPDK (`rte_thread_register`), so it gets
/// an lcore id and mempool per-lcore caches work. Unregisters on drop.
#[derive(Debug)]
pub struct ThreadRegistration {
    lcore: u32,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ThreadRegistration {
    /// Registers the calling thread; the token proves the EAL is initialised.
    pub fn register(_eal: EalToken<'_>) -> Result<ThreadRegistration, DpdkError> {
        // SAFETY: the EAL is initialised (an EalToken exists only then);
        // registering an already-registered thread is a harmless no-op.
        let ret = unsafe { dpdk_sys::rte_thread_register() };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_thread_register"));
        }
        // SAFETY: plain read of this thread's lcore id.
        let lcore = unsafe { dpdk_sys::rte_lcore_id() };
        Ok(ThreadRegistration {
            lcore,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The lcore id DPDK gave this thread.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself in `register` (the type is
        // !Send, so drop runs on the same thread).
        unsafe { dpdk_sys::rte_thread_unregister() }
    }
}

/// Proof that the EAL is up, which scoped worker threads can carry (`Eal`
/// itself stays on the main thread, which must clean it up). The lifetime ties
/// every worker to the `Eal`, so none can outlive `rte_eal_cleanup`.
#[derive(Clone, Copy, Debug)]
pub struct EalToken<'eal> {
    _eal: std::marker::PhantomData<&'eal ()>,
}

impl Eal {
    /// A token worker threads use to register themselves.
    pub fn token(&self) -> EalToken<'_> {
        EalToken {
            _eal: std::marker::PhantomData,
        }
    }
}
