/* The DPDK headers ferrolb binds. Keep this list to what the appliance uses:
 * every header here adds build time and bindgen surface. */
#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_version.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_eth_bond.h>
#include <rte_eth_bond_8023ad.h>

/* rte_errno is a per-lcore (thread-local) macro; bindgen cannot see it. */
int ferrolb_rte_errno(void);
