// check-gen fails when src/api/schema.ts is not what `npm run gen` makes
// from ../http/openapi.yaml, so the UI's API types cannot drift from the
// contract. Fix with: npm run gen
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'trainyard-gen-'));
try {
  const out = join(dir, 'schema.ts');
  execFileSync(join(web, 'node_modules/.bin/openapi-typescript'), ['../http/openapi.yaml', '-o', out], {
    cwd: web,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const want = readFileSync(out, 'utf8');
  const got = readFileSync(join(web, 'src/api/schema.ts'), 'utf8');
  if (want !== got) {
    console.error('src/api/schema.ts is stale: http/openapi.yaml changed. Run `npm run gen` in web/ and commit the result.');
    process.exit(1);
  }
  console.log('src/api/schema.ts matches http/openapi.yaml');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
