// The SHA-256 chaining value of PROTOCOL.md section 4, in the browser: a
// streaming SHA-256 (@noble/hashes, vendored) whose state words H0..H7 are
// read at every chunk boundary and set from the server's `accept.state` to
// resume without reading the prefix again. Also the hex helpers and the
// upload's `source_id`.
import { _SHA256, sha256 } from "./vendor/noble-hashes/sha2.js";

/** 32 bytes (or 8 words) as lowercase hex. */
export function wordsToHex(words) {
  return words.map((w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
}

export function bytesToHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** 64 hex characters as 8 big-endian words; null when malformed. */
export function hexToWords(hex) {
  if (typeof hex !== "string" || !/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const words = [];
  for (let i = 0; i < 64; i += 8) words.push(parseInt(hex.slice(i, i + 8), 16) | 0);
  return words;
}

/** A SHA-256 that exposes its chaining value at 64-byte boundaries. */
export class ChainHasher {
  /** A hash of the empty prefix, or resumed at `offset` from `stateHex`. */
  constructor(offset = 0, stateHex = null) {
    this.h = new _SHA256();
    if (offset % 64 !== 0) throw new Error(`cannot resume SHA-256 at ${offset}`);
    if (stateHex !== null) {
      const words = hexToWords(stateHex);
      if (words === null) throw new Error(`not a chaining value: ${stateHex}`);
      this.h.set(...words);
      this.h.length = offset;
      this.h.pos = 0;
    }
  }

  update(bytes) {
    this.h.update(bytes);
  }

  /** Bytes hashed so far (the resumed prefix included). */
  get length() {
    return this.h.length;
  }

  /** The chaining value (hex); only at a 64-byte boundary. */
  state() {
    if (this.h.pos !== 0) throw new Error(`no chaining value at byte ${this.h.length}`);
    return wordsToHex(this.h.get());
  }

  /** The standard SHA-256 digest (hex) of everything hashed. */
  digest() {
    return bytesToHex(this.h.digest());
  }
}

/** The chaining value of the empty prefix (the SHA-256 IV). */
export const INITIAL_STATE = new ChainHasher().state();

/**
 * A stable `source_id` (PROTOCOL 6.2) for a picked file: the same name,
 * relative path, size and modification time give the same id across
 * reloads, so picking the file again resumes; a changed file gets another.
 */
export function sourceId(relPath, size, lastModified) {
  const text = `wsresume-browser-v1\n${relPath}\n${size}\n${lastModified}`;
  return bytesToHex(sha256(new TextEncoder().encode(text))).slice(0, 32);
}
