// What the CPU offers and which kernels run: cpu(), setThreads().
import type { Binding } from '../binding';
import { assertInteger, invalidRange } from './errors';
import { native } from './native';

export type Isa = Binding.Isa;

export interface CpuInfo {
  /** 'x64' or 'arm64', as process.arch says. */
  arch: string;
  /** The ISA level the kernels use: the best the CPU and OS allow, or NQUANT_ISA's. */
  isa: Isa;
  /** CPU features that matter to the kernels (avx2, avx512vnni, amx-int8, neon, ...). */
  features: string[];
  /** Every level this machine can run, best first. */
  supportedIsas: Isa[];
  /** Threads a kernel call may use. */
  threads: number;
  /** The kernel chosen per family, e.g. { qgemm: 'qgemm_u8s8_..._avx512vnni', ... }. */
  kernels: { qgemm?: string; sgemm?: string; quant?: string; int4?: string; dwconv?: string; im2col?: string; spqgemm?: string; lookup?: string };
  /** Why NQUANT_ISA was not honoured ('' when it was, or was not set). */
  note: string;
}

export function cpu(): CpuInfo {
  return native.cpuInfo();
}

/** Sets the threads each kernel call may use (default: the machine's logical cores). */
export function setThreads(threads: number): void {
  native.setThreads(assertInteger('threads', threads, 1, 1024));
}

export function getThreads(): number {
  return native.getThreads();
}

export type SparseGemmMode = 'auto' | 'off' | 'on';

/**
 * Whether INT8 GEMM weights packed from now on (when a model plan is built) use the sparse
 * kernel: 'auto' (the default) when the ISA has one (AVX-512 VNNI) and at most a quarter of
 * the weights' runs of four along the dot product hold a nonzero (prune with structure
 * 'block4' to get there), 'off' never, 'on' always (tests). NQUANT_SPARSE sets the start value.
 */
export function setSparseGemm(mode: SparseGemmMode): void {
  if (mode !== 'auto' && mode !== 'off' && mode !== 'on') throw invalidRange('mode', "'auto', 'off' or 'on'", mode);
  native.setSparseGemm(mode);
}

export function getSparseGemm(): SparseGemmMode {
  return native.getSparseGemm();
}
