/* Hand-written C that bindgen cannot produce. Keep it tiny. */
#include <rte_errno.h>

int ferrolb_rte_errno(void) { return rte_errno; }
