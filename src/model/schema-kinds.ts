/** The formats `runbook schema KIND` prints; apart from the schemas so the CLI can list them without loading zod. */
export const SCHEMA_KINDS = ['runbook', 'inventory', 'plan', 'plan-file', 'settings'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];
