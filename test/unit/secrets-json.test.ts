/**
 * The redactor finds a secret however the text around it escaped it: substituted with `| json`
 * (quotes, backslashes, newlines escaped, then shell-quoted), printed by a host as JSON, or inside
 * a shell-quoted word.
 */
import { describe, expect, it } from 'vitest';
import { buildTemplateContext, checkRunbookText, contextSecrets, createRedactor, renderCommand, type Runbook } from '../../src/model/index.js';

const SECRETS = ['pa"ss', 'back\\slash', 'two\nlines', `it's`, `it's "all" \\ of\nthem`];

function runbook(): Runbook {
  const r = checkRunbookText(['vars:', '  pw: { secret: true, value: placeholder }', 'steps:', '  - name: s', '    check: "true"'].join('\n'), '/rb/test.yaml');
  if (!r.runbook) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.runbook;
}

/** What the host receives for `template` with pw = secret (and may echo back, e.g. under `sh -x`), and the redactor. */
function rendered(template: string, secret: string): { command: string; redact: (s: string) => string } {
  const ctx = buildTemplateContext({ runbook: runbook(), cliVars: { pw: secret } });
  return { command: renderCommand(template, ctx).command, redact: createRedactor(contextSecrets(ctx)) };
}

describe('redacting escaped secrets', () => {
  it.each(SECRETS)('masks %j substituted with | json', (secret) => {
    const { command, redact } = rendered('login {{ pw | json }}', secret);
    expect(redact(command)).toBe(`login '"********"'`);
  });

  it.each(SECRETS)('masks %j substituted shell-quoted', (secret) => {
    const { command, redact } = rendered('login {{ pw }}', secret);
    expect(redact(command)).toBe('login ********');
  });

  it.each(SECRETS)('masks %j in JSON a host prints', (secret) => {
    const { redact } = rendered('true', secret);
    expect(redact(`{"password":${JSON.stringify(secret)},"ok":true}`)).toBe('{"password":"********","ok":true}');
  });

  it('masks a quoted secret inside a longer single-quoted word', () => {
    const redact = createRedactor([`it's`]);
    expect(redact(`echo 'user=it'\\''s;'`)).toBe(`echo 'user=********;'`);
  });

  it('leaves text without the secret, and a secret with nothing to escape, as before', () => {
    const redact = createRedactor(['plain-tok3n']);
    expect(redact('a "plain-tok3n" and \'plain-tok3n\' and plain-tok3n')).toBe('a "********" and \'********\' and ********');
    expect(redact('pa\\"ss is no secret here')).toBe('pa\\"ss is no secret here');
  });
});
