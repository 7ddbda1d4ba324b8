// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probe, never attached: whether this kernel accepts BPF LSM programs,
 * which `deny` on exec and open would need. src/enforce/capabilities.ts
 * loads it and reports the kernel's answer in policy errors.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("lsm/bprm_check_security")
int BPF_PROG(vigil_probe_lsm, struct linux_binprm *bprm, int ret)
{
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
