/**
 * `npm run lint` runs this after ESLint: no import cycle anywhere in src/, type-only imports
 * included (a cycle of types is still two modules that cannot be understood one without the
 * other). The layers themselves are ESLint's no-restricted-imports rules (eslint.config.js).
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'modules import each other in a circle: move what both need into a module of its own (README, "Layout")',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
