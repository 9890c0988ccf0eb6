// realtime-msgpack.mjs: the MessagePack hub protocol for realtime.mjs (optional; no dependencies).
//
//   import { MessagePackHubProtocol } from "/static/realtime/realtime-msgpack.mjs";
//   new HubConnectionBuilder().withUrl("/hubs/chat").withHubProtocol(new MessagePackHubProtocol()).build();
//
// Binary transfer format, so it runs over WebSockets and long polling (never Server-Sent Events). Values:
// Uint8Array/ArrayBuffer <-> bin, Date <-> the Timestamp extension (-1), integers beyond 32 bits as int64.

const ERROR = 1;
const VOID = 2;
const RESULT = 3;

export class MessagePackHubProtocol {
  constructor() {
    this.name = "messagepack";
    this.version = 2; // 1 in the handshake unless stateful reconnect was granted
    this.transferFormat = 2; // TransferFormat.Binary
  }

  /** Split a chunk into its length-prefixed messages and decode each. */
  parseMessages(input) {
    const bytes = new Uint8Array(input);
    const messages = [];
    for (let offset = 0; offset < bytes.length; ) {
      let length = 0;
      let shift = 0;
      let byte;
      do {
        if (offset >= bytes.length || shift > 28) throw new Error("Cannot read message size.");
        byte = bytes[offset++];
        length |= (byte & 0x7f) << shift;
        shift += 7;
      } while (byte & 0x80);
      if (offset + length > bytes.length) throw new Error("Incomplete message.");
      const message = toMessage(new Decoder(bytes.subarray(offset, offset + length)).read());
      if (message) messages.push(message);
      offset += length;
    }
    return messages;
  }

  writeMessage(message) {
    const body = encode(toArray(message));
    const prefix = [];
    for (let size = body.length; ; size >>>= 7) {
      if (size < 0x80) {
        prefix.push(size);
        break;
      }
      prefix.push((size & 0x7f) | 0x80);
    }
    const frame = new Uint8Array(prefix.length + body.length);
    frame.set(prefix);
    frame.set(body, prefix.length);
    return frame.buffer;
  }
}

function toMessage(array) {
  const [type, headers] = array;
  const base = { type, headers };
  switch (type) {
    case 1:
    case 4:
      return { ...base, invocationId: array[2] ?? undefined, target: array[3], arguments: array[4], streamIds: array[5] };
    case 2:
      return { ...base, invocationId: array[2], item: array[3] };
    case 3: {
      const completion = { ...base, invocationId: array[2] };
      if (array[3] === ERROR) completion.error = array[4];
      else if (array[3] === RESULT) completion.result = array[4];
      return completion;
    }
    case 5:
      return { ...base, invocationId: array[2] };
    case 6:
      return { type };
    case 7:
      return { type, error: array[1] ?? undefined, allowReconnect: array[2] };
    case 8: // Ack
    case 9: // Sequence
      return { type, sequenceId: array[1] };
    default:
      return null; // unknown types are skipped, as the protocol says
  }
}

function toArray(message) {
  const h = message.headers || {};
  switch (message.type) {
    case 1:
    case 4: {
      const array = [message.type, h, message.invocationId ?? null, message.target, message.arguments];
      return message.streamIds?.length ? [...array, message.streamIds] : array;
    }
    case 2:
      return [2, h, message.invocationId, message.item];
    case 3:
      if (message.error) return [3, h, message.invocationId, ERROR, message.error];
      return "result" in message ? [3, h, message.invocationId, RESULT, message.result] : [3, h, message.invocationId, VOID];
    case 5:
      return [5, h, message.invocationId];
    case 6:
      return [6];
    case 7:
      return [7, message.error ?? null];
    case 8:
    case 9:
      return [message.type, message.sequenceId];
    default:
      throw new Error(`Unexpected message type: ${message.type}`);
  }
}

// --- MessagePack ------------------------------------------------------------------------------------------

function encode(value) {
  const out = [];
  const view = new DataView(new ArrayBuffer(8));
  const bytes = (n) => out.push(...new Uint8Array(view.buffer, 0, n));
  const append = (data) => {
    for (const byte of data) out.push(byte);
  };
  // A length header: the fix format below `fixLimit`, else the 8-bit (if any), 16-bit or 32-bit one.
  const head = (fix, fixLimit, [code8, code16, code32], size) => {
    if (size < fixLimit) out.push(fix | size);
    else if (size < 256 && code8) out.push(code8, size);
    else if (size < 65536) view.setUint16(0, size), out.push(code16), bytes(2);
    else view.setUint32(0, size), out.push(code32), bytes(4);
  };
  const write = (v) => {
    if (v == null) out.push(0xc0);
    else if (v === false || v === true) out.push(v ? 0xc3 : 0xc2);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && v >= -32 && v < 128) out.push(v & 0xff);
      else if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) view.setInt32(0, v), out.push(0xd2), bytes(4);
      else if (Number.isSafeInteger(v)) view.setBigInt64(0, BigInt(v)), out.push(0xd3), bytes(8);
      else view.setFloat64(0, v), out.push(0xcb), bytes(8);
    } else if (typeof v === "string") {
      const utf8 = new TextEncoder().encode(v);
      head(0xa0, 32, [0xd9, 0xda, 0xdb], utf8.length);
      append(utf8);
    } else if (v instanceof Date) {
      const ms = v.getTime();
      const seconds = Math.floor(ms / 1000);
      out.push(0xc7, 12, 0xff); // Timestamp 96: nanoseconds, then seconds
      view.setUint32(0, (ms - seconds * 1000) * 1e6);
      bytes(4);
      view.setBigInt64(0, BigInt(seconds));
      bytes(8);
    } else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      const data = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      head(0, 0, [0xc4, 0xc5, 0xc6], data.length);
      append(data);
    } else if (Array.isArray(v)) {
      head(0x90, 16, [0, 0xdc, 0xdd], v.length);
      v.forEach(write);
    } else {
      const entries = Object.entries(v).filter(([, item]) => item !== undefined);
      head(0x80, 16, [0, 0xde, 0xdf], entries.length);
      for (const [key, item] of entries) write(key), write(item);
    }
  };
  write(value);
  return new Uint8Array(out);
}

class Decoder {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 0;
  }

  take(n) {
    if (this.at + n > this.bytes.length) throw new Error("Incomplete MessagePack value.");
    this.at += n;
    return this.at - n;
  }

  uint(n) {
    const at = this.take(n);
    const view = this.view;
    return n === 1 ? view.getUint8(at) : n === 2 ? view.getUint16(at) : n === 4 ? view.getUint32(at) : Number(view.getBigUint64(at));
  }

  int(n) {
    const at = this.take(n);
    const view = this.view;
    return n === 1 ? view.getInt8(at) : n === 2 ? view.getInt16(at) : n === 4 ? view.getInt32(at) : Number(view.getBigInt64(at));
  }

  str(n) {
    const at = this.take(n);
    return new TextDecoder().decode(this.bytes.subarray(at, at + n));
  }

  bin(n) {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  array(n) {
    return Array.from({ length: n }, () => this.read());
  }

  map(n) {
    const object = {};
    for (let i = 0; i < n; i++) object[this.read()] = this.read();
    return object;
  }

  ext(n) {
    const type = this.int(1);
    const data = this.bin(n);
    if (type !== -1) return data;
    const view = new DataView(data.buffer);
    if (n === 4) return new Date(view.getUint32(0) * 1000);
    if (n === 8) {
      const high = view.getUint32(0);
      return new Date(((high & 3) * 2 ** 32 + view.getUint32(4)) * 1000 + Math.floor((high >>> 2) / 1e6));
    }
    return new Date(Number(view.getBigInt64(4)) * 1000 + Math.floor(view.getUint32(0) / 1e6));
  }

  read() {
    const b = this.uint(1);
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f);
    if (b < 0xa0) return this.array(b & 0x0f);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: case 0xc5: case 0xc6: return this.bin(this.uint(1 << (b - 0xc4)));
      case 0xc7: case 0xc8: case 0xc9: return this.ext(this.uint(1 << (b - 0xc7)));
      case 0xca: return this.view.getFloat32(this.take(4));
      case 0xcb: return this.view.getFloat64(this.take(8));
      case 0xcc: case 0xcd: case 0xce: case 0xcf: return this.uint(1 << (b - 0xcc));
      case 0xd0: case 0xd1: case 0xd2: case 0xd3: return this.int(1 << (b - 0xd0));
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return this.ext(1 << (b - 0xd4));
      case 0xd9: case 0xda: case 0xdb: return this.str(this.uint(1 << (b - 0xd9)));
      case 0xdc: case 0xdd: return this.array(this.uint(2 << (b - 0xdc)));
      case 0xde: case 0xdf: return this.map(this.uint(2 << (b - 0xde)));
      default: throw new Error(`Unknown MessagePack type 0x${b.toString(16)}.`);
    }
  }
}
