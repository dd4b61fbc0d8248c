import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';

// The UI's API types must be generated from the current http/openapi.yaml.
test('src/api/schema.ts is up to date (npm run gen)', () => {
  expect(() => execFileSync('node', ['scripts/check-gen.mjs'], { stdio: 'pipe' })).not.toThrow();
}, 30_000);
