//! Safe wrappers over DPDK: the only unsafe code outside dpdk-sys.
