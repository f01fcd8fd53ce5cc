// nquant inspect model.onnx: what is in a model (ops, parameters by dtype, inputs/outputs).
import { statSync } from 'fs';
import { inspect, IoSummary, ModelSummary } from '../graph/inspect';
import { formatBytes, formatDims, formatTable } from './format';
import { loadModelFile } from './model-file';

export interface InspectResult extends Omit<ModelSummary, 'nodes'> {
  file: string;
  fileBytes: number;
  /** Present with `nodes: true` (every node with its output shapes). */
  nodes?: ModelSummary['nodes'];
}

export async function runInspect(file: string, opts: { nodes?: boolean } = {}): Promise<InspectResult> {
  const model = await loadModelFile(file);
  const { nodes, ...summary } = inspect(model.ir);
  const result: InspectResult = { file, fileBytes: statSync(file).size, ...summary };
  if (opts.nodes) result.nodes = nodes;
  return result;
}

const io = (v: IoSummary): string[] => [v.name, String(v.dtype), formatDims(v.dims)];

export function formatInspect(r: InspectResult): string {
  const lines: string[] = [];
  lines.push(`${r.file}: ${formatBytes(r.fileBytes)}, IR ${r.irVersion}, opsets ${Object.entries(r.opsets).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ')}${r.producer ? `, from ${r.producer}` : ''}`);
  lines.push('', 'Inputs', formatTable([['name', 'dtype', 'dims'], ...r.inputs.map(io)]));
  lines.push('', 'Outputs', formatTable([['name', 'dtype', 'dims'], ...r.outputs.map(io)]));
  const ops = Object.entries(r.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  lines.push('', `Ops (${r.nodeCount} nodes)`, formatTable([['op', 'count'], ...ops.map(([op, n]) => [op, String(n)])]));
  const dtypes = Object.entries(r.parameters.byDtype).sort((a, b) => b[1].bytes - a[1].bytes);
  lines.push('', `Parameters: ${r.parameters.count.toLocaleString('en-US')} values, ${formatBytes(r.parameters.bytes)}`,
    formatTable([['dtype', 'values', 'bytes'], ...dtypes.map(([d, v]) => [d, v.count.toLocaleString('en-US'), formatBytes(v.bytes)])]));
  if (r.unknownShapes.length > 0) lines.push('', `${r.unknownShapes.length} values keep an unknown shape after inference.`);
  if (r.nodes) lines.push('', 'Nodes', formatTable([['name', 'op', 'outputs'], ...r.nodes.map((n) => [n.name, n.domain ? `${n.domain}:${n.opType}` : n.opType, n.outputs.map((o) => `${o.name} ${formatDims(o.dims)}`).join(', ')])]));
  return lines.join('\n');
}
