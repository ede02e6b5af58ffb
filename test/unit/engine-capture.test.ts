/**
 * Captures and their diffs, on this machine's own shell (the capture script is what a host runs):
 * content, mode, owner and a symlink's target; a sensitive file only digested; snapshots; a
 * preview against the file as it is; secrets masked in every diff.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAPTURE_MAX_BYTES, capturePrelude, capturePreview, captureStep, changesBetween, previewChange, snapshotLabel, storeCaptures, type Capture } from '../../src/engine/capture.js';
import type { PlannedStep, RenderedCommand } from '../../src/engine/plan.js';
import { shellQuote } from '../../src/model/shell-quote.js';
import { checkRunbookText } from '../../src/model/runbook-load.js';
import { formatProblem } from '../../src/model/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-capture-'));
const redact = (s: string): string => s.replaceAll('hunter2', '********');
const sh = async (cmd: RenderedCommand) => {
  const r = spawnSync('sh', ['-c', cmd.command], { encoding: 'utf8' });
  return { ok: r.status === 0, exited: r.status !== null, stdout: r.stdout, truncated: false, why: `exit ${r.status}: ${r.stderr.trim()}` };
};
const word = (p: string): RenderedCommand => ({ command: shellQuote(p), display: shellQuote(p) });
const step = (files: { path: string; sensitive?: boolean }[], snapshot: string[] = []): PlannedStep =>
  ({ files: files.map((f) => ({ path: word(f.path), sensitive: f.sensitive ?? false })), snapshot: snapshot.map((c) => ({ command: c, display: c })) }) as unknown as PlannedStep;

describe('captures and diffs', () => {
  it('a file through its link: content, mode, owner and link target, and the diff of a change', async () => {
    const target = join(dir, 'sysctl.conf');
    const link = join(dir, '99-sysctl.conf');
    writeFileSync(target, 'kernel.x = 1\nnet.ipv4.ip_forward = 0\npassword = hunter2\n');
    chmodSync(target, 0o644);
    symlinkSync(target, link);
    const ps = step([{ path: link }], [`cat ${shellQuote(target)} | wc -l`]);
    const before = await captureStep(ps, sh, { redact });
    expect(before[0]).toMatchObject({ kind: 'file', exists: true, link: target, mode: '644' });
    expect(before[0]!.owner).toMatch(/^\S+:\S+$/);
    writeFileSync(target, 'kernel.x = 1\nnet.ipv4.ip_forward = 1\npassword = hunter2\n');
    chmodSync(target, 0o600);
    const after = await captureStep(ps, sh, { redact });
    const [file, ...rest] = changesBetween(before, after, redact);
    expect(rest).toEqual([]);
    expect(file!.diff).toBe(
      [
        `${shellQuote(link)}: mode 644, owner ${before[0]!.owner}, link → ${target} → mode 600, owner ${before[0]!.owner}, link → ${target}`,
        `--- ${shellQuote(link)}\tbefore`,
        `+++ ${shellQuote(link)}\tafter`,
        '@@ -1,3 +1,3 @@',
        ' kernel.x = 1',
        '-net.ipv4.ip_forward = 0',
        '+net.ipv4.ip_forward = 1',
        ' password = ********',
      ].join('\n'),
    );
    expect(file!.before).toMatch(/^[0-9a-f]{64}$/);
    expect(file!.before).not.toBe(file!.after);
  });

  it('a sensitive file is only digested on the host: its content is never captured or shown', async () => {
    const secret = join(dir, 'secret.conf');
    writeFileSync(secret, 'token = a\n');
    const ps = step([{ path: secret, sensitive: true }]);
    const before = await captureStep(ps, sh, { redact });
    expect(before[0]!.content).toBeUndefined();
    writeFileSync(secret, 'token = b\n');
    const after = await captureStep(ps, sh, { redact });
    const [c] = changesBetween(before, after, redact);
    expect(c!.diff).toBe(`${shellQuote(secret)}: content changed (sha256 ${before[0]!.sha256!.slice(0, 12)} → ${after[0]!.sha256!.slice(0, 12)}; sensitive: not shown)`);
    expect(c!.diff).not.toContain('token');
    const stored: Buffer[] = [];
    storeCaptures([...before, ...after], (b) => (stored.push(b), 'x'));
    expect(stored).toEqual([]);
  });

  it('nothing changed: no change at all; a missing file is captured as absent', async () => {
    const ps = step([{ path: join(dir, 'missing') }, { path: join(dir, 'sysctl.conf') }]);
    const a = await captureStep(ps, sh, { redact });
    expect(a[0]).toMatchObject({ exists: false });
    expect(changesBetween(a, await captureStep(ps, sh, { redact }), redact)).toEqual([]);
  });

  it('a preview: what the preview prints against the file as it is, masked', async () => {
    const f = join(dir, 'p.conf');
    writeFileSync(f, 'a = 1\nkey = hunter2\n');
    const [current] = (await captureStep(step([{ path: f }]), sh, { redact })) as [Capture];
    const c = previewChange(current, 'a = 2\nkey = hunter2\n', redact);
    expect(c?.kind).toBe('preview');
    expect(c?.diff.split('\n').slice(2)).toEqual(['@@ -1,2 +1,2 @@', '-a = 1', '+a = 2', ' key = ********']);
  });

  it('a preview is one command: the file as it is (a capture like any), then what the preview prints, with its exit status', async () => {
    const f = join(dir, 'one.conf');
    writeFileSync(f, 'a = 1\nkey = hunter2\n');
    const sent: string[] = [];
    const counted = async (cmd: RenderedCommand) => (sent.push(cmd.command), sh(cmd));
    // The preview sees nothing of the capture's script (its variables stay in their subshell).
    const got = await capturePreview(step([{ path: f }]), { command: `echo "p=\${p:-unset}"; sed 's/1/2/' ${shellQuote(f)}`, display: 'sed …' }, counted, { redact });
    expect(sent).toHaveLength(1);
    expect(got!.diff.split('\n').slice(2)).toEqual(['@@ -1,2 +1,3 @@', '-a = 1', '+p=unset', '+a = 2', ' key = ********']);
    // A failing preview says why.
    const failed = await capturePreview(step([{ path: f }]), { command: 'echo oops >&2; exit 3', display: 'x' }, sh, { redact });
    expect(failed!.diff).toBe('no preview: exit 3: oops');
  });

  it("a preview's output cannot pass for the file, and a cut one has lost the file: never a diff against a guess", async () => {
    const f = join(dir, 'cut.conf');
    writeFileSync(f, 'x = 1\n');
    // The preview prints capture fields and a marker of its own: they are its output, nothing else.
    const forging = await capturePreview(step([{ path: f }]), { command: `printf 'stat 777 evil:evil\\nrunbook-capture-000000000000 0 0\\n'`, display: 'x' }, sh, { redact });
    expect(forging!.diff.split('\n').slice(2)).toEqual(['@@ -1,1 +1,2 @@', '-x = 1', '+stat 777 evil:evil', '+runbook-capture-000000000000 0 0']);
    // Output past the bound keeps its tail: the file's part is gone, so it is not compared.
    const cut = async (cmd: RenderedCommand) => ({ ...(await sh(cmd)), truncated: true });
    const c = await capturePreview(step([{ path: f }]), { command: 'echo x = 2', display: 'x' }, cut, { redact });
    expect(c!.diff).toBe(`${shellQuote(f)}: not compared: its capture was cut: the host sent more than expected`);
    // A shell that died before the marker: the file was not read, and there is no preview.
    const died = async () => ({ ok: true, exited: true, stdout: 'stat 644 root:root\n', truncated: false, why: '' });
    const d = await capturePreview(step([{ path: f }]), { command: 'true', display: 'true' }, died, { redact });
    expect(d!.diff).toBe('no preview: could not be read: its capture did not finish');
  });

  it('a host cannot forge a capture line into another field: the content is base64 on the wire', async () => {
    const f = join(dir, 'forge.conf');
    writeFileSync(f, 'stat 777 evil:evil\nsha256 0000\nlink /etc/shadow\n');
    const [c] = await captureStep(step([{ path: f }]), sh, { redact });
    expect(c!.link).toBeUndefined();
    expect(c!.mode).not.toBe('777');
    expect(c!.content?.toString()).toBe('stat 777 evil:evil\nsha256 0000\nlink /etc/shadow\n');
    expect(execFileSync('sha256sum', [f], { encoding: 'utf8' }).split(' ')[0]).toBe(c!.sha256);
  });

  it('only a regular file within the bound is ever opened: a FIFO, a device or a huge file is named, not read', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(CAPTURE_MAX_BYTES + 1, 97));
    const started = Date.now();
    const [f, d, z, b] = await captureStep(step([{ path: fifo }, { path: dir }, { path: '/dev/zero' }, { path: big }]), sh, { redact });
    // A FIFO opened for reading would block until a writer came: this returns at once.
    expect(Date.now() - started).toBeLessThan(5000);
    expect([f!.problem, d!.problem, z!.problem]).toEqual(Array(3).fill('not a regular file (a directory, device or FIFO is never opened)'));
    expect(b).toMatchObject({ problem: `larger than ${CAPTURE_MAX_BYTES} bytes: not captured`, mode: '644' });
    expect(b!.content).toBeUndefined();
    // Never "unchanged": a capture that could not be taken is said to be.
    expect(changesBetween([b!], [b!], redact)[0]!.diff).toBe(`${shellQuote(big)}: not compared: larger than ${CAPTURE_MAX_BYTES} bytes: not captured`);
  });

  it('a host without the tools, or one that sends what the script never prints, gets "could not be read", never "unchanged"', async () => {
    const f = join(dir, 'plain.conf');
    writeFileSync(f, 'x\n');
    const sent = (stdout: string) => async () => ({ ok: true, exited: true, stdout, truncated: false, why: '' });
    const read = async (stdout: string, sensitive = false) => (await captureStep(step([{ path: f, sensitive }]), sent(stdout), { redact }))[0]!;
    const x = Buffer.from('x\n').toString('base64');
    const unread = 'could not be read (the host lacks stat, base64 or sha256sum?)';
    expect(await read(`stat 644 root:root\ncontent -\n${x}\n`)).toMatchObject({ content: Buffer.from('x\n'), sha256: execFileSync('sha256sum', [f], { encoding: 'utf8' }).split(' ')[0] });
    // No content; a digest where the content should be (the digest is computed here from the content);
    // content for a sensitive file, which is only ever digested; a line that is not base64.
    expect((await read('stat 644 root:root\n')).problem).toBe(unread);
    expect((await read(`stat 644 root:root\nsha256 ${'0'.repeat(64)}  -\n`)).problem).toBe(unread);
    const sensitive = await read(`stat 644 root:root\ncontent -\n${x}\nsha256 ${'0'.repeat(64)}  -\n`, true);
    expect([sensitive.sha256, sensitive.content]).toEqual(['0'.repeat(64), undefined]);
    expect((await read(`stat 644 root:root\ncontent -\n${x}\nnot*base64\n`)).problem).toBe(unread);
    // A file that grew past the bound between its stat and its read.
    expect((await read(`stat 644 root:root\ncontent -\n${Buffer.alloc(CAPTURE_MAX_BYTES + 1).toString('base64')}\n`)).problem).toBe(`larger than ${CAPTURE_MAX_BYTES} bytes: not captured`);
    const cut = async () => ({ ok: true, exited: true, stdout: 'content -\nAAAA', truncated: true, why: '' });
    expect((await captureStep(step([{ path: f }]), cut, { redact }))[0]!.problem).toBe('its capture was cut: the host sent more than expected');
  });

  it("captures in a command's shell: each as a capture of its own would be, then the command's own output and exit status", async () => {
    const f = join(dir, 'pre.conf');
    writeFileSync(f, 'a = 1\n');
    const ps = step([{ path: f }], ['printf "no newline"', 'echo one; echo oops >&2; exit 4']);
    const prelude = capturePrelude(ps, { redact });
    // The command sees nothing of the captures: not their variables, not their stdin, not their stderr.
    const wrapped = prelude.wrap({ command: 'echo "p=${p:-unset}"; cat; echo err >&2; exit 3', display: 'the check' });
    expect(wrapped.display).toBe(`the check\n# read first, in the same shell (runbook's capture): ${shellQuote(f)}, printf "no newline", echo one; echo oops >&2; exit 4`);
    const r = spawnSync('sh', ['-c', wrapped.command], { encoding: 'utf8', input: 'stdin\n' });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('err\n');
    const got = prelude.split(r.stdout, false, true, 'x');
    expect(got).toMatchObject({ stdout: 'p=unset\nstdin\n', truncated: false, ran: true });
    const alone = await captureStep(ps, sh, { redact });
    expect(got.captures.slice(0, 2)).toEqual(alone.slice(0, 2));
    expect(got.captures[2]).toEqual({ target: 'echo one; echo oops >&2; exit 4', kind: 'snapshot', exists: false, problem: 'its capture exited 4' });
    // The marker line is printed, never written in the command: a snapshot of the host's processes cannot hold it.
    const mark = /runbook-capture (\w+) 0/.exec(wrapped.command)![1]!;
    expect(wrapped.command).not.toContain(`runbook-capture-${mark}`);
    expect(r.stdout).toContain(`\nrunbook-capture-${mark} 0 0\n`);
    // The captures are all on the command's first line: the shell's errors name the command's own lines.
    const bad = 'true\n[ a = ]';
    const own = spawnSync('sh', ['-c', bad], { encoding: 'utf8' }).stderr;
    expect(own).toMatch(/2: /);
    expect(spawnSync('sh', ['-c', prelude.wrap({ command: bad, display: 'x' }).command], { encoding: 'utf8' }).stderr).toBe(own);
  });

  it('a snapshot that does not parse, or exits, ends its own capture only: the command still runs, and its status is its own', () => {
    const snapshots = ['diff <(true) /dev/null', "echo 'unbalanced", 'exit 7', 'echo fine'];
    const prelude = capturePrelude(step([], snapshots), { redact });
    const r = spawnSync('sh', ['-c', prelude.wrap({ command: 'echo ran; exit 5', display: 'x' }).command], { encoding: 'utf8' });
    expect(r.status).toBe(5);
    const got = prelude.split(r.stdout, false, true, 'x');
    expect(got).toMatchObject({ stdout: 'ran\n', ran: true });
    expect(got.captures.map((c) => c.problem ?? c.content?.toString())).toEqual(['its capture exited 2', 'its capture exited 2', 'its capture exited 7', 'fine\n']);
  });

  it("a cut output has lost the captures it cut into, never the command's own; a shell that died has not run the command", async () => {
    const f = join(dir, 'pre-cut.conf');
    writeFileSync(f, 'a = 1\n');
    const prelude = capturePrelude(step([{ path: f }], ['echo snap']), { redact });
    const out = spawnSync('sh', ['-c', prelude.wrap({ command: 'echo verified', display: 'v' }).command], { encoding: 'utf8' }).stdout;
    // The transport kept the tail: the file's start is gone; the snapshot after its marker is whole.
    const tail = out.slice(out.indexOf('\n', 10));
    const cut = prelude.split(tail, true, true, 'x');
    expect(cut.captures.map((c) => c.problem)).toEqual(['its capture was cut: the host sent more than expected', undefined]);
    expect(cut).toMatchObject({ stdout: 'verified\n', truncated: false, ran: true });
    // Cut past every marker: what is left is all the command's, and still cut.
    expect(prelude.split('ified\n', true, true, 'x')).toMatchObject({ stdout: 'ified\n', truncated: true, ran: true });
    // Cut inside the last marker line: what is left of it is not the command's output.
    const last = out.lastIndexOf('runbook-capture-');
    expect(prelude.split(out.slice(last + 20), true, true, 'x')).toMatchObject({ stdout: 'verified\n', truncated: true, ran: true });
    // Cut, and the shell did not exit (killed, timed out, lost): the tail may be a capture's, never the command's output.
    expect(prelude.split('ZmlsZSBjb250ZW50\n', true, false, 'timed out')).toMatchObject({ stdout: '', ran: false });
    // Died after the file: the snapshot was not read, and the command did not run.
    const died = prelude.split(out.slice(0, out.indexOf(' 0 0\n') + 5), false, false, 'lost: connection reset');
    expect(died.captures.map((c) => c.problem)).toEqual([undefined, 'could not be read: lost: connection reset']);
    expect(died).toMatchObject({ stdout: '', ran: false });
  });

  it('a files path is one plain word: shell syntax in its literal text is refused when the runbook loads', () => {
    const rb = (path: string) => `steps:\n  - name: s\n    check: "false"\n    fix: "true"\n    files: ['${path}']\n`;
    const problems = (path: string) => checkRunbookText(rb(path), 'rb.yaml').problems.map(formatProblem);
    expect(problems('/etc/My File')).toEqual([
      'rb.yaml:5:13: files: "/etc/My File" is not one plain path: a capture is a read-only command, and this would be shell syntax (write the path without spaces, quotes or shell characters, or put it in a var ({{ my_file }}): values are quoted)',
    ]);
    expect(problems('/tmp/x;reboot')).toHaveLength(1);
    expect(problems('$(reboot)')).toHaveLength(1);
    expect(problems('{{ f | raw }}')).toHaveLength(1);
    expect(checkRunbookText(`vars: { f: /etc/x }\n${rb('{{ f }}/y.conf')}`, 'rb.yaml').problems).toEqual([]);
  });
});

describe('snapshot labels', () => {
  it('a leading comment names a snapshot; otherwise the command does', () => {
    expect(snapshotLabel('# the filter tables\niptables-save -t filter')).toBe('the filter tables');
    expect(snapshotLabel('#   spaced label  \nx')).toBe('spaced label');
    expect(snapshotLabel('sysctl net.ipv4.ip_forward')).toBe('sysctl net.ipv4.ip_forward');
    expect(snapshotLabel('x=1\n# not first\ny')).toBe('x=1\n# not first\ny');
    expect(snapshotLabel('#\nx')).toBe('#\nx');
  });
});
