// Checks that a regenerated golden corpus differs from an older one only by the fields trace
// version 2 added: strips `leaves`, `guestLeaves` and a script record's `to` from every trace line
// of NEW (and sets the header's v back to 1), then compares every file byte for byte with OLD.
//   git worktree add /tmp/old <commit before> && node test/golden/strip-leaf-fields.mjs /tmp/old/test/golden test/golden
import fs from 'node:fs';
import path from 'node:path';

const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir || !newDir) {
  console.error('usage: node test/golden/strip-leaf-fields.mjs OLD_CORPUS NEW_CORPUS');
  process.exit(2);
}
const files = (d) => fs.readdirSync(d, { recursive: true }).filter((f) => f.endsWith('.txt')).sort();
const strip = (line) => {
  if (!line.startsWith('{"t":')) return line;
  const r = JSON.parse(line);
  if (r.t === 'header') r.v = 1;
  delete r.leaves;
  delete r.guestLeaves;
  if (r.t === 'script') delete r.to;
  return JSON.stringify(r);
};
let differ = 0;
const names = files(newDir);
for (const f of names) {
  const got = fs.readFileSync(path.join(newDir, f), 'utf8').split('\n').map(strip).join('\n');
  if (got !== fs.readFileSync(path.join(oldDir, f), 'utf8')) {
    differ += 1;
    console.log(`differs: ${f}`);
  }
}
if (files(oldDir).join('\n') !== names.join('\n')) {
  differ += 1;
  console.log('the two corpora have different files');
}
console.log(`${names.length} files, ${differ} differ`);
process.exit(differ > 0 ? 1 : 0);
