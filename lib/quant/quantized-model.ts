// The result of quantization: a Model (run/save/toOnnx work as for any model) holding the
// quantized IR in QDQ form, the format its file is written in, and the report.
import { cloneGraph } from '../graph/clone';
import { ModelIR } from '../graph/ir';
import { eliminateDeadNodes } from '../graph/topo';
import { exportModel } from '../onnx/export';
import { Model, ModelOptions } from '../runtime/model';
import { lowerQdq, MS_DOMAIN } from '../runtime/qdq-lowering';
import type { QuantReport } from './report';

export type QuantFormat = 'qdq' | 'qoperator';

/** A copy of `opsets` with the default domain at `version` (under the key the model uses). */
export function withDefaultOpset(opsets: ReadonlyMap<string, number>, version: number): Map<string, number> {
  const out = new Map(opsets);
  out.set(out.has('ai.onnx') && !out.has('') ? 'ai.onnx' : '', version);
  return out;
}

export class QuantizedModel extends Model {
  constructor(ir: ModelIR, readonly report: QuantReport, readonly format: QuantFormat, options: ModelOptions = {}) {
    super(ir, options);
  }

  /**
   * ONNX bytes: QDQ as is, or QOperator (QLinearConv, QLinearMatMul, com.microsoft QGemm,
   * QLinearAdd, ...) where onnxruntime has an operator for the island; the rest stays QDQ.
   */
  override toOnnx(): Uint8Array {
    if (this.format === 'qdq') return exportModel(this.ir);
    const graph = cloneGraph(this.ir.graph);
    lowerQdq(graph, 'onnx');
    eliminateDeadNodes(graph);
    const opsets = new Map(this.ir.meta.opsets);
    if (graph.nodes.some((n) => n.domain === MS_DOMAIN) && !opsets.has(MS_DOMAIN)) opsets.set(MS_DOMAIN, 1);
    return exportModel({ graph, meta: { ...this.ir.meta, opsets } });
  }
}
