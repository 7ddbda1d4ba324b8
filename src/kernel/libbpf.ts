/** The system libbpf (Debian's libbpf.so.1, 1.1.x), bound through bun:ffi. Internal to src/kernel. */
import { dlopen } from "bun:ffi";

const lib = dlopen("libbpf.so.1", {
  libbpf_major_version: { args: [], returns: "u32" },
  libbpf_minor_version: { args: [], returns: "u32" },
  libbpf_num_possible_cpus: { args: [], returns: "i32" },
  libbpf_strerror: { args: ["i32", "ptr", "u64"], returns: "i32" },
  libbpf_set_print: { args: ["ptr"], returns: "ptr" },

  bpf_object__open_file: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_object__load: { args: ["ptr"], returns: "i32" },
  bpf_object__close: { args: ["ptr"], returns: "void" },
  bpf_object__next_program: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_object__next_map: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_object__btf: { args: ["ptr"], returns: "ptr" },
  btf__find_by_name_kind: { args: ["ptr", "ptr", "u32"], returns: "i32" },
  btf__type_by_id: { args: ["ptr", "u32"], returns: "ptr" },
  btf__name_by_offset: { args: ["ptr", "u32"], returns: "cstring" },

  bpf_program__name: { args: ["ptr"], returns: "cstring" },
  bpf_program__section_name: { args: ["ptr"], returns: "cstring" },
  bpf_program__set_autoload: { args: ["ptr", "bool"], returns: "i32" },
  bpf_program__autoload: { args: ["ptr"], returns: "bool" },
  bpf_program__attach: { args: ["ptr"], returns: "ptr" },
  bpf_program__attach_cgroup: { args: ["ptr", "i32"], returns: "ptr" },
  bpf_program__attach_tracepoint: { args: ["ptr", "cstring", "cstring"], returns: "ptr" },
  bpf_program__attach_uprobe_opts: { args: ["ptr", "i32", "ptr", "u64", "ptr"], returns: "ptr" },
  bpf_program__fd: { args: ["ptr"], returns: "i32" },

  bpf_link__destroy: { args: ["ptr"], returns: "i32" },
  bpf_link__fd: { args: ["ptr"], returns: "i32" },
  bpf_link__pin: { args: ["ptr", "ptr"], returns: "i32" },
  bpf_link__unpin: { args: ["ptr"], returns: "i32" },
  bpf_link__open: { args: ["ptr"], returns: "ptr" },
  bpf_link__update_program: { args: ["ptr", "ptr"], returns: "i32" },

  bpf_map__name: { args: ["ptr"], returns: "cstring" },
  bpf_map__fd: { args: ["ptr"], returns: "i32" },
  bpf_map__type: { args: ["ptr"], returns: "u32" },
  bpf_map__key_size: { args: ["ptr"], returns: "u32" },
  bpf_map__value_size: { args: ["ptr"], returns: "u32" },
  bpf_map__max_entries: { args: ["ptr"], returns: "u32" },
  bpf_map__set_max_entries: { args: ["ptr", "u32"], returns: "i32" },
  bpf_map__initial_value: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_map__set_pin_path: { args: ["ptr", "ptr"], returns: "i32" },

  bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_map_update_elem: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
  bpf_map_delete_elem: { args: ["i32", "ptr"], returns: "i32" },
  bpf_map_lookup_batch: { args: ["i32", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  bpf_map_delete_batch: { args: ["i32", "ptr", "ptr", "ptr"], returns: "i32" },
  bpf_map_get_next_key: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_obj_get_info_by_fd: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_enable_stats: { args: ["i32"], returns: "i32" },
});

export const libbpf = lib.symbols;
export const LIBBPF_VERSION = `${libbpf.libbpf_major_version()}.${libbpf.libbpf_minor_version()}`;


/** Run fn with libbpf's own stderr logging off (feature probes are expected to fail). */
export function withLibbpfQuiet<T>(fn: () => T): T {
  const previous = lib.symbols.libbpf_set_print(null);
  try {
    return fn();
  } finally {
    lib.symbols.libbpf_set_print(previous as never);
  }
}
