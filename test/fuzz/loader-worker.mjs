// Runs fuzz cases through the compiled loaders (dist/, built by the test global setup) in a worker
// thread, so the test's watchdog can terminate a case that hangs and a crash cannot take the test
// runner down with it. Posts {type:'start',id} before and {type:'done',id,...} after each case.
import { parentPort, workerData } from 'node:worker_threads';

const m = await import(new URL('../../dist/model/index.js', import.meta.url).href);

function judgeProblems(problems) {
  return problems.map((p) => ({ line: m.formatProblem(p), pos: p.pos ?? null }));
}

/** Loads a valid runbook all the way: every command rendered for every host of the shipped inventory. */
function renderAll(runbook, inventory) {
  for (const host of inventory.hosts) {
    const ctx = m.buildTemplateContext({ runbook, inventory, host, cliVars: {} });
    for (const s of runbook.steps) {
      for (const t of [s.check, ...s.fix, ...(s.verify ? [s.verify] : [])]) m.renderCommand(t, ctx, { step: s.name });
    }
  }
}

function runCase(c) {
  if (c.kind === 'runbook') {
    const r = m.checkRunbookFile(c.file);
    if (r.runbook) renderAll(r.runbook, m.loadInventory(workerData.inventory));
    return r.problems;
  }
  const r = m.checkInventory(c.file);
  // Pattern errors are about the command line, not the file; an empty inventory has no hosts to select.
  if (r.inventory && r.inventory.hosts.length > 0) m.selectHosts(r.inventory, 'all');
  return r.problems;
}

for (const c of workerData.cases) {
  parentPort.postMessage({ type: 'start', id: c.id });
  const started = performance.now();
  let result;
  try {
    const problems = runCase(c);
    result = { status: problems.length ? 'errors' : 'valid', problems: judgeProblems(problems) };
  } catch (err) {
    if (err instanceof m.UserError) result = { status: 'errors', problems: judgeProblems(err.problems) };
    else result = { status: 'crash', error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) };
  }
  parentPort.postMessage({ type: 'done', id: c.id, ms: Math.round(performance.now() - started), ...result });
}
