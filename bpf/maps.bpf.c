// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The one definition of every knob and map the programs share (see common.bpf.h). */
#include "common.bpf.h"

const volatile __u32 observer_tgid = 0;
const volatile __u8 filter_cgroups = 0;
const volatile __u8 syscall_mode = VIGIL_SYSCALLS_AGGREGATE;

char LICENSE[] SEC("license") = "Dual BSD/GPL";
