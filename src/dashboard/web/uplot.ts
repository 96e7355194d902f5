// uPlot's ES module: server.ts serves node_modules/uplot/dist/uPlot.esm.js at this URL in place of this file's
// compiled output, as preact.ts does for Preact. The type is narrowed to what charts.ts uses.
import uPlotImpl from 'uplot';

type UPlotCtor = new (opts: object, data: number[][], target: unknown) => { destroy(): void };
const uPlot = uPlotImpl as unknown as UPlotCtor;
export default uPlot;
