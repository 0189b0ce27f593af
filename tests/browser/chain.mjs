// web/chain.js under node, for tests/browser.rs: reads FILE and prints,
// with chunks of C bytes, one line per chunk boundary (`OFFSET STATE`),
// then the digest of a hash resumed at RESUME from its state (`resumed
// DIGEST`) and the straight digest (`digest DIGEST`).
//   node chain.mjs FILE C RESUME
import { readFileSync } from "node:fs";
import { ChainHasher, INITIAL_STATE } from "../../web/chain.js";

const [file, c, resumeAt] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const data = new Uint8Array(readFileSync(file));
const hasher = new ChainHasher();
let resumeState = resumeAt === 0 ? INITIAL_STATE : null;
for (let pos = 0; pos < data.length; pos += c) {
  const end = Math.min(data.length, pos + c);
  // Frames of up to 256 KiB, as the page sends them.
  for (let at = pos; at < end; at += 256 * 1024) hasher.update(data.subarray(at, Math.min(end, at + 256 * 1024)));
  if (end % 64 === 0) {
    const state = hasher.state();
    console.log(`${end} ${state}`);
    if (end === resumeAt) resumeState = state;
  }
}
const resumed = new ChainHasher(resumeAt, resumeState);
resumed.update(data.subarray(resumeAt));
console.log(`resumed ${resumed.digest()}`);
console.log(`digest ${hasher.digest()}`);
