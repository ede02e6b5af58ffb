import { defineConfig } from 'vitest/config';

// Projects: unit and fuzz tests run in parallel; lab tests share machine-wide resources
// (network namespaces, ports), so they run one file at a time.
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        // The fuzzers (seeded mutations of every shipped runbook and inventory): most of the unit
        // tests' time, so `npm run test:unit` stays quick; npm test and CI run them too.
        extends: true,
        test: { name: 'fuzz', include: ['test/fuzz/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        extends: true,
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // npm run test:matrix: the stand-ins' conformance tests, then the do-no-harm matrix (one lab
        // per profile) and the runbooks' profile-specific cases; one file at a time.
        extends: true,
        test: {
          name: 'matrix',
          include: ['test/conformance/**/*.test.ts', 'test/matrix/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
