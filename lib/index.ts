// nquant's public API, and only that.
export { cpu, setThreads, getThreads } from './cpu';
export type { CpuInfo, Isa } from './cpu';
export { Tensor } from './tensor';
export type { DataType, DataTypeMap, TypedArray } from './tensor';
export * as ops from './runtime/ops/quantization';
