import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Client } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { SshConnection } from '../../src/transport/ssh-connection.js';

/** A channel whose exit status and close arrive in the same tick as the exec reply (a fast host). */
function fastClient(code: number): Client {
  const client = new EventEmitter() as EventEmitter & { exec: unknown };
  client.exec = (_cmd: string, cb: (err: Error | undefined, ch: unknown) => void): void => {
    const ch = Object.assign(new PassThrough(), { stderr: new PassThrough(), signal: () => undefined, close: () => undefined });
    cb(undefined, ch);
    ch.push('1\n');
    ch.emit('exit', code);
    setImmediate(() => ch.emit('close'));
  };
  return client as unknown as Client;
}

describe('SshConnection exit status', () => {
  it('keeps an exit status that arrives before the caller resumes', async () => {
    const conn = new SshConnection('fast', fastClient(3), 10, { always: false }, () => undefined, async () => undefined);
    const r = await conn.exec('true');
    expect(r.outcome).toBe('exit');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('1\n');
  });
});
