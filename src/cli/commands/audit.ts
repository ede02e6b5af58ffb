import type { Command } from 'commander';

// Placeholder until this command group lands.
export function register(_program: Command): void {}
