/** Var values as written in runbooks and inventories, including secret definitions. */
import { z } from 'zod';

/**
 * `{ secret: true, value | env | file }`. The value is masked as ******** everywhere except in
 * the command sent to the host.
 */
export const SecretDefSchema = z
  .strictObject({
    secret: z.literal(true, { error: 'secret must be true (omit the mapping for a plain value)' }),
    value: z.union([z.string(), z.number()]).optional().describe('The secret itself (prefer env or file)'),
    env: z.string().min(1).optional().describe('Read the secret from this environment variable'),
    file: z.string().min(1).optional().describe('Read the secret from this file (trailing newline dropped); relative to the YAML file'),
  })
  .refine((d) => [d.value, d.env, d.file].filter((x) => x !== undefined).length === 1, {
    error: 'a secret needs exactly one of value, env or file',
  });

export function isSecretDefShape(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && 'secret' in v;
}

const PlainValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.null(),
  z.array(z.unknown()),
  z.record(z.string(), z.unknown()),
]);

/** A map of vars. A mapping with a `secret` key is checked strictly as a secret definition. */
export const VarsSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'var names are letters, digits and _, not starting with a digit'), z.union([SecretDefSchema, PlainValue]))
  .superRefine((vars, ctx) => {
    for (const [name, v] of Object.entries(vars)) {
      if (!isSecretDefShape(v)) continue;
      const r = SecretDefSchema.safeParse(v);
      if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [name, ...issue.path] } as never);
    }
  });
