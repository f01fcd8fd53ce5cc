// The optimization pipeline. Levels (like onnxruntime's):
//   'none'     nothing
//   'basic'    constant folding, Identity/Dropout removal, dead-node elimination
//   'extended' + Conv+BatchNormalization folding, MatMul+Add -> Gemm, Transpose into Gemm
//   'all'      + bias/activation fusion into nquant Fused* ops (see fused.ts; export un-fuses)
import { Graph } from '../ir';
import { inferShapes } from '../shape-inference';
import { eliminateDeadNodes, sortGraph } from '../topo';
import { absorbTranspose } from './absorb-transpose';
import { foldConstants } from './constant-folding';
import { foldConvBatchNorm } from './fold-conv-bn';
import { fuseActivations } from './fuse-activation';
import { matmulAddToGemm } from './matmul-add-to-gemm';
import { removeIdentities } from './remove-identity';

export type OptimizationLevel = 'none' | 'basic' | 'extended' | 'all';

export interface OptimizeOptions {
  level?: OptimizationLevel;
  /** Model opsets (ModelIR.meta.opsets); forms of Clip/Squeeze/... depend on them. Default 21. */
  opsets?: ReadonlyMap<string, number> | number;
}

/** What each pass changed (counts of rewrites). */
export interface OptimizeReport {
  constantsFolded: number;
  identitiesRemoved: number;
  convBatchNormsFolded: number;
  gemmsFormed: number;
  transposesAbsorbed: number;
  activationsFused: number;
  deadNodesRemoved: number;
}

/** Rewrites the graph in place and returns what changed. */
export function optimize(graph: Graph, opts: OptimizeOptions = {}): OptimizeReport {
  const level = opts.level ?? 'all';
  const report: OptimizeReport = { constantsFolded: 0, identitiesRemoved: 0, convBatchNormsFolded: 0, gemmsFormed: 0, transposesAbsorbed: 0, activationsFused: 0, deadNodesRemoved: 0 };
  if (level === 'none') return report;
  const opset = opts.opsets === undefined ? 21 : typeof opts.opsets === 'number' ? opts.opsets : opts.opsets.get('') ?? 21;
  sortGraph(graph);
  report.constantsFolded = foldConstants(graph, opset);
  report.identitiesRemoved = removeIdentities(graph);
  if (level !== 'basic') {
    inferShapes(graph, opset);  // Gemm formation needs operand ranks
    report.convBatchNormsFolded = foldConvBatchNorm(graph);
    report.gemmsFormed = matmulAddToGemm(graph);
    report.transposesAbsorbed = absorbTranspose(graph);
  }
  if (level === 'all') report.activationsFused = fuseActivations(graph, opset);
  report.deadNodesRemoved = eliminateDeadNodes(graph);
  sortGraph(graph);
  inferShapes(graph, opset);
  return report;
}

export { foldConstants, removeIdentities, foldConvBatchNorm, matmulAddToGemm, absorbTranspose, fuseActivations };
