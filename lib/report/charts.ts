// The report's charts: Vega-Lite specs compiled to Vega and rendered headless to SVG strings
// (the 'none' renderer needs no canvas or DOM), so the HTML embeds them and needs no script.
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

// Loaded on first use: they take a noticeable part of a second, which commands that draw no
// chart should not pay.
let charting: { vega: typeof Vega; vegaLite: typeof VegaLite } | undefined;
function libraries(): { vega: typeof Vega; vegaLite: typeof VegaLite } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (charting ??= { vega: require('vega') as typeof Vega, vegaLite: require('vega-lite') as typeof VegaLite });
}

export interface BarDatum {
  /** The bar's label on the category axis. */
  label: string;
  value: number;
  /** The text printed at the end of the bar. */
  text: string;
}

export interface BarChart {
  title: string;
  /** Title of the value axis, with its unit. */
  axis: string;
  bars: BarDatum[];
  /** Fixed value-axis domain, e.g. [0, 100] for percentages. */
  domain?: [number, number];
  /** One colour for all bars (layers of one model) instead of one per bar (variants). */
  uniform?: boolean;
}

const WIDTH = 520;
const STEP = 22;

/** A horizontal bar chart, the value printed beside each bar. */
export function barSpec(chart: BarChart): TopLevelSpec {
  const scale = chart.domain ? { domain: chart.domain } : { zero: true };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: chart.title,
    width: WIDTH,
    height: { step: STEP },
    data: { values: chart.bars },
    encoding: {
      // sort: null keeps the bars in the order given (variants as compared, layers in graph order).
      y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 260 } },
      x: { field: 'value', type: 'quantitative', title: chart.axis, scale },
    },
    layer: [
      chart.uniform
        ? { mark: { type: 'bar', color: '#4c78a8' } }
        : { mark: { type: 'bar' }, encoding: { color: { field: 'label', type: 'nominal', legend: null, sort: null } } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { text: { field: 'text', type: 'nominal' } } },
    ],
    config: { font: 'sans-serif', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } },
  };
}

/** Renders a Vega-Lite spec to a standalone <svg> element. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = libraries();
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
