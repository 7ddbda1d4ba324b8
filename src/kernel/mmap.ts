import { toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors";
import { lastErrno, libc } from "./libc";
import { toPtr } from "./ffi-values";

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
/* (void *)-1; user-space addresses on x86-64 and arm64 stay below 2^56. */
const MAP_FAILED = 2 ** 56;

/** A shared mapping of a file descriptor, viewed as one ArrayBuffer for its lifetime. */
export class MappedRegion {
  readonly buffer: ArrayBuffer;
  private addr: Pointer | null;

  private constructor(addr: Pointer, readonly length: number) {
    this.addr = addr;
    this.buffer = toArrayBuffer(addr, 0, length);
  }

  static map(what: string, fd: number, offset: number, length: number, writable: boolean): MappedRegion {
    const prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    const addr = toPtr(libc.mmap(null, length, prot, MAP_SHARED, fd, offset));
    if (!addr || addr >= MAP_FAILED) throw new BpfError(`mmap ${what}`, lastErrno());
    return new MappedRegion(addr, length);
  }

  /** Unmap; views of `buffer` must not be touched afterwards. */
  close(): void {
    if (this.addr === null) return;
    libc.munmap(this.addr, this.length);
    this.addr = null;
  }
}
