// ESM entry: the CommonJS build re-exported under its names.
import nquant from '../dist/lib/index.js';

export const { cpu, setThreads, getThreads, Tensor, ops } = nquant;
export default nquant;
