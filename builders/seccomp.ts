// The system call filter Nix installs in its build sandbox, for both of our
// sandboxes: chmod/fchmod/fchmodat(2) with a setuid or setgid bit fail with
// EPERM (a build cannot create setuid programs), and the setxattr family
// fails with ENOTSUP (extended attributes and ACLs do not survive in NARs).
// Everything else is allowed; a foreign architecture's system calls kill the
// process (as libseccomp does by default).
//
// bwrap takes a compiled classic-BPF program (`--seccomp FD`), so this module
// assembles one; runc takes the OCI description (`linux.seccomp`) and
// compiles it with libseccomp itself.

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const EPERM = 1;
const ENOTSUP = 95;

interface ArchCalls {
  auditArch: number;
  ociArch: string;
  /** Calls whose mode argument is checked: [number, index of the mode argument]. */
  modeCalls: [number, number][];
  xattrCalls: number[];
  /** Numbers that carry this bit belong to a sub-ABI (x32) with the same numbering. */
  subAbiBit?: number;
}

const X86_64: ArchCalls = {
  auditArch: 0xc000003e,
  ociArch: "SCMP_ARCH_X86_64",
  // chmod, fchmod, fchmodat, fchmodat2
  modeCalls: [[90, 1], [91, 1], [268, 2], [452, 2]],
  // setxattr, lsetxattr, fsetxattr
  xattrCalls: [188, 189, 190],
  subAbiBit: 0x40000000,
};
const I386: ArchCalls = {
  auditArch: 0x40000003,
  ociArch: "SCMP_ARCH_X86",
  modeCalls: [[15, 1], [94, 1], [306, 2], [452, 2]],
  xattrCalls: [226, 227, 228],
};
const AARCH64: ArchCalls = {
  auditArch: 0xc00000b7,
  ociArch: "SCMP_ARCH_AARCH64",
  modeCalls: [[52, 1], [53, 2], [452, 2]],
  xattrCalls: [5, 6, 7],
};

/** The architectures whose calls are filtered on this host (the native one first). */
function hostArches(): ArchCalls[] {
  if (process.arch === "x64") return [X86_64, I386];
  if (process.arch === "arm64") return [AARCH64];
  throw new Error(`not implemented: the build sandbox's system call filter on ${process.arch}`);
}

// classic BPF opcodes
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const AND_K = 0x54;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
// offsets in struct seccomp_data
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i; // little-endian: the low word first

type Insn = { code: number; k: number; jt?: string | number; jf?: string | number } | { label: string };

/** Resolves labels to the relative jumps BPF wants (forward only, at most 255). */
function assemble(prog: Insn[]): Uint8Array {
  const at = new Map<string, number>();
  const insns: { code: number; k: number; jt?: string | number; jf?: string | number }[] = [];
  for (const i of prog) {
    if ("label" in i) at.set(i.label, insns.length);
    else insns.push(i);
  }
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((ins, n) => {
    const rel = (t: string | number | undefined): number => {
      if (t === undefined) return 0;
      if (typeof t === "number") return t;
      const target = at.get(t);
      if (target === undefined) throw new Error(`internal error: BPF label ${t}`);
      const d = target - n - 1;
      if (d < 0 || d > 255) throw new Error(`internal error: BPF jump to ${t} out of range`);
      return d;
    };
    view.setUint16(n * 8, ins.code, true);
    view.setUint8(n * 8 + 2, rel(ins.jt));
    view.setUint8(n * 8 + 3, rel(ins.jf));
    view.setUint32(n * 8 + 4, ins.k >>> 0, true);
  });
  return out;
}

/** The filter as a classic-BPF program for bwrap's --seccomp. */
export function seccompBpf(): Uint8Array {
  const arches = hostArches();
  const p: Insn[] = [{ code: LD_W_ABS, k: OFF_ARCH }];
  arches.forEach((a, i) => p.push({ code: JEQ_K, k: a.auditArch, jt: `arch${i}`, jf: 0 }));
  p.push({ code: RET_K, k: RET_KILL_PROCESS });
  arches.forEach((a, i) => {
    p.push({ label: `arch${i}` }, { code: LD_W_ABS, k: OFF_NR });
    if (a.subAbiBit) p.push({ code: AND_K, k: ~a.subAbiBit >>> 0 });
    for (const [nr, arg] of a.modeCalls) p.push({ code: JEQ_K, k: nr, jt: `mode${arg}`, jf: 0 });
    for (const nr of a.xattrCalls) p.push({ code: JEQ_K, k: nr, jt: "notsup", jf: 0 });
    p.push({ code: RET_K, k: RET_ALLOW });
  });
  for (const arg of [1, 2]) {
    p.push({ label: `mode${arg}` }, { code: LD_W_ABS, k: argLow(arg) });
    p.push({ code: JSET_K, k: S_ISUID | S_ISGID, jt: "eperm", jf: 0 }, { code: RET_K, k: RET_ALLOW });
  }
  p.push({ label: "eperm" }, { code: RET_K, k: RET_ERRNO | EPERM });
  p.push({ label: "notsup" }, { code: RET_K, k: RET_ERRNO | ENOTSUP });
  return assemble(p);
}

const SYSCALL_NAMES: Record<string, string[]> = {
  // names libseccomp resolves per architecture
  mode1: ["chmod", "fchmod"],
  mode2: ["fchmodat", "fchmodat2"],
  xattr: ["setxattr", "lsetxattr", "fsetxattr"],
};

/** The filter as OCI runtime-spec `linux.seccomp` for runc. */
export function seccompOci(): object {
  const arches = hostArches().map((a) => a.ociArch);
  if (arches.includes("SCMP_ARCH_X86_64")) arches.push("SCMP_ARCH_X32");
  const masked = (index: number, bit: number) => ({ index, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" });
  const rules: object[] = [];
  for (const [key, index] of [["mode1", 1], ["mode2", 2]] as const)
    for (const bit of [S_ISUID, S_ISGID])
      rules.push({ names: SYSCALL_NAMES[key], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [masked(index, bit)] });
  rules.push({ names: SYSCALL_NAMES.xattr, action: "SCMP_ACT_ERRNO", errnoRet: ENOTSUP });
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: arches, syscalls: rules };
}
