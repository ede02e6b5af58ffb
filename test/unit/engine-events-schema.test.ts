import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { runEventSchema } from '../../src/engine/events-schema.js';
import type { RunEvent } from '../../src/engine/events.js';

type RunEventFromSchema = z.infer<typeof runEventSchema>;

describe('event schema', () => {
  it('describes exactly the RunEvent type', () => {
    expectTypeOf<RunEventFromSchema>().toEqualTypeOf<RunEvent>();
  });

  it('rejects unknown fields and bad values', () => {
    const ok = { type: 'approval', time: new Date().toISOString(), runId: 'r', host: 'a', step: 's', decision: 'yes', by: 'me' };
    expect(runEventSchema.safeParse(ok).success).toBe(true);
    expect(runEventSchema.safeParse({ ...ok, extra: 1 }).success).toBe(false);
    expect(runEventSchema.safeParse({ ...ok, decision: 'maybe' }).success).toBe(false);
  });
});
