// One file uploaded over the wsresume protocol (PROTOCOL.md sections 1-6
// and 9), one WebSocket (`wsresume.v1`) per attempt: `put`, wait for
// `accept`, resume the hash from its `state`, send the bytes from its
// `offset` in frames of at most 256 KiB that never cross a chunk boundary
// (a `chunk` message after every chunk but the last), then `eof` with the
// digest, and wait for `done`. A lost connection is retried with
// exponential backoff and jitter; the server's `accept` says where to go on.
import { ChainHasher, sourceId } from "./chain.js";

const MAX_FRAME = 256 * 1024; // PROTOCOL 2: MAX_DATA_FRAME
const READ_BLOCK = 4 * 1024 * 1024; // bytes read from the file at a time
const HIGH_WATER = 4 * 1024 * 1024; // ws.bufferedAmount before we wait
const CHUNK_SIZE = 1024 * 1024; // proposed C; the server's accept decides
const RETRIES = 10; // attempts in a row without progress
const MAX_DELAY_MS = 30_000;
const STALL_MS = 60_000; // nothing drained or received for this long: dead

/** Codes the protocol says retrying cannot fix (PROTOCOL 9). */
const FATAL = new Set([
  "bad_request", "forbidden", "is_directory", "read_only",
  "not_found", "busy", "superseded", "too_large",
]);

export class UploadError extends Error {
  constructor(message, { fatal = false, auth = false } = {}) {
    super(message);
    this.fatal = fatal;
    this.auth = auth;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The error a close frame without an `error` message stands for. */
function closeError(code, reason) {
  const why = reason ? `: ${reason}` : "";
  if ([1002, 1003, 1007, 1009, 4400].includes(code))
    return new UploadError(`protocol error (close ${code})${why}`, { fatal: true });
  if (code === 4401) return new UploadError(`authentication failed${why}`, { fatal: true, auth: true });
  if ([4403, 4404, 4409, 4413].includes(code))
    return new UploadError(`refused (close ${code})${why}`, { fatal: true });
  return new UploadError(`connection lost (close ${code})${why}`);
}

/** One WebSocket: its messages turned into promises and callbacks. */
class Conn {
  constructor(url, protocols, onAck) {
    this.ws = new WebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    this.failure = null;
    this.waiter = null;
    this.lastActivity = Date.now();
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.openFailed = reject;
    });
    this.opened.catch(() => {});
    this.ws.onmessage = (ev) => this.message(ev, onAck);
    this.ws.onclose = (ev) => this.fail(closeError(ev.code, ev.reason), ev.code);
  }

  fail(error, code = 0) {
    if (this.failure === null) {
      this.failure = error;
      this.closeCode = code;
    }
    this.openFailed(this.failure);
    if (this.waiter) this.waiter.reject(this.failure);
    this.waiter = null;
    if (this.ws.readyState <= 1) this.ws.close();
  }

  message(ev, onAck) {
    this.lastActivity = Date.now();
    let msg;
    try {
      msg = typeof ev.data === "string" ? JSON.parse(ev.data) : null;
    } catch {
      msg = null;
    }
    if (msg === null || typeof msg.type !== "string")
      return this.fail(new UploadError("the server sent something that is not a message", { fatal: true }));
    if (msg.type === "ack") return onAck(msg.offset);
    if (msg.type === "error") {
      const fatal = FATAL.has(msg.code);
      return this.fail(new UploadError(`${msg.code}: ${msg.message}`, { fatal }));
    }
    if (this.waiter && this.waiter.type === msg.type) {
      const waiter = this.waiter;
      this.waiter = null;
      return waiter.resolve(msg);
    }
    this.fail(new UploadError(`unexpected message: ${msg.type}`, { fatal: true }));
  }

  /** The next message, which must be of `type` (others fail the connection). */
  expect(type, timeoutMs) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new UploadError(`no ${type} from the server`)), timeoutMs);
      const done = (f) => (v) => { clearTimeout(timer); f(v); };
      this.waiter = { type, resolve: done(resolve), reject: done(reject) };
    });
  }

  sendJson(obj) {
    this.sendText(JSON.stringify(obj));
  }

  sendText(text) {
    if (this.failure) throw this.failure;
    this.ws.send(text);
  }

  /** Send `bytes`, then wait while the socket holds more than HIGH_WATER. */
  async sendBytes(bytes) {
    if (this.failure) throw this.failure;
    this.ws.send(bytes);
    let last = this.ws.bufferedAmount;
    let since = Date.now();
    while (this.ws.bufferedAmount > HIGH_WATER) {
      await sleep(10);
      if (this.failure) throw this.failure;
      if (this.ws.bufferedAmount !== last) [last, since] = [this.ws.bufferedAmount, Date.now()];
      if (Date.now() - since > STALL_MS) this.fail(new UploadError("the connection stalled"));
    }
  }

  close() {
    if (this.ws.readyState <= 1) this.ws.close(1000, "done");
  }
}

/** The `accept`'s offset and chunk size, checked as PROTOCOL 6 step 3 says. */
function checkAccept(accept, size) {
  const c = accept.chunk_size;
  const okC = Number.isSafeInteger(c) && c >= 4096 && c <= 1 << 30 && c % 4096 === 0;
  const off = accept.offset;
  const okOff = Number.isSafeInteger(off) && off >= 0 && okC && off % c === 0 && (off < size || (off === 0 && size === 0));
  if (!okC || !okOff) throw new UploadError(`the server's accept is not valid: ${JSON.stringify(accept)}`, { fatal: true });
}

/**
 * An upload of `file` to the URL path `target` (percent-encoded).
 * `hooks.onProgress({sent, verified, size, status})`, `hooks.token()` the
 * bearer token or null, `hooks.authOk()` resolves false when the server
 * refuses the token over HTTP.
 */
export class Upload {
  constructor(file, relPath, target, hooks) {
    this.file = file;
    this.target = target;
    this.hooks = hooks;
    this.size = file.size;
    this.sourceId = sourceId(relPath, file.size, file.lastModified);
    this.sent = 0;
    this.verified = 0;
    this.resumedFrom = null;
    this.attempts = 0;
  }

  progress(status) {
    this.hooks.onProgress({ sent: this.sent, verified: this.verified, size: this.size, status });
  }

  /** Upload, retrying lost connections; resolves with the digest. */
  async run() {
    let [failures, delay] = [0, 500];
    for (;;) {
      const before = this.verified;
      try {
        return await this.attempt();
      } catch (e) {
        const error = e instanceof UploadError ? e : new UploadError(String(e && e.message ? e.message : e));
        if (error.fatal) throw error;
        if (this.verified > before) [failures, delay] = [0, 500];
        failures += 1;
        if (failures >= 2 && this.socketOpened !== true && !(await this.hooks.authOk()))
          throw new UploadError("the server refused the token", { fatal: true, auth: true });
        if (failures > RETRIES) throw new UploadError(`gave up after ${RETRIES} attempts without progress: ${error.message}`);
        const wait = Math.round(delay * (0.5 + Math.random() / 2));
        this.progress(`${error.message}; reconnecting in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  }

  /** The `put` message; `mtime_ns` exact (a BigInt: past 2^53). */
  putMessage() {
    const put = { type: "put", path: this.target, size: this.size, chunk_size: CHUNK_SIZE, source_id: this.sourceId };
    const json = JSON.stringify(put);
    const ms = this.file.lastModified;
    if (!Number.isSafeInteger(ms)) return json;
    return `${json.slice(0, -1)},"mtime_ns":${BigInt(ms) * 1_000_000n}}`;
  }

  /** One connection: put, accept, bytes, eof, done. */
  async attempt() {
    this.attempts += 1;
    // Whether this attempt's socket opened: one that never does, twice,
    // may be a token the server no longer takes.
    this.socketOpened = false;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const protocols = ["wsresume.v1"];
    const token = this.hooks.token();
    if (token) protocols.push(`wsresume.bearer.${token}`);
    this.progress(this.attempts === 1 ? "connecting" : "resuming");
    const onAck = (offset) => {
      if (Number.isSafeInteger(offset) && offset > this.verified) this.verified = offset;
      this.progress("uploading");
    };
    let conn;
    try {
      conn = new Conn(`${scheme}//${location.host}${this.target}`, protocols, onAck);
    } catch (e) {
      // A token with characters a subprotocol cannot hold, a bad URL.
      throw new UploadError(`cannot open a WebSocket: ${e.message}`, { fatal: true });
    }
    try {
      await conn.opened;
      this.socketOpened = true;
      if (conn.ws.protocol !== "wsresume.v1")
        throw new UploadError(`the server picked ${conn.ws.protocol || "no protocol"}`, { fatal: true });
      conn.sendText(this.putMessage());
      const accept = await conn.expect("accept", 120_000);
      checkAccept(accept, this.size);
      if (this.resumedFrom === null) this.resumedFrom = accept.offset;
      // The server's word: after a restart it may be less than before.
      this.verified = accept.offset;
      this.sent = accept.offset;
      if (accept.restarted) this.progress(`restarted: ${accept.restarted}`);
      const digest = await this.stream(conn, accept);
      const done = await conn.expect("done", 300_000);
      if (done.sha256 !== digest) throw new UploadError(`the server stored ${done.sha256}, not ${digest}`, { fatal: true });
      this.verified = this.sent = this.size;
      this.progress("done");
      conn.close();
      return digest;
    } catch (e) {
      conn.fail(e instanceof UploadError ? e : new UploadError(String(e)));
      throw conn.failure ?? e;
    }
  }

  /** Send the bytes from the accept's offset, the chunk messages and eof. */
  async stream(conn, accept) {
    const c = accept.chunk_size;
    let hasher;
    try {
      hasher = new ChainHasher(accept.offset, accept.state);
    } catch (e) {
      throw new UploadError(`the server's accept is malformed: ${e.message}`, { fatal: true });
    }
    let pos = accept.offset;
    while (pos < this.size) {
      const chunkEnd = Math.min(this.size, (Math.floor(pos / c) + 1) * c);
      const end = Math.min(chunkEnd, pos + READ_BLOCK);
      const block = new Uint8Array(await this.file.slice(pos, end).arrayBuffer());
      if (block.length !== end - pos) throw new UploadError("the file changed while it was read", { fatal: true });
      for (let at = 0; at < block.length; at += MAX_FRAME) {
        const frame = block.subarray(at, Math.min(block.length, at + MAX_FRAME));
        hasher.update(frame);
        await conn.sendBytes(frame);
        this.sent = pos + at + frame.length - conn.ws.bufferedAmount;
        this.progress("uploading");
      }
      pos = end;
      if (pos === chunkEnd && pos < this.size)
        conn.sendJson({ type: "chunk", index: pos / c - 1, state: hasher.state() });
    }
    const digest = hasher.digest();
    conn.sendJson({ type: "eof", sha256: digest });
    this.sent = this.size;
    this.progress("verifying");
    return digest;
  }
}
