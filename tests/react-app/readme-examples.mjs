// Writes the README's TypeScript examples (the ```ts block after
// `<!-- slotstream.d.ts example -->` and the ```tsx block after
// `<!-- useAvailability example -->`) to readme/, where tsc --strict checks
// them and the app renders the calendar (src/main.tsx, `?readme`).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const readme = fs.readFileSync(path.join(here, '../../README.md'), 'utf8');
const out = path.join(here, 'readme');
fs.mkdirSync(out, { recursive: true });
for (const [marker, lang, file] of [
  ['slotstream.d.ts example', 'ts', 'watch.ts'],
  ['useAvailability example', 'tsx', 'calendar.tsx'],
]) {
  const block = readme.match(new RegExp(`<!-- ${marker} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``));
  if (!block) throw new Error(`README.md has no \`\`\`${lang} block after <!-- ${marker} -->`);
  fs.writeFileSync(path.join(out, file), `// Generated from README.md by readme-examples.mjs: edit the README.\n${block[1]}`);
}
