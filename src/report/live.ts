/**
 * The operator's view of a run in a terminal, as a listener on the event stream: a listr2 task per
 * host whose title shows the current step and whose output lines are the step results, drawn live
 * by listr2's default renderer (without a terminal, report/plain.ts prints lines instead).
 * A host's headline is green only if every step is; failed is red; anything else (a declined fix,
 * steps that never ran after quit) is marked skipped. Approval prompts run inside the asking host's task through the inquirer adapter, so listr2
 * pauses its redraw around them; the engine serialises them (one prompt at a time).
 */
import { Writable } from 'node:stream';
import { Listr, ListrTaskEventType, type ListrTaskWrapper, type ListrDefaultRenderer } from 'listr2';
import { ListrInquirerPromptAdapter } from '@listr2/prompt-adapter-inquirer';
import { select } from '@inquirer/prompts';
import type { RunEventListener, StepStatus } from '../engine/events.js';
import type { ApprovalRequest, PromptAnswer, Prompter } from '../engine/approval.js';
import { lastLines, neutralize } from '../engine/sanitize.js';
import { hostVerdict, statusCounts, stepLine } from './step-line.js';

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrDefaultRenderer>;

interface HostView {
  task?: Task;
  pending: Array<(t: Task) => void>;
  results: StepStatus[];
  /** The current step's title, without the run-wide notice. */
  doing: string;
  unreachable: boolean;
  finish: (failed: boolean) => void;
  finished: boolean;
}

export interface LiveView {
  listener: RunEventListener;
  /** Asks the operator, inside the host's task. Only valid with tty: true. */
  prompter: Prompter;
  /** A yes/no question inside `host`'s task (the rollout's canary pause). Only valid with tty: true. */
  confirm: (host: string, message: string, signal: AbortSignal) => Promise<boolean>;
  /**
   * A run-wide notice (the first Ctrl-C's "stopping: …"), shown at once on every host still at
   * work and kept there until it finishes: listr2 holds back other terminal output until the end.
   */
  notice: (text: string) => void;
  /** Resolves once every host's task has finished drawing. */
  done: Promise<void>;
}

const FULL_OUTPUT_LINES = 200;
/** Columns listr2 indents a task's prompt by. */
const PROMPT_INDENT = 4;

function indent(text: string, pad: string): string {
  return text
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** The question; neutralised whole: commands may hold registered values, that is what other hosts sent. */
export function approvalMessage(req: ApprovalRequest, full: boolean): string {
  const output = full ? lastLines(req.checkOutput, FULL_OUTPUT_LINES) : req.checkTail;
  const lines = [`Fix "${req.step}" on ${req.host}?`, `  ${req.reason}`];
  if (req.drift) {
    lines.push(`  ${req.drift.reason}`);
    if (req.drift.plannedOutput) lines.push('  the check output when planned (last lines):', indent(req.drift.plannedOutput, '    │ '));
  }
  if (output) lines.push(full ? '  full check output:' : '  last lines of the check output:', indent(output, '    │ '));
  if (req.preview) lines.push('  would change:', indent(req.preview, '    '));
  lines.push('  will run:', ...req.commands.map((c) => indent(`$ ${c}`, '    ')));
  return neutralize(lines.join('\n'));
}

/**
 * listr2's default renderer subscribes to a task's prompt frames only on its next redraw, so the
 * first frame of a prompt that opens right after another closes can be lost, leaving an invisible
 * prompt until a key is pressed. Re-sending the latest frame on each redraw tick closes that gap.
 */
function replayingPromptOutput(task: Task): { stream: Writable; stop: () => void } {
  const sink = task.stdout(ListrTaskEventType.PROMPT);
  let last: Buffer | string | undefined;
  const timer = setInterval(() => last !== undefined && sink.write(last), 150);
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      last = chunk;
      sink.write(chunk);
      cb();
    },
  });
  // inquirer wraps the question at its output's width, 80 when the output has none: the fix being
  // approved would break mid-statement in a wide terminal. The terminal's width, less listr2's
  // indent of the task's prompt.
  Object.defineProperty(stream, 'columns', { get: () => Math.max(40, (process.stdout.columns || 80) - PROMPT_INDENT) });
  return { stream, stop: () => clearInterval(timer) };
}

export function createLiveView(opts: { hosts: string[]; steps: string[] }): LiveView {
  const views = new Map<string, HostView>();
  const finishes: Array<Promise<void>> = [];
  for (const host of opts.hosts) {
    let finish!: (failed: boolean) => void;
    // The output lines already say what failed and why; the error only turns the headline red.
    finishes.push(new Promise<void>((resolve, reject) => (finish = (failed) => (failed ? reject(new Error(host)) : resolve()))));
    views.set(host, { pending: [], results: [], doing: host, unreachable: false, finish, finished: false });
  }

  const listr = new Listr(
    opts.hosts.map((host, i) => ({
      title: neutralize(host),
      rendererOptions: { outputBar: Infinity, persistentOutput: true },
      task: async (_ctx: unknown, task: Task) => {
        const view = views.get(host)!;
        view.task = task;
        for (const fn of view.pending.splice(0)) fn(task);
        return finishes[i];
      },
    })),
    {
      concurrent: true,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: 'default',
      rendererOptions: { collapseSubtasks: false, collapseErrors: false, showErrorMessage: false },
    },
  );
  const done = listr.run().then(() => undefined);
  let note = '';
  const showTitle = (host: string): void => {
    const view = views.get(host)!;
    withTask(host, (t) => (t.title = neutralize(note ? `${view.doing}   [${note}]` : view.doing)));
  };

  function withTask(host: string, fn: (t: Task) => void): void {
    const view = views.get(host);
    if (!view) return;
    if (view.task) fn(view.task);
    else view.pending.push(fn);
  }

  function close(host: string): void {
    const view = views.get(host);
    if (!view || view.finished) return;
    view.finished = true;
    withTask(host, (t) => {
      t.title = neutralize(`${host}: ${statusCounts(view.results) || 'nothing ran'}`);
      const verdict = hostVerdict(view.results);
      if (verdict === 'incomplete') t.skip(t.title);
      view.finish(verdict === 'failed');
    });
  }

  const listener: RunEventListener = (e) => {
    switch (e.type) {
      case 'step-start':
        if (views.has(e.host)) {
          views.get(e.host)!.doing = `${e.host} › [${e.stepIndex + 1}/${opts.steps.length}] ${e.step}`;
          showTitle(e.host);
        }
        break;
      case 'step-result': {
        const view = views.get(e.host);
        if (!view) break;
        view.results.push(e.status);
        // An unreachable host's connection error is shown with its first step, not with each.
        const repeat = e.status === 'unreachable' && view.unreachable;
        if (e.status === 'unreachable') view.unreachable = true;
        withTask(e.host, (t) => (t.output = neutralize(stepLine(e.step, e.status, e.reason, { glyphs: true, repeat }))));
        if (view.results.length === opts.steps.length) close(e.host);
        break;
      }
      case 'run-end':
        for (const host of opts.hosts) close(host);
        break;
      default:
        break;
    }
  };

  const prompter: Prompter = async (req, signal) => {
    const task = await new Promise<Task>((resolve) => withTask(req.host, resolve));
    let full = false;
    for (;;) {
      const output = replayingPromptOutput(task);
      const answer = await task.prompt(ListrInquirerPromptAdapter).run(
        select<PromptAnswer | 'show'>,
        {
          message: approvalMessage(req, full),
          choices: [
            { name: neutralize(`yes: fix ${req.host}`), value: 'yes' },
            { name: 'no: skip this fix', value: 'no' },
            { name: neutralize(`all hosts for "${req.step}"`), value: 'all-hosts' },
            { name: 'yes to everything for the rest of the run', value: 'all' },
            { name: 'show full output', value: 'show' },
            { name: 'quit: start no new fixes, finish what runs, print the recap', value: 'quit' },
          ],
          loop: false,
          pageSize: 6,
        },
        { signal, output: output.stream },
      ).finally(output.stop);
      if (answer !== 'show') return answer;
      full = true;
    }
  };

  const confirm = async (host: string, message: string, signal: AbortSignal): Promise<boolean> => {
    const task = await new Promise<Task>((resolve) => withTask(host, resolve));
    const output = replayingPromptOutput(task);
    const answer = await task
      .prompt(ListrInquirerPromptAdapter)
      .run(
        select<'yes' | 'no'>,
        {
          message: neutralize(message),
          choices: [
            { name: 'yes: go on with the rest of the hosts', value: 'yes' },
            { name: 'no: stop here; the rest of the hosts are not touched', value: 'no' },
          ],
          loop: false,
        },
        { signal, output: output.stream },
      )
      .finally(output.stop);
    return answer === 'yes';
  };

  const notice = (text: string): void => {
    note = text;
    for (const [host, view] of views) if (!view.finished) showTitle(host);
  };

  return { listener, prompter, confirm, notice, done };
}
