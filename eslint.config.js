import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.lab/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['test/**', 'bench/**', 'scripts/**', 'bin/**'], rules: { 'no-console': 'off' } },
  // The layers (README, "Layout"): cli may import anything; report and lab import engine,
  // transport and model; engine imports transport and model; transport imports model; model
  // imports none of them.
  ...layer('src/model/**', ['cli', 'report', 'lab', 'engine', 'transport']),
  ...layer('src/transport/**', ['cli', 'report', 'lab', 'engine']),
  ...layer('src/engine/**', ['cli', 'report', 'lab']),
  ...layer('src/report/**', ['cli', 'lab']),
  ...layer('src/lab/**', ['cli', 'report']),
);

/** An ESLint config block that forbids files under `files` to import from the named src/ folders. */
function layer(files, forbidden) {
  const folder = files.split('/')[1];
  return [
    {
      files: [files],
      rules: {
        'no-restricted-imports': [
          'error',
          { patterns: forbidden.map((f) => ({ group: [`**/${f}/*`, `../${f}/*`, `../../${f}/*`], message: `${folder} may not import ${f}: data flows cli -> model -> engine -> transport, with report and lab listening (README, "Layout")` })) },
        ],
      },
    },
  ];
}
