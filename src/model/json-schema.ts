/** JSON Schemas generated from the zod schemas, for editors (`# yaml-language-server: $schema=...`). */
import { z } from 'zod';
import { InventorySchema } from './inventory-schema.js';
import { RunbookSchema } from './runbook-schema.js';

export const SCHEMA_KINDS = ['runbook', 'inventory'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];

export function jsonSchema(kind: SchemaKind): Record<string, unknown> {
  const schema = kind === 'runbook' ? RunbookSchema : InventorySchema;
  return {
    ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }),
    title: kind === 'runbook' ? 'runbook runbook file' : 'runbook inventory file',
  };
}

/** The exact text of schemas/<kind>.schema.json. */
export function jsonSchemaText(kind: SchemaKind): string {
  return `${JSON.stringify(jsonSchema(kind), null, 2)}\n`;
}
