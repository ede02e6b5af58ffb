/** JSON Schemas generated from the zod schemas, for editors (`# yaml-language-server: $schema=...`). */
import { z } from 'zod';
import { InventorySchema } from './inventory-schema.js';
import { RunbookSchema } from './runbook-schema.js';
import { PlanSchema } from './plan-schema.js';
import { PlanFileSchema } from './plan-file.js';
import { SettingsSchema } from './settings.js';

import { SCHEMA_KINDS, type SchemaKind } from './schema-kinds.js';

export { SCHEMA_KINDS, type SchemaKind };

const SCHEMAS: Record<SchemaKind, { schema: z.ZodType; title: string }> = {
  runbook: { schema: RunbookSchema, title: 'runbook runbook file' },
  inventory: { schema: InventorySchema, title: 'runbook inventory file' },
  plan: { schema: PlanSchema, title: 'runbook plan (planVersion 1)' },
  'plan-file': { schema: PlanFileSchema, title: 'runbook saved plan (runbook plan -o; planFile 1)' },
  settings: { schema: SettingsSchema, title: 'runbook settings (config.yaml, runbook.yaml)' },
};

export function jsonSchema(kind: SchemaKind): Record<string, unknown> {
  const { schema, title } = SCHEMAS[kind];
  return { ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), title };
}

/** The exact text of schemas/<kind>.schema.json. */
export function jsonSchemaText(kind: SchemaKind): string {
  return `${JSON.stringify(jsonSchema(kind), null, 2)}\n`;
}
