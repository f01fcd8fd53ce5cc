// The raw native surface of build/Release/nquant.node. Private to lib/: the public API
// validates arguments in the user's terms and calls these. Every function re-checks its
// arguments and throws TypeError/RangeError naming the argument rather than crash.
// `async: true` variants run on libuv worker threads and resolve when the work is done;
// the arrays they were given are kept alive until then and must not be changed meanwhile.

export declare namespace Binding {
  type Isa = 'amx' | 'avx512vnni' | 'avx2' | 'neon' | 'scalar';

  interface CpuInfo {
    arch: string;
    isa: Isa;
    features: string[];
    supportedIsas: Isa[];
    threads: number;
    kernels: { qgemm?: string; sgemm?: string; quant?: string; int4?: string; dwconv?: string; im2col?: string; spqgemm?: string; lookup?: string };
    /** Why NQUANT_ISA was not honoured, or ''. */
    note: string;
  }

  /** Packed weights: memory owned natively, freed by dispose() or garbage collection. */
  interface PackedWeights {
    readonly k: number;
    readonly n: number;
    readonly kernel: string;
    readonly bytes: number;
    readonly disposed: boolean;
    dispose(): void;
  }
  interface QGemmWeights extends PackedWeights { readonly __brand: 'qgemm' }
  interface SGemmWeights extends PackedWeights { readonly __brand: 'sgemm' }
  interface Int4Weights extends PackedWeights { readonly __brand: 'int4' }

  interface QGemmOptions {
    lda?: number;
    ldc?: number;
    /** float32 output: c = acc * aScale * bScales[n] + bias[n], then relu. */
    aScale?: number;
    bScales?: Float32Array;
    bias?: Float32Array;
    relu?: boolean;
    /** uint8/int8 output: requantization, either float scales or Q31 multipliers + shifts. */
    biasInt32?: Int32Array;
    requantScales?: Float32Array;
    multipliers?: Int32Array;
    shifts?: Int32Array;
    outZeroPoint?: number;
    qmin?: number;
    qmax?: number;
  }

  interface SGemmOptions {
    lda?: number;
    ldc?: number;
    bias?: Float32Array;
    activation?: 'none' | 'relu' | 'clip';
    clipMin?: number;
    clipMax?: number;
    accumulate?: boolean;
    alpha?: number;
  }

  /** One value of a plan: where its buffer lives. */
  interface PlanValue {
    /** ONNX TensorProto.DataType code. */
    dtype: number;
    dims: number[];
    /** input/output: the caller's arrays at runPlan (by index); const: spec.constants[index];
     *  arena: bytes [offset, offset + size) of the plan's scratch arena; state: runPlan's
     *  state[index], read and written in place by steps (training parameters). */
    kind: 'input' | 'output' | 'const' | 'arena' | 'state';
    index?: number;
    offset?: number;
  }
  type PlanAttribute =
    | { kind: 'int'; value: number }
    | { kind: 'float'; value: number }
    | { kind: 'string'; value: string }
    | { kind: 'ints'; value: number[] }
    | { kind: 'floats'; value: number[] }
    | { kind: 'strings'; value: string[] };
  interface PlanStep {
    opType: string;
    domain: string;
    name: string;
    /** Value ids; -1 marks an omitted optional input. */
    inputs: number[];
    outputs: number[];
    attributes: { [name: string]: PlanAttribute };
  }
  interface PlanSpec {
    values: PlanValue[];
    constants: (Float32Array | Uint8Array | Int8Array | Int32Array | BigInt64Array | Uint16Array | Float64Array)[];
    arenaBytes: number;
    steps: PlanStep[];
  }
  /** A compiled plan: op kernels created (weights packed) for fixed shapes. */
  interface Plan {
    readonly steps: number;
    readonly arenaBytes: number;
    readonly disposed: boolean;
    dispose(): void;
  }
  interface OpInfo { domain: string; opType: string; dtypes: string }

  interface Module {
    cpuInfo(): CpuInfo;
    setThreads(threads: number): void;
    getThreads(): number;
    setIsa(isa: Isa): void;
    /** Async qgemm/sgemm/matmul/int4Gemm calls estimated (from shape, weight width, kernel ISA
     *  and thread count) to take at most this many microseconds run on the main thread inside
     *  a setImmediate, as onnxruntime-node runs every session; longer ones on a worker thread.
     *  Default 2000; 0 sends every call to a worker. Returns the previous budget. */
    setAsyncInlineBudget(microseconds: number): number;
    /** Whether plans created from now on run a channels-last depthwise conv and the 1x1 conv
     *  reading its output as one step, band by band (same bits, less memory traffic). On by
     *  default, off when the environment has NQUANT_FUSE_DWPW=0. Returns the previous setting. */
    setDepthwiseFusion(on: boolean): boolean;

    /** Whether plans created from now on run channels-last 3x3 stride-1 convs with constant
     *  weights (16 or more channels in and out, transformed weights up to 16 MB) by Winograd
     *  F(4x4, 3x3): a quarter of the multiply-adds, outputs within float rounding of the direct
     *  sum (about 1e-6 of their magnitude), not bit-identical. On by default, off when the
     *  environment has NQUANT_WINOGRAD=0. Returns the previous setting. */
    setWinograd(on: boolean): boolean;

    /** sparsity 'auto' (default) stores B for the sparse kernel when few enough of its 4-deep
     *  column groups hold a nonzero weight (and the ISA has one); 'dense'/'sparse' force it. */
    qgemmPackB(b: Int8Array | Uint8Array, k: number, n: number, transposed: boolean,
               zeroPoints: Int32Array | null, isa?: Isa, sparsity?: 'auto' | 'dense' | 'sparse'): QGemmWeights;
    /** How qgemmPackB stored B: sparse or dense, and the share of nonzero 4-deep column groups. */
    qgemmLayout(weights: QGemmWeights): { sparse: boolean; groupDensity: number };
    /** What automatic packing means from now on: 'auto' (sparse when it pays), 'off', 'on'. */
    setSparseGemm(mode: 'auto' | 'off' | 'on'): void;
    getSparseGemm(): 'auto' | 'off' | 'on';
    /** GEMM calls that took the sparse path since the process started (for tests). */
    sparseGemmCalls(): number;
    qgemm(a: Uint8Array | Int8Array, m: number, aZeroPoint: number, weights: QGemmWeights,
          out: Int32Array | Float32Array | Uint8Array | Int8Array, options: QGemmOptions | undefined,
          async: false): void;
    qgemm(a: Uint8Array | Int8Array, m: number, aZeroPoint: number, weights: QGemmWeights,
          out: Int32Array | Float32Array | Uint8Array | Int8Array, options: QGemmOptions | undefined,
          async: true): Promise<void>;

    sgemmPackB(b: Float32Array, k: number, n: number, transposed: boolean, isa?: Isa): SGemmWeights;
    sgemm(a: Float32Array, m: number, weights: SGemmWeights, out: Float32Array,
          options: SGemmOptions | undefined, async: false): void;
    sgemm(a: Float32Array, m: number, weights: SGemmWeights, out: Float32Array,
          options: SGemmOptions | undefined, async: true): Promise<void>;
    matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, bTransposed: boolean,
           out: Float32Array, options: SGemmOptions | undefined, async: false, isa?: Isa): void;
    matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, bTransposed: boolean,
           out: Float32Array, options: SGemmOptions | undefined, async: true, isa?: Isa): Promise<void>;

    /** x viewed as [outer, channels, inner]; scales (and zeroPoints) have 1 or `channels` values. */
    quantizeLinear(x: Float32Array, outer: number, inner: number, scales: Float32Array,
                   zeroPoints: Int32Array | null, y: Uint8Array | Int8Array, async: boolean): void | Promise<void>;
    dequantizeLinear(x: Uint8Array | Int8Array, outer: number, inner: number, scales: Float32Array,
                     zeroPoints: Int32Array | null, y: Float32Array, async: boolean): void | Promise<void>;
    dynamicQuantizeU8(x: Float32Array, y: Uint8Array): { scale: number; zeroPoint: number };
    /** Per-channel min/max over finite values; returns the count of NaN/Inf seen. */
    minmax(x: Float32Array, outer: number, inner: number, mins: Float32Array, maxs: Float32Array): number;
    /** Adds counts of x over [lo, hi] (end bins take values outside) into counts. */
    histogram(x: Float32Array, lo: number, hi: number, counts: Float64Array): void;
    f32ToF16(x: Float32Array, y: Uint16Array): void;
    f16ToF32(x: Uint16Array, y: Float32Array): void;
    int4QuantizeBlockwise(x: Float32Array, rows: number, cols: number, blockSize: number,
                          symmetric: boolean): { packed: Uint8Array; scales: Float32Array; zeroPoints: Uint8Array | null };
    int4DequantizeBlockwise(packed: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | null,
                            rows: number, cols: number, blockSize: number, y: Float32Array): void;
    signPack(x: Float32Array, rows: number, cols: number): { bits: Uint8Array; scales: Float32Array };
    signUnpack(bits: Uint8Array, scales: Float32Array, rows: number, cols: number, y: Float32Array): void;

    int4Pack(packed: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | null, n: number,
             k: number, blockSize: number, isa?: Isa): Int4Weights;
    int4Gemm(x: Float32Array, m: number, weights: Int4Weights, bias: Float32Array | null,
             int8Activations: boolean, y: Float32Array, async: false): void;
    int4Gemm(x: Float32Array, m: number, weights: Int4Weights, bias: Float32Array | null,
             int8Activations: boolean, y: Float32Array, async: true): Promise<void>;

    kmeans1d(x: Float32Array, k: number, init: 'kmeans++' | 'linear' | 'density', maxIters: number,
             seed: number, centroids: Float32Array, assignments: Uint32Array | null,
             async: false): { iterations: number; inertia: number };
    kmeans1d(x: Float32Array, k: number, init: 'kmeans++' | 'linear' | 'density', maxIters: number,
             seed: number, centroids: Float32Array, assignments: Uint32Array | null,
             async: true): Promise<{ iterations: number; inertia: number }>;
    magnitudeThreshold(x: Float32Array, k: number): number;

    /** Every op the native runtime implements (the conformance suite claims exactly these). */
    listOps(): OpInfo[];
    /** Creates every step's kernel; errors name the node and op. Constants stay referenced. */
    createPlan(spec: PlanSpec): Plan;
    /** Runs the steps in order. Concurrent runs of one plan are safe (each gets its own arena). */
    runPlan(plan: Plan, inputs: ArrayBufferView[], outputs: ArrayBufferView[], async: false, state?: ArrayBufferView[]): void;
    runPlan(plan: Plan, inputs: ArrayBufferView[], outputs: ArrayBufferView[], async: true, state?: ArrayBufferView[]): Promise<void>;
  }
}
